-- Hazard areas (issue 14): a cyclone's cone, a tsunami warning's coast, an oil spill. One row
-- per area, drawn by an officer, given on the command line or the API, or read from an OASIS
-- CAP 1.2 alert (one row per CAP info block, found again by its ref on a re-delivery). The
-- service hands the active ones to the analytics as zones of kind 'hazard' (zone_entry
-- alerts); the map draws them and lists the vessels at risk.
CREATE TABLE IF NOT EXISTS hazards (
    id              bigserial   PRIMARY KEY,
    ref             text        UNIQUE,                    -- 'cap:<sender>:<identifier>:<n>'; NULL when drawn
    name            text        NOT NULL CHECK (length(name) BETWEEN 1 AND 500),
    kind            text        NOT NULL DEFAULT 'hazard',
    severity        text        NOT NULL DEFAULT 'high'
                                CHECK (severity IN ('critical', 'high', 'medium', 'low')),
    onset           timestamptz,                            -- NULL: in force from its creation
    expires         timestamptz,                            -- NULL: until ended
    geometry        jsonb       NOT NULL,                   -- GeoJSON Polygon or MultiPolygon, lon/lat
    source          text        NOT NULL,                   -- 'cap', 'geojson', 'drawn', 'cli', 'mqtt:<topic>'
    cap_identifier  text,
    cap_sender      text,
    cap_sent        timestamptz,
    details         jsonb       NOT NULL DEFAULT '{}'::jsonb,  -- CAP's event, urgency, certainty, areas, repairs
    status          text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'ended')),
    created_by      text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    ended_by        text,
    ended_at        timestamptz,
    CHECK (expires IS NULL OR onset IS NULL OR expires > onset)
);
CREATE INDEX IF NOT EXISTS hazards_active_idx ON hazards (expires) WHERE status = 'active';
