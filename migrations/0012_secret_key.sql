-- Secrets at rest (git credentials, webhook secrets, secret addon settings)
-- are sealed in C with a key kept outside the database (DATA_DIR/secret.key
-- or WEBOPS_SECRET_KEY_FILE). This one row holds only the key's fingerprint,
-- so a process holding another key (a second host, a restored data
-- directory) refuses to write secrets instead of mixing two keys.
CREATE TABLE secret_key (
    one         boolean PRIMARY KEY DEFAULT true CHECK (one),
    fingerprint text NOT NULL CHECK (fingerprint ~ '^[0-9a-f]{32}$'),
    created_at  timestamptz NOT NULL DEFAULT now()
);
