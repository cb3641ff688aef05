-- Places learned from the traffic (analytics.places.StopPlaces), kept across restarts of
-- `mda serve`: where vessels stop (anchorages, terminals, queues the zones do not list) and
-- where they pass under way (fairways). One row per vessel, kind and place cell (about
-- 1 nm), with the event time and position of its latest stop or passage there. Rows older
-- than the analytics' memory (stop_place_memory_days) are deleted by the service.
CREATE TABLE IF NOT EXISTS learned_places (
    kind      text             NOT NULL CHECK (kind IN ('stop', 'pass')),
    mmsi      integer          NOT NULL,
    cell_row  integer          NOT NULL,
    cell_col  integer          NOT NULL,
    time      timestamptz      NOT NULL,
    lat       double precision NOT NULL,
    lon       double precision NOT NULL,
    PRIMARY KEY (kind, mmsi, cell_row, cell_col)
);
CREATE INDEX IF NOT EXISTS learned_places_time_idx ON learned_places (time);
