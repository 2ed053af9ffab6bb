-- What addons' notify hooks are told: a queue, like runs. A finished run or
-- a health state change inserts a row in the same transaction that records
-- it, so nothing is told that did not happen and nothing that happened is
-- forgotten when a daemon dies; a notify process of webopsd claims rows with
-- FOR UPDATE SKIP LOCKED and a lease, dispatches the notify event with the
-- row's document, and records the outcome. Runs and checks never wait for it.
CREATE TABLE notifications (
    id            bigserial PRIMARY KEY,
    deployment_id bigint REFERENCES deployments(id) ON DELETE SET NULL,
    deployment    text NOT NULL,
    event         text NOT NULL,
    document      jsonb NOT NULL CHECK (jsonb_typeof(document) = 'object'),
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    claimed_by    text,
    claimed_until timestamptz,
    attempts      integer NOT NULL DEFAULT 0,
    done_at       timestamptz,
    error         text
);
CREATE INDEX notifications_pending ON notifications (id) WHERE done_at IS NULL;

CREATE FUNCTION webops_notifications_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('webops_notifications', '');
    RETURN NULL;
END $$;
CREATE TRIGGER notifications_added AFTER INSERT ON notifications
    FOR EACH STATEMENT EXECUTE FUNCTION webops_notifications_added();

-- A deployment that starts running is due for a check at the end of its
-- start period; when that is now (start period 0), webopsd hears it at once
-- instead of at its next tick.
CREATE OR REPLACE FUNCTION webops_health_track() RETURNS trigger LANGUAGE plpgsql AS $$
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
        IF coalesce((NEW.health->>'start_period_s')::int, 30) = 0 THEN
            PERFORM pg_notify('webops_health', '');
        END IF;
    END IF;
    RETURN NULL;
END $$;
