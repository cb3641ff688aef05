-- Partner sharing (issue 12): the agencies alerts are shared with, their sharing policies,
-- and the share log (store/partners.py, store/shares.py; docs/partners.md).

-- A partner holds API tokens with the role 'partner': outside the viewer < officer <
-- supervisor < admin ladder, such a token reads only what was shared with its partner
-- (/api/partner/...). Disabling the partner revokes its tokens.
ALTER TABLE api_tokens DROP CONSTRAINT IF EXISTS api_tokens_role_check;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_role_check
    CHECK (role IN ('viewer', 'officer', 'supervisor', 'admin', 'receiver', 'partner'));

-- One row per partner agency and its policy: which alerts may go to it (kinds: empty means
-- every kind; the lowest severity; an area, a GeoJSON Polygon or MultiPolygon in lon/lat,
-- NULL meaning anywhere) and whether those go automatically or only when an officer
-- shares them (automatic = false).
CREATE TABLE IF NOT EXISTS partners (
    id            bigserial   PRIMARY KEY,
    name          text        NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9._-]{1,64}$'),
    country       text        NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
    kinds         text[]      NOT NULL DEFAULT '{}',
    min_severity  text        NOT NULL DEFAULT 'low'
                              CHECK (min_severity IN ('critical', 'high', 'medium', 'low')),
    area          jsonb,
    automatic     boolean     NOT NULL DEFAULT true,
    disabled      boolean     NOT NULL DEFAULT false,
    created_by    text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    disabled_by   text,
    disabled_at   timestamptz
);

-- The share log: every alert (and extract) shared with a partner, by hand or by its policy.
-- Append-only: the triggers below refuse UPDATE, DELETE and TRUNCATE. Each row carries
-- prev_sha256, the SHA-256 of the previous row's canonical serialisation (64 zeros for
-- the first), and sha256, its own; `mda share log --verify` recomputes the chain.
CREATE TABLE IF NOT EXISTS share_log (
    id              bigserial   PRIMARY KEY,
    time            timestamptz NOT NULL,
    partner         text        NOT NULL,
    alert_id        bigint      NOT NULL,
    extract_id      bigint,
    extract_sha256  text        CHECK (extract_sha256 ~ '^[0-9a-f]{64}$'),
    mode            text        NOT NULL CHECK (mode IN ('manual', 'automatic')),
    actor           text        NOT NULL,
    via             text        NOT NULL,
    prev_sha256     text        NOT NULL CHECK (prev_sha256 ~ '^[0-9a-f]{64}$'),
    sha256          text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$')
);
CREATE INDEX IF NOT EXISTS share_log_partner_idx ON share_log (partner, alert_id);
CREATE INDEX IF NOT EXISTS share_log_alert_idx ON share_log (alert_id);

CREATE OR REPLACE FUNCTION share_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'share_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

DROP TRIGGER IF EXISTS share_log_no_change ON share_log;
CREATE TRIGGER share_log_no_change BEFORE UPDATE OR DELETE ON share_log
    FOR EACH ROW EXECUTE FUNCTION share_log_append_only();
DROP TRIGGER IF EXISTS share_log_no_truncate ON share_log;
CREATE TRIGGER share_log_no_truncate BEFORE TRUNCATE ON share_log
    FOR EACH STATEMENT EXECUTE FUNCTION share_log_append_only();
