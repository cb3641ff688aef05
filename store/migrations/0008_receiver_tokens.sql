-- Receivers that push their data (POST /api/ingest, see ingest/README.md) hold API tokens
-- with the role 'receiver': outside the viewer < officer < supervisor < admin ladder, such a
-- token may push data and read nothing. Only api_tokens needs it (a receiver is no user,
-- and its token never becomes a session).
ALTER TABLE api_tokens DROP CONSTRAINT IF EXISTS api_tokens_role_check;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_role_check
    CHECK (role IN ('viewer', 'officer', 'supervisor', 'admin', 'receiver'));
