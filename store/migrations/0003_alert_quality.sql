-- Alert quality on real traffic: data-quality notices, and what officers found.
--
-- 1. Severity `info`: a data-quality notice (a lone corrupted fix, one transmitter's
--    garbled copies). Stored like any alert, so it keeps its evidence and history, but it
--    never rings, stays off the desk unless asked for, and `details->>'source'` names the
--    receiver or feed that delivered the bad data.
-- 2. `outcome`: what the officer who closed an alert found, so each rule's false-alarm
--    share can be measured: false_alarm (nothing was there as the rule said: bad data, or
--    the rule misread normal behaviour), confirmed (the situation was real and needed
--    attention), no_action (real as described, but nothing to do: known and legitimate).
--    Kept on the alert (its latest closure) and on every `closed` row of alert_history
--    (each closure, also of an episode that came back and was closed again).

-- The CHECK of 0001 is named by PostgreSQL's convention: alerts_severity_check.
ALTER TABLE alerts DROP CONSTRAINT IF EXISTS alerts_severity_check;
ALTER TABLE alerts ADD CONSTRAINT alerts_severity_check
    CHECK (severity IN ('critical', 'high', 'medium', 'low', 'info'));

ALTER TABLE alerts ADD COLUMN IF NOT EXISTS outcome text
    CONSTRAINT alerts_outcome_check CHECK (outcome IN ('false_alarm', 'confirmed', 'no_action'));
ALTER TABLE alert_history ADD COLUMN IF NOT EXISTS outcome text
    CONSTRAINT alert_history_outcome_check
    CHECK (outcome IN ('false_alarm', 'confirmed', 'no_action'));

-- Notices are counted by source and kind over recent event time (the data-quality view,
-- /metrics, mda status): a partial index keeps that off the desk alerts' rows.
CREATE INDEX IF NOT EXISTS alerts_notices_idx ON alerts (start DESC) WHERE severity = 'info';
-- Closures by time, for the false-alarm share over a window (/metrics, mda status).
CREATE INDEX IF NOT EXISTS alert_history_closed_idx ON alert_history (time)
    WHERE action = 'closed';
