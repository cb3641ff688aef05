-- Incident extracts (exchange/extract.py): every extract made is an audit_log row
-- (action 'extract.alert' or 'extract.area', target 'alert:<id>' or 'area:<box>', the ZIP's
-- SHA-256 in details). The map lists an alert's extracts under it: this index finds them
-- without scanning the log.
CREATE INDEX IF NOT EXISTS audit_log_extracts_idx ON audit_log (target, time DESC)
    WHERE action LIKE 'extract.%';
