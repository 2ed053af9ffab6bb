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
