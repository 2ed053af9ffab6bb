-- Deploy on push: each deployment's webhook secret and the record of every
-- webhook delivery; deployments whose only source is what is pushed to
-- webops; runs that deploy a pushed commit from webops' own repository
-- (source_url) with the trigger 'push'; SSH keys allowed to push.
ALTER TABLE deployments
    ADD COLUMN webhook_secret text,
    ADD COLUMN push_only boolean NOT NULL DEFAULT false;
-- deployments made before this have no secret until `webops deployment
-- webhook NAME` makes one (a secret must come from libsodium, not SQL)

ALTER TABLE runs ADD COLUMN source_url text;
ALTER TABLE runs DROP CONSTRAINT runs_trigger_check;
ALTER TABLE runs ADD CONSTRAINT runs_trigger_check
    CHECK (trigger IN ('cli', 'api', 'web', 'webhook', 'retry', 'push'));

CREATE TABLE webhook_deliveries (
    id            bigserial PRIMARY KEY,
    deployment_id bigint NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    received_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    provider      text NOT NULL,
    event         text,
    delivery_id   text,
    ref           text,
    commit_sha    text,
    verdict       text NOT NULL,   -- queued, ignored, duplicate, ping, rejected
    reason        text NOT NULL,
    run_id        bigint REFERENCES runs(id) ON DELETE SET NULL
);
CREATE INDEX webhook_deliveries_by_deployment ON webhook_deliveries (deployment_id, id DESC);
-- a redelivery of an accepted delivery is recognised by its id
CREATE UNIQUE INDEX webhook_deliveries_once ON webhook_deliveries (deployment_id, provider, delivery_id)
    WHERE delivery_id IS NOT NULL AND verdict IN ('queued', 'ignored', 'ping');

CREATE TABLE ssh_keys (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE
                CHECK (length(name) BETWEEN 1 AND 63 AND name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]*$'),
    key_type    text NOT NULL,
    key_data    text NOT NULL UNIQUE,
    comment     text,
    fingerprint text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
