-- Partners' extracts imported (issue 12): `mda extract import FILE.zip` and
-- POST /api/extracts/import keep a partner's signed incident extract once it verified with
-- the partner's public key (store/imported_extracts.py, exchange/imports.py;
-- docs/extracts.md). Kept apart from our own positions and alerts: the analytics never see
-- them, the map draws them as the partner's.

-- One row per imported ZIP, found again by its SHA-256: the same file imported twice is
-- one row.
CREATE TABLE IF NOT EXISTS imported_extracts (
    id                  bigserial   PRIMARY KEY,
    sha256              text        NOT NULL UNIQUE CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size                bigint      NOT NULL CHECK (size >= 0),
    file_name           text        NOT NULL,
    partner             text        NOT NULL,
    country             text,
    key_fingerprint     text        NOT NULL,
    bag                 text        NOT NULL,
    kind                text        NOT NULL CHECK (kind IN ('alert', 'area')),
    title               text        NOT NULL,
    source_organisation text,
    caveat              text,
    created             timestamptz,
    window_start        timestamptz,
    window_end          timestamptz,
    positions           integer     NOT NULL DEFAULT 0,
    vessels             jsonb       NOT NULL DEFAULT '[]',
    bag_info            jsonb       NOT NULL DEFAULT '{}',
    imported_by         text        NOT NULL,
    imported_role       text,
    imported_via        text        NOT NULL,
    imported_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS imported_extracts_partner_idx
    ON imported_extracts (partner, imported_at DESC);

-- Every fix of tracks.csv, as the extract has it.
CREATE TABLE IF NOT EXISTS imported_extract_positions (
    extract_id  bigint           NOT NULL REFERENCES imported_extracts (id) ON DELETE CASCADE,
    mmsi        bigint           NOT NULL,
    time        timestamptz      NOT NULL,
    lat         double precision NOT NULL,
    lon         double precision NOT NULL,
    sog         real,
    cog         real,
    heading     smallint,
    nav_status  smallint,
    msg_type    smallint,
    source      text
);
CREATE INDEX IF NOT EXISTS imported_extract_positions_idx
    ON imported_extract_positions (extract_id, mmsi, time);

-- The alerts the extract carries (incident.json's alert), as the partner stated them.
CREATE TABLE IF NOT EXISTS imported_extract_alerts (
    extract_id  bigint      NOT NULL REFERENCES imported_extracts (id) ON DELETE CASCADE,
    remote_id   bigint,
    kind        text        NOT NULL,
    severity    text,
    status      text,
    mmsi        bigint,
    other_mmsi  bigint,
    start       timestamptz,
    "end"       timestamptz,
    lat         double precision,
    lon         double precision,
    zone        text,
    text        text,
    record      jsonb       NOT NULL
);
CREATE INDEX IF NOT EXISTS imported_extract_alerts_idx ON imported_extract_alerts (extract_id);
