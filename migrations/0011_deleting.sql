-- A delete is resumable: the deployment is marked 'deleting' before its
-- addons remove what they run, and the record goes only once they did. A
-- delete that stopped halfway (a hook failed, the process was killed) leaves
-- a record that says so, and running the delete again finishes it.
ALTER TABLE deployments DROP CONSTRAINT deployments_status_check;
ALTER TABLE deployments ADD CONSTRAINT deployments_status_check
    CHECK (status IN ('pending', 'building', 'running', 'stopped', 'failed', 'deleting'));
