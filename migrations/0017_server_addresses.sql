-- Where webopsd is reached, as the daemon knows it (its --public-url or
-- WEBOPS_PUBLIC_URL, else its listen address; the SSH user@host[:port] for
-- git pushes, WEBOPS_SSH_HOST or derived from the public URL), written when
-- it starts, so that every CLI on the host prints addresses that work
-- rather than a guessed default.
CREATE TABLE server_addresses (
    key        text PRIMARY KEY CHECK (key IN ('public_url', 'ssh')),
    value      text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
