-- Partners' public keys (issue 12): the Ed25519 public key a partner signs its events and
-- extracts with (PEM, SubjectPublicKeyInfo) and its fingerprint, 'SHA256:' and the hex
-- SHA-256 of the key's DER, as `mda keys show` prints it on the partner's side
-- (store/partners.py, exchange/signing.py; docs/partners.md). A partner without a key has
-- its events refused (exchange/partner_feed.py: reason no-key).
ALTER TABLE partners ADD COLUMN IF NOT EXISTS public_key text;
ALTER TABLE partners ADD COLUMN IF NOT EXISTS key_fingerprint text
    CHECK (key_fingerprint ~ '^SHA256:[0-9a-f]{64}$');
ALTER TABLE partners DROP CONSTRAINT IF EXISTS partners_key_pair_check;
ALTER TABLE partners ADD CONSTRAINT partners_key_pair_check
    CHECK ((public_key IS NULL) = (key_fingerprint IS NULL));
-- One key names one partner: an extract or an event is attributed by its key.
CREATE UNIQUE INDEX IF NOT EXISTS partners_key_fingerprint_idx ON partners (key_fingerprint)
    WHERE key_fingerprint IS NOT NULL;
