-- Partners' alerts in (issue 12, item 6): alerts received on a partner's CloudEvents feed
-- (exchange/partner_feed.py, store/partner_alerts.py; docs/partners.md).

-- A partner's alert is a row of alerts like ours, so that the desk and the map show it,
-- with its origin: the partner's name and the id of the last event applied. Such a row is
-- read-only on our side: acknowledging or closing it is refused (store/alerts.py).
ALTER TABLE alerts ADD COLUMN IF NOT EXISTS origin_partner text;
ALTER TABLE alerts ADD COLUMN IF NOT EXISTS origin_event_id text;
CREATE INDEX IF NOT EXISTS alerts_origin_idx ON alerts (origin_partner)
    WHERE origin_partner IS NOT NULL;

-- Every event received from a partner, by its CloudEvents id: the same event delivered
-- again (QoS 1 redelivery, a replayed spool) is found here and not applied twice.
CREATE TABLE IF NOT EXISTS partner_events (
    partner      text        NOT NULL,
    event_id     text        NOT NULL,
    source       text        NOT NULL,
    alert_id     bigint      REFERENCES alerts (id) ON DELETE CASCADE,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (partner, event_id)
);
