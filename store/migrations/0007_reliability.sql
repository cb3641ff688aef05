-- Reliability and security (issue 13): writes that are stored once however often they are
-- retried, login attempts counted per device as well as per address, and sources whose
-- data retention must keep.

-- Every batch the store writer commits, by the id it was given when it was made. A batch
-- retried after an outage (its commit may have reached the database before the
-- connection died) is skipped when its id is here: each position is stored exactly once.
-- Ids older than a week are deleted by the retention job.
CREATE TABLE IF NOT EXISTS write_batches (
    id         uuid        PRIMARY KEY,
    stored_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS write_batches_stored_idx ON write_batches (stored_at);

-- The browser a login attempt came from, when it showed a valid device cookie for the
-- user name it tried (the SHA-256 of the cookie's id): its failures count against that
-- device only, so an attacker elsewhere cannot lock its owner out (web/login.py).
ALTER TABLE login_attempts ADD COLUMN IF NOT EXISTS device bytea;
CREATE INDEX IF NOT EXISTS login_attempts_device_idx ON login_attempts (device, time DESC)
    WHERE device IS NOT NULL;
CREATE INDEX IF NOT EXISTS login_attempts_time_idx ON login_attempts (time);

-- Sources whose positions and raw sentences the retention job keeps whatever their age:
-- an archive replayed on purpose (`mda ingest --keep`, `keep = true` in a [[sources]]
-- table). `source` is a feed name; its stations (`name/station`) are kept with it.
CREATE TABLE IF NOT EXISTS retention_holds (
    source      text        PRIMARY KEY CHECK (length(source) BETWEEN 1 AND 200),
    reason      text,
    created_by  text        NOT NULL DEFAULT 'cli',
    created_at  timestamptz NOT NULL DEFAULT now()
);
