-- Hazards awaiting confirmation (issue 14, review item 7): a CAP warning from the MQTT feed
-- whose area is larger than hazard_max_area_deg2 (a basin-wide tsunami warning, or a typo in
-- a coordinate) is kept, not dropped, with status 'unconfirmed': the map shows it with a
-- Confirm button for supervisors; it raises no zone_entry alert and is not published to
-- partners until confirmed (status 'active', confirmed_by, confirmed_at; audited
-- hazard.confirm). docs/hazards.md.
ALTER TABLE hazards DROP CONSTRAINT IF EXISTS hazards_status_check;
ALTER TABLE hazards ADD CONSTRAINT hazards_status_check
    CHECK (status IN ('active', 'ended', 'unconfirmed'));
ALTER TABLE hazards ADD COLUMN IF NOT EXISTS confirmed_by text;
ALTER TABLE hazards ADD COLUMN IF NOT EXISTS confirmed_at timestamptz;
-- the CAP identifiers a hazard was known by (an Alert, then its Updates, each with a new
-- identifier): a later Update or Cancel may reference any of them
ALTER TABLE hazards ADD COLUMN IF NOT EXISTS cap_identifiers text[] NOT NULL DEFAULT '{}';
UPDATE hazards SET cap_identifiers = ARRAY[cap_identifier]
    WHERE cap_identifier IS NOT NULL AND cap_identifiers = '{}';
CREATE INDEX IF NOT EXISTS hazards_cap_identifiers_idx ON hazards USING gin (cap_identifiers);
