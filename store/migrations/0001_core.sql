-- mda core schema. These names are a public contract: analysts query them with SQL and
-- Grafana. Change them only by a new migration, never by editing this file.

-- Every position fix, once (de-duplicated across receivers). Event time is the time the
-- receiver heard the message (tag block c:, receiver timestamp), else arrival time.
CREATE TABLE IF NOT EXISTS positions (
    time        timestamptz      NOT NULL,
    mmsi        integer          NOT NULL,
    lat         double precision NOT NULL,
    lon         double precision NOT NULL,
    sog         real,                       -- knots; NULL when not available
    cog         real,                       -- degrees true
    heading     smallint,                   -- degrees true
    nav_status  smallint,                   -- AIS navigational status code
    rot         real,                       -- rate of turn, degrees per minute
    accuracy    boolean,                    -- position accuracy flag (true: better than 10 m)
    msg_type    smallint         NOT NULL,  -- AIS message type (1-3, 18, 19, 27, 4, 21)
    source      text             NOT NULL   -- receiver id that heard it first
);
CREATE INDEX IF NOT EXISTS positions_mmsi_time_idx ON positions (mmsi, time DESC);
-- Rows arrive in time order, so a BRIN index serves time-window scans (hazard areas,
-- retention on plain PostgreSQL) at a fraction of a B-tree's cost on the write path.
CREATE INDEX IF NOT EXISTS positions_time_brin ON positions USING brin (time);

-- The raw sentences as received, for evidence and re-processing. They are stored in chunks
-- (one row per receiver per write batch, the per-line values in parallel arrays), which costs
-- the write path a small fraction of a row per sentence; the raw_sentences view below gives
-- them back one row per sentence.
CREATE TABLE IF NOT EXISTS raw_chunks (
    time       timestamptz        NOT NULL,  -- event time of the earliest sentence
    time_end   timestamptz        NOT NULL,  -- event time of the latest sentence
    source     text               NOT NULL,  -- receiver id
    n          integer            NOT NULL,  -- sentences in the chunk
    ts         double precision[] NOT NULL,  -- event time of each sentence (epoch seconds)
    mmsis      integer[]          NOT NULL,  -- MMSI of each sentence's message (NULL unknown)
    msg_types  smallint[]         NOT NULL,  -- AIS message type of each sentence
    lines      text[]             NOT NULL   -- the sentences as received ($PGHP + its sentence: one)
);
CREATE INDEX IF NOT EXISTS raw_chunks_time_brin ON raw_chunks USING brin (time);
CREATE INDEX IF NOT EXISTS raw_chunks_time_end_brin ON raw_chunks USING brin (time_end);

CREATE OR REPLACE VIEW raw_sentences AS
SELECT to_timestamp(u.ts) AS time, c.source, u.mmsi, u.msg_type, u.line
FROM raw_chunks AS c,
     unnest(c.ts, c.mmsis, c.msg_types, c.lines)
         AS u (ts, mmsi, msg_type, line);

-- The latest state of each vessel: static data (types 5 and 24) and latest position.
CREATE TABLE IF NOT EXISTS vessels (
    mmsi          integer PRIMARY KEY,
    name          text,
    callsign      text,
    imo           integer,
    ship_type     smallint,
    to_bow        smallint,
    to_stern      smallint,
    to_port       smallint,
    to_starboard  smallint,
    draught       real,
    destination   text,
    eta           text,
    static_time   timestamptz,              -- when static data was last reported
    time          timestamptz,              -- latest position's event time
    lat           double precision,
    lon           double precision,
    sog           real,
    cog           real,
    heading       smallint,
    nav_status    smallint,
    msg_type      smallint,
    source        text,
    first_seen    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS vessels_time_idx ON vessels (time DESC);
CREATE INDEX IF NOT EXISTS vessels_name_idx ON vessels (lower(name));
CREATE INDEX IF NOT EXISTS vessels_callsign_idx ON vessels (lower(callsign));

-- Alerts raised by the analytics, with their lifecycle. One row per episode: `key` is the
-- analytics' stable identity of the episode, so a growing episode updates its row.
CREATE TABLE IF NOT EXISTS alerts (
    id               bigserial PRIMARY KEY,
    key              text        NOT NULL UNIQUE,
    kind             text        NOT NULL,
    severity         text        NOT NULL CHECK (severity IN ('critical', 'high', 'medium', 'low')),
    status           text        NOT NULL DEFAULT 'open'
                                 CHECK (status IN ('open', 'acknowledged', 'closed')),
    mmsi             integer,
    other_mmsi       integer,
    start            timestamptz NOT NULL,
    "end"            timestamptz,            -- NULL while the episode goes on
    lat              double precision,
    lon              double precision,
    zone             text,
    details          jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    acknowledged_by  text,
    acknowledged_at  timestamptz,
    closed_by        text,
    closed_at        timestamptz,
    note             text
);
CREATE INDEX IF NOT EXISTS alerts_start_idx ON alerts (start DESC);
CREATE INDEX IF NOT EXISTS alerts_status_idx ON alerts (status, start DESC);
CREATE INDEX IF NOT EXISTS alerts_mmsi_idx ON alerts (mmsi, start DESC);

-- Every change of an alert, by the analytics or by a person: who, what, when.
CREATE TABLE IF NOT EXISTS alert_history (
    id        bigserial PRIMARY KEY,
    alert_id  bigint      NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    time      timestamptz NOT NULL DEFAULT now(),
    action    text        NOT NULL,          -- opened, updated, ended, acknowledged, closed
    actor     text        NOT NULL,          -- 'analytics' or a user name
    note      text,
    details   jsonb
);
CREATE INDEX IF NOT EXISTS alert_history_alert_idx ON alert_history (alert_id, time);

-- Zones the analytics use (built-in and added), as GeoJSON geometry.
CREATE TABLE IF NOT EXISTS zones (
    id          serial PRIMARY KEY,
    name        text   NOT NULL,
    kind        text   NOT NULL,
    direction   real,
    ship_types  smallint[],
    severity    text,
    origin      text   NOT NULL DEFAULT 'builtin',   -- 'builtin' or the file it came from
    geometry    jsonb  NOT NULL,
    properties  jsonb  NOT NULL DEFAULT '{}'::jsonb,
    UNIQUE (name, kind)
);
