-- The deploy queue: a run is a row; workers claim rows with
-- FOR UPDATE SKIP LOCKED and wake on NOTIFY webops_runs. Run logs are rows
-- appended as they happen. Per-deployment credentials are kept apart from
-- the deployment record so they are never printed with it.
CREATE TABLE runs (
    id               bigserial PRIMARY KEY,
    deployment_id    bigint NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    trigger          text NOT NULL CHECK (trigger IN ('cli', 'api', 'web', 'webhook', 'retry')),
    requested_ref    text,
    commit_sha       text,
    commit_subject   text,
    commit_author    text,
    status           text NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'superseded')),
    stage            text,
    stage_timings    jsonb NOT NULL DEFAULT '{}'::jsonb,
    error            text,
    outputs          jsonb NOT NULL DEFAULT '{}'::jsonb,
    hooks            jsonb NOT NULL DEFAULT '[]'::jsonb,
    worker           text,
    heartbeat_at     timestamptz,
    cancel_requested boolean NOT NULL DEFAULT false,
    queued_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    started_at       timestamptz,
    finished_at      timestamptz
);
CREATE INDEX runs_queued ON runs (deployment_id, id) WHERE status = 'queued';
CREATE INDEX runs_by_deployment ON runs (deployment_id, id DESC);
-- at most one active run per deployment, whatever the number of daemons
CREATE UNIQUE INDEX runs_one_running ON runs (deployment_id) WHERE status = 'running';

CREATE TABLE run_logs (
    run_id  bigint NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    seq     integer NOT NULL,
    at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    stream  text NOT NULL,
    text    text NOT NULL,
    PRIMARY KEY (run_id, seq)
);

ALTER TABLE deployments
    ADD COLUMN current_commit text,
    ADD COLUMN current_run_id bigint;

CREATE TABLE deployment_credentials (
    deployment_id   bigint PRIMARY KEY REFERENCES deployments(id) ON DELETE CASCADE,
    https_username  text,
    https_token     text,
    ssh_username    text,
    ssh_private_key text,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
