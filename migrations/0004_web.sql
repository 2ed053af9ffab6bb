-- The front door: people (users with argon2id password hashes), their
-- browser sessions and API tokens (both stored only as SHA-256 hashes), the
-- one-time setup link, and failed-login counters for throttling. Run-log
-- inserts and run status changes NOTIFY webops_run_log so log streams are
-- live without polling.
CREATE TABLE users (
    id            bigserial PRIMARY KEY,
    name          text NOT NULL UNIQUE
                  CHECK (length(name) BETWEEN 1 AND 63 AND name ~ '^[a-z][a-z0-9_.-]*$'),
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sessions (
    id           bigserial PRIMARY KEY,
    id_hash      bytea NOT NULL UNIQUE,
    user_id      bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    user_agent   text,
    address      text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sessions_by_user ON sessions (user_id);

CREATE TABLE api_tokens (
    id           bigserial PRIMARY KEY,
    name         text NOT NULL UNIQUE
                 CHECK (length(name) BETWEEN 1 AND 63 AND name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]*$'),
    token_hash   bytea NOT NULL UNIQUE,
    user_id      bigint REFERENCES users(id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    last_used_at timestamptz
);

CREATE TABLE setup_tokens (
    token_hash bytea PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- key: 'name:<user name>' or 'addr:<address>'
CREATE TABLE login_failures (
    key        text PRIMARY KEY,
    failures   integer NOT NULL DEFAULT 0,
    first_at   timestamptz NOT NULL DEFAULT now(),
    last_at    timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION webops_notify_run_log() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- identical payloads within one transaction are delivered once
    PERFORM pg_notify('webops_run_log', NEW.run_id::text);
    RETURN NULL;
END $$;
CREATE TRIGGER run_logs_notify AFTER INSERT ON run_logs
    FOR EACH ROW EXECUTE FUNCTION webops_notify_run_log();

CREATE FUNCTION webops_notify_run_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('webops_run_log', NEW.id::text);
    RETURN NULL;
END $$;
CREATE TRIGGER runs_status_notify AFTER UPDATE OF status ON runs
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION webops_notify_run_status();
