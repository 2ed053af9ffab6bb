-- Deployments: a git repository and its settings. Addon-declared fields live
-- in addon_fields, an object keyed by addon name ({"docker": {"use_docker": true}}).
CREATE TABLE deployments (
    id           bigserial PRIMARY KEY,
    name         text NOT NULL UNIQUE
                 CHECK (length(name) BETWEEN 1 AND 63 AND name ~ '^[a-z]([a-z0-9-]*[a-z0-9])?$'),
    repo_url     text NOT NULL CHECK (repo_url <> ''),
    branch       text NOT NULL DEFAULT 'main',
    domain       text,
    port         integer UNIQUE CHECK (port BETWEEN 1 AND 65535),
    env_vars     jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(env_vars) = 'object'),
    status       text NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'building', 'running', 'stopped', 'failed')),
    addon_fields jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(addon_fields) = 'object'),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
