-- Releases: every successful deploy records one, numbered per deployment
-- from 1, with what its hooks published (the docker addon: the image id, the
-- generated Dockerfile, the start command), so that a rollback can run a
-- kept release again without a build. A rollback is a run with trigger
-- 'rollback' naming the release it runs again (runs.release_number); it
-- records a release of its own (rollback_of). A deployment that succeeded
-- but that no runtime addon runs is 'deployed' (fetched; nothing runs it).
CREATE TABLE releases (
    deployment_id  bigint NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    number         integer NOT NULL CHECK (number > 0),
    run_id         bigint REFERENCES runs(id) ON DELETE SET NULL,
    commit_sha     text,
    commit_subject text,
    outputs        jsonb NOT NULL DEFAULT '{}'::jsonb,
    rollback_of    integer,
    created_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (deployment_id, number)
);

ALTER TABLE runs ADD COLUMN release_number integer;
ALTER TABLE runs DROP CONSTRAINT runs_trigger_check;
ALTER TABLE runs ADD CONSTRAINT runs_trigger_check
    CHECK (trigger IN ('cli', 'api', 'web', 'webhook', 'retry', 'push', 'rollback'));

ALTER TABLE deployments DROP CONSTRAINT deployments_status_check;
ALTER TABLE deployments ADD CONSTRAINT deployments_status_check
    CHECK (status IN ('pending', 'building', 'running', 'deployed', 'stopped', 'failed', 'deleting'));

-- the deploys that succeeded before releases were recorded
INSERT INTO releases (deployment_id, number, run_id, commit_sha, commit_subject, outputs, created_at)
SELECT deployment_id, row_number() OVER (PARTITION BY deployment_id ORDER BY id), id, commit_sha,
       commit_subject, outputs, coalesce(finished_at, queued_at)
  FROM runs WHERE status = 'succeeded';
