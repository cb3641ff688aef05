-- mda web authentication and audit (owned by web/; see web/README.md).
--
-- Roles, lowest to highest: viewer (read only: partner agencies, wall displays, scripts),
-- officer (viewer + acknowledge and close alerts), supervisor (officer + read the audit
-- log and the list of users), admin (supervisor + manage users and tokens).

-- People who log in with a name and a password (argon2id hash, never the password).
CREATE TABLE IF NOT EXISTS users (
    id             bigserial   PRIMARY KEY,
    name           text        NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9._@-]{1,64}$'),
    password_hash  text        NOT NULL,
    role           text        NOT NULL CHECK (role IN ('viewer', 'officer', 'supervisor', 'admin')),
    disabled       boolean     NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- API bearer tokens for scripts and the one-click login link. Only the SHA-256 of the
-- token is kept: a database dump does not give anyone a working token.
CREATE TABLE IF NOT EXISTS api_tokens (
    id            bigserial   PRIMARY KEY,
    token_sha256  bytea       NOT NULL UNIQUE CHECK (length(token_sha256) = 32),
    owner         text        NOT NULL,            -- a user's name, or a label ('demo', 'script')
    user_id       bigint      REFERENCES users (id) ON DELETE CASCADE,
    role          text        NOT NULL CHECK (role IN ('viewer', 'officer', 'supervisor', 'admin')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz,                     -- NULL: does not expire
    revoked_at    timestamptz,
    last_used_at  timestamptz
);

-- Browser sessions, kept server-side so that logging out, disabling a user or revoking
-- the token a session came from ends it at once. The cookie carries the session id
-- (signed); the table keeps only its SHA-256.
CREATE TABLE IF NOT EXISTS sessions (
    id_sha256     bytea       PRIMARY KEY CHECK (length(id_sha256) = 32),
    principal     text        NOT NULL,            -- the name shown and audited
    role          text        NOT NULL CHECK (role IN ('viewer', 'officer', 'supervisor', 'admin')),
    user_id       bigint      REFERENCES users (id) ON DELETE CASCADE,
    token_id      bigint      REFERENCES api_tokens (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    ip            text,
    user_agent    text
);
CREATE INDEX IF NOT EXISTS sessions_expires_idx ON sessions (expires_at);

-- Every login attempt, for the per-user and per-address rate limits and for review.
CREATE TABLE IF NOT EXISTS login_attempts (
    id        bigserial   PRIMARY KEY,
    time      timestamptz NOT NULL DEFAULT now(),
    username  text,
    ip        text,
    success   boolean     NOT NULL
);
CREATE INDEX IF NOT EXISTS login_attempts_user_idx ON login_attempts (lower(username), time DESC);
CREATE INDEX IF NOT EXISTS login_attempts_ip_idx ON login_attempts (ip, time DESC);

-- Who did what, when: every state change made through the web or the CLI.
CREATE TABLE IF NOT EXISTS audit_log (
    id       bigserial   PRIMARY KEY,
    time     timestamptz NOT NULL DEFAULT now(),
    actor    text        NOT NULL,                 -- user or token owner; 'cli' for the shell
    role     text,
    via      text        NOT NULL,                 -- session, token, cli, login
    action   text        NOT NULL,                 -- e.g. alert.acknowledge, user.create, login.failure
    target   text,                                 -- e.g. alert:42, user:alice
    ip       text,
    details  jsonb       NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX IF NOT EXISTS audit_log_time_idx ON audit_log (time DESC);
CREATE INDEX IF NOT EXISTS audit_log_actor_idx ON audit_log (actor, time DESC);
