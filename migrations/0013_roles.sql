-- Who may do what (docs/SECURITY.md). Users have a role: admin (everything),
-- member (creates deployments, acts on those it owns or that were shared with
-- it), viewer (reads what was shared with it). A deployment has an owner
-- (NULL: made on the host by the CLI, for admins) and shares. An API token
-- has a scope (read, deploy, manage) and may be limited to deployments; it
-- never exceeds its owner's role.
ALTER TABLE users
    ADD COLUMN role text NOT NULL DEFAULT 'member' CHECK (role IN ('admin', 'member', 'viewer'));

-- Until now every account could do everything: the first user keeps that as
-- an admin; the others become members and keep access to every deployment
-- that exists now through a share (new deployments are their creator's).
UPDATE users SET role = 'admin' WHERE id = (SELECT min(id) FROM users);

ALTER TABLE deployments
    ADD COLUMN owner_id bigint REFERENCES users(id) ON DELETE SET NULL;
CREATE INDEX deployments_by_owner ON deployments (owner_id);

CREATE TABLE deployment_shares (
    deployment_id bigint NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    user_id       bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role          text NOT NULL CHECK (role IN ('member', 'viewer')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (deployment_id, user_id)
);
CREATE INDEX deployment_shares_by_user ON deployment_shares (user_id);

INSERT INTO deployment_shares (deployment_id, user_id, role)
    SELECT d.id, u.id, 'member' FROM deployments d CROSS JOIN users u WHERE u.role = 'member';

ALTER TABLE api_tokens
    ADD COLUMN scope text NOT NULL DEFAULT 'manage' CHECK (scope IN ('read', 'deploy', 'manage')),
    ADD COLUMN limited boolean NOT NULL DEFAULT false;

-- a limited token acts on these deployments only (on none once they are
-- all deleted: the rows go, the flag stays)
CREATE TABLE api_token_deployments (
    token_id      bigint NOT NULL REFERENCES api_tokens(id) ON DELETE CASCADE,
    deployment_id bigint NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    PRIMARY KEY (token_id, deployment_id)
);

-- an SSH key of a user pushes with that user's rights; a key of no user
-- was added on the host by its operator (admin)
ALTER TABLE ssh_keys
    ADD COLUMN user_id bigint REFERENCES users(id) ON DELETE CASCADE;

-- a stored git credential is used only for the origin (scheme://host:port)
-- of the repo_url it was stored with (core/util/url.c wo_url_origin). The
-- ones stored before are bound to their deployment's present repo_url where
-- it has a plain form; the others are not used until stored again.
ALTER TABLE deployment_credentials ADD COLUMN bound_url text;
UPDATE deployment_credentials c SET bound_url = o.origin
FROM (
    SELECT d.id, CASE
        WHEN u[1] IS NOT NULL THEN
            CASE WHEN lower(u[1]) IN ('ssh+git', 'git+ssh') THEN 'ssh' ELSE lower(u[1]) END
            || '://' || lower(u[2]) || ':' || coalesce(u[3],
                CASE lower(u[1]) WHEN 'https' THEN '443' WHEN 'http' THEN '80' WHEN 'git' THEN '9418' ELSE '22' END)
        WHEN s[1] IS NOT NULL THEN 'ssh://' || lower(s[1]) || ':22'
    END AS origin
    FROM deployments d
    LEFT JOIN LATERAL regexp_match(d.repo_url, '^(https?|ssh|ssh\+git|git\+ssh|git)://(?:[^@/]*@)?([^:/@\[\]]+)(?::([0-9]{1,5}))?(?:[/?#]|$)', 'i') u ON true
    LEFT JOIN LATERAL regexp_match(d.repo_url, '^(?:[^@/:]+@)?([^:/@]+):') s ON d.repo_url !~ '://'
) o WHERE o.id = c.deployment_id;
