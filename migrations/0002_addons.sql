-- Addons seen in the addons path: the enabled flag (new addons are enabled),
-- where and what was loaded, settings set with `webops addon config`, and
-- hook metrics. Rows are kept when an addon disappears from disk.
CREATE TABLE addons (
    name             text PRIMARY KEY
                     CHECK (length(name) BETWEEN 1 AND 63 AND name ~ '^[a-z][a-z0-9_-]*$'),
    enabled          boolean NOT NULL DEFAULT true,
    version          text,
    path             text,
    load_error       text,
    settings         jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(settings) = 'object'),
    success_count    bigint NOT NULL DEFAULT 0,
    failure_count    bigint NOT NULL DEFAULT 0,
    last_run_at      timestamptz,
    last_duration_ms bigint,
    last_error       text,
    first_seen_at    timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
