-- Warnings to partners (issue 14, item 3): what was sent for each hazard, and hazards in the
-- share log (exchange/hazard_feed.py, store/hazard_messages.py, store/shares.py;
-- docs/hazards.md).

-- Every message sent for a hazard on mda/v1/hazards/<id> (the CloudEvent) and
-- mda/v1/hazards/<id>/cap (the CAP 1.2 alert): an Alert when it comes into force, an Update
-- referencing the earlier ones when it changes, a Cancel when it ends, is deleted or
-- expires. A hazard whose last message is not a Cancel is still out there: the service sends
-- its Cancel when it finds it no longer in force, also at the first sync after a restart (a
-- hazard that ended while the service was stopped). No foreign key: the messages of a
-- deleted hazard stay, its Cancel repeats the area they carried.
CREATE TABLE IF NOT EXISTS hazard_messages (
    id          bigserial   PRIMARY KEY,
    hazard_id   bigint      NOT NULL,
    version     timestamptz,                -- the hazard's updated_at it carries; NULL: a Cancel
    msg_type    text        NOT NULL CHECK (msg_type IN ('Alert', 'Update', 'Cancel')),
    identifier  text        NOT NULL UNIQUE, -- the CAP identifier
    sender      text        NOT NULL,
    sent        timestamptz NOT NULL,
    event_id    text        NOT NULL,       -- the CloudEvent's id
    hazard      jsonb       NOT NULL,       -- the hazard as sent: a GeoJSON Feature
    cap         text        NOT NULL,       -- the CAP 1.2 XML as sent
    event       jsonb       NOT NULL        -- the CloudEvent as sent
);
CREATE INDEX IF NOT EXISTS hazard_messages_hazard_idx ON hazard_messages (hazard_id, id);

-- A share log row is an alert or a hazard shared with a partner. The hash of an alert's row
-- is unchanged (hazard_id enters the canonical serialisation only when it is set), so the
-- chain of rows written before this migration still verifies.
ALTER TABLE share_log ADD COLUMN IF NOT EXISTS hazard_id bigint;
ALTER TABLE share_log ALTER COLUMN alert_id DROP NOT NULL;
ALTER TABLE share_log DROP CONSTRAINT IF EXISTS share_log_one_target;
ALTER TABLE share_log ADD CONSTRAINT share_log_one_target
    CHECK ((alert_id IS NULL) <> (hazard_id IS NULL));
CREATE INDEX IF NOT EXISTS share_log_hazard_idx ON share_log (hazard_id, partner)
    WHERE hazard_id IS NOT NULL;
