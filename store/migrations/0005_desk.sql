-- The watch officer's desk (issue 17): watch lists of vessels of interest, rule
-- suspensions per vessel or area, and notes on vessels and alerts. Every change made here
-- by a person is also in audit_log (store/desk.py writes both in one transaction).

-- Lists of vessels of interest. An entry names a vessel by any of MMSI, IMO, name or call
-- sign (at least one), with the reason it is watched and who added it.
CREATE TABLE IF NOT EXISTS watchlists (
    id          bigserial   PRIMARY KEY,
    name        text        NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100),
    description text,
    created_by  text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS watchlist_entries (
    id          bigserial   PRIMARY KEY,
    list_id     bigint      NOT NULL REFERENCES watchlists (id) ON DELETE CASCADE,
    mmsi        integer,
    imo         integer,
    name        text,
    callsign    text,
    reason      text        NOT NULL,
    added_by    text        NOT NULL,
    added_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (mmsi IS NOT NULL OR imo IS NOT NULL OR name IS NOT NULL OR callsign IS NOT NULL)
);
CREATE INDEX IF NOT EXISTS watchlist_entries_list_idx ON watchlist_entries (list_id);

-- A rule (alert kind) suspended for one vessel or for an area (a lon/lat box) for a
-- period, with a reason. In force from `start` until `until`, unless lifted earlier.
CREATE TABLE IF NOT EXISTS suspensions (
    id          bigserial   PRIMARY KEY,
    kind        text        NOT NULL,
    mmsi        integer,
    min_lon     double precision,
    min_lat     double precision,
    max_lon     double precision,
    max_lat     double precision,
    reason      text        NOT NULL,
    start       timestamptz NOT NULL DEFAULT now(),
    until       timestamptz NOT NULL,
    created_by  text        NOT NULL,
    lifted_by   text,
    lifted_at   timestamptz,
    CHECK (mmsi IS NOT NULL OR (min_lon IS NOT NULL AND min_lat IS NOT NULL
                                AND max_lon IS NOT NULL AND max_lat IS NOT NULL)),
    CHECK (until > start)
);
CREATE INDEX IF NOT EXISTS suspensions_until_idx ON suspensions (until) WHERE lifted_at IS NULL;

-- Notes left by officers on a vessel or an alert (or both).
CREATE TABLE IF NOT EXISTS notes (
    id          bigserial   PRIMARY KEY,
    mmsi        integer,
    alert_id    bigint      REFERENCES alerts (id) ON DELETE CASCADE,
    text        text        NOT NULL CHECK (length(text) BETWEEN 1 AND 4000),
    author      text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (mmsi IS NOT NULL OR alert_id IS NOT NULL)
);
CREATE INDEX IF NOT EXISTS notes_mmsi_idx ON notes (mmsi, created_at DESC);
CREATE INDEX IF NOT EXISTS notes_alert_idx ON notes (alert_id, created_at DESC);
CREATE INDEX IF NOT EXISTS notes_time_idx ON notes (created_at);
-- The shift handover reads the history of a period.
CREATE INDEX IF NOT EXISTS alert_history_time_idx ON alert_history (time);
