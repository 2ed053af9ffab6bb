-- Periodic health checks. A deployment's health settings live in its record
-- (deployments.health: interval_s, timeout_s, retries, start_period_s and an
-- optional HTTP probe: path, status, body). What the scheduler knows lives in
-- health_state, one row per deployment: the current state, the streak of
-- counted failures, when the next check is due and who holds the lease of a
-- check in progress (several daemons share one database; a check is claimed
-- with FOR UPDATE SKIP LOCKED and a lease, as runs are). Each check is a row
-- of health_checks, kept raw for a while (setting) and rolled up per hour in
-- health_hourly beyond that; state changes and restarts are health_events.
ALTER TABLE deployments
    ADD COLUMN health jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(health) = 'object');

CREATE TABLE health_state (
    deployment_id   bigint PRIMARY KEY REFERENCES deployments(id) ON DELETE CASCADE,
    state           text NOT NULL DEFAULT 'unknown'
                    CHECK (state IN ('unknown', 'pending', 'healthy', 'unhealthy')),
    since           timestamptz NOT NULL DEFAULT clock_timestamp(),
    failures        integer NOT NULL DEFAULT 0,  -- consecutive counted failures
    reason          text,                        -- why the last check failed, NULL when it passed
    last_check_at   timestamptz,
    next_check_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    grace_until     timestamptz,                 -- start period: failures before this do not count
    lease_owner     text,
    lease_until     timestamptz,
    restart_at      timestamptz,                 -- the next automatic restart is not before this
    restart_backoff_s integer NOT NULL DEFAULT 0,
    gave_up         boolean NOT NULL DEFAULT false -- restart cap reached; left alone until it recovers
);
CREATE INDEX health_state_due ON health_state (next_check_at);

INSERT INTO health_state (deployment_id, grace_until)
    SELECT id, clock_timestamp() FROM deployments;

-- every deployment has its row; a deploy or start (status becoming running,
-- or a new release) opens the start period again
CREATE FUNCTION webops_health_track() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO health_state (deployment_id) VALUES (NEW.id);
    ELSIF NEW.status = 'running' AND (OLD.status IS DISTINCT FROM 'running'
                                      OR NEW.current_run_id IS DISTINCT FROM OLD.current_run_id) THEN
        UPDATE health_state
           SET grace_until = clock_timestamp()
                             + make_interval(secs => coalesce((NEW.health->>'start_period_s')::int, 30)),
               failures = 0,
               next_check_at = clock_timestamp()
                             + make_interval(secs => coalesce((NEW.health->>'start_period_s')::int, 30)
                                                     * random() * 0.2)
         WHERE deployment_id = NEW.id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER deployments_health AFTER INSERT OR UPDATE OF status, current_run_id ON deployments
    FOR EACH ROW EXECUTE FUNCTION webops_health_track();

CREATE TABLE health_checks (
    id            bigserial PRIMARY KEY,
    deployment_id bigint NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    at            timestamptz NOT NULL DEFAULT clock_timestamp(),
    ok            boolean NOT NULL,
    counted       boolean NOT NULL DEFAULT true, -- false: failed within the start period
    latency_ms    integer NOT NULL,
    failed        text,      -- what failed: "probe" or "addon NAME"
    reason        text,
    cpu_percent   real,      -- resource usage, when an addon reports it
    memory_bytes  bigint,
    details       jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX health_checks_by_deployment ON health_checks (deployment_id, at DESC);
CREATE INDEX health_checks_at ON health_checks (at);

CREATE TABLE health_hourly (
    deployment_id  bigint NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    hour           timestamptz NOT NULL,
    checks         integer NOT NULL,
    failures       integer NOT NULL,
    latency_avg_ms real,
    latency_max_ms integer,
    cpu_avg        real,
    memory_avg     bigint,
    PRIMARY KEY (deployment_id, hour)
);

CREATE TABLE health_events (
    id            bigserial PRIMARY KEY,
    deployment_id bigint NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    at            timestamptz NOT NULL DEFAULT clock_timestamp(),
    kind          text NOT NULL CHECK (kind IN ('state', 'restart', 'restart_failed', 'gave_up')),
    previous      text,
    state         text,
    reason        text,
    check_id      bigint
);
CREATE INDEX health_events_by_deployment ON health_events (deployment_id, id DESC);
CREATE INDEX health_events_restarts ON health_events (deployment_id, at) WHERE kind = 'restart';

-- the HTTP process caches the deployments list (health badges included)
CREATE TRIGGER health_state_changed AFTER UPDATE OF state ON health_state
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state) EXECUTE FUNCTION webops_notify_change();
