-- What each addon last said of its own state (its `status` hook: the docker
-- addon's engine running, unconfigured or failed, with the engine's
-- version, storage driver...), refreshed by webopsd every minute and by
-- `webops addon status`; shown on the Addons page and in /metrics.
ALTER TABLE addons ADD COLUMN status jsonb, ADD COLUMN status_at timestamptz;
