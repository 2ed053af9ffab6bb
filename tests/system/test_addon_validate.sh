#!/usr/bin/env bash
# Addons validate deployments when they are stored, from every entry point:
# a `validate` hook's semantic rule refuses a record in the CLI (create and
# update) and over HTTP (422), naming the field, and nothing is written; a
# crashing validate hook refuses too, naming the addon.
. "$(dirname "$0")/lib.sh"
test_setup 'the deployment and what it needs' <<'EOT'
need_db
export WEBOPS_DATABASE_URL=$(new_db)
export WEBOPS_DATA_DIR=$T/data
export WEBOPS_ADDONS_PATH=$(addons_dir vtest healthtest)
q() { psql -qAtX "$WEBOPS_DATABASE_URL" -c "$1"; }

expect 1 "create refused by the addon's rule" -- "$W" deployment create app --repo https://example.com/a.git --set vtest_path=/etc/x
contains "names the field and the rule" "$ERR" "vtest_path: '/etc/x' is outside the allowed roots; use a path under /srv"
[ "$(q "SELECT count(*) FROM deployments")" = 0 ] && ok "nothing written" || bad "a row was written"
expect 0 "a good value is stored" -- "$W" deployment create app --repo https://example.com/a.git --set vtest_path=/srv/app
expect 1 "update refused by the addon's rule" -- "$W" deployment update app --set vtest_path=/etc/passwd
contains "update names the field" "$ERR" "vtest_path: '/etc/passwd' is outside"
expect 0 "the stored value is unchanged" -- q "SELECT addon_fields->'vtest'->>'vtest_path' FROM deployments WHERE name = 'app'"
[ "$OUT" = /srv/app ] && ok "still /srv/app" || bad "stored: $OUT"
expect 1 "a crashing validate hook refuses" -- "$W" deployment update app --set vtest_path=crash
contains "names the addon and the crash" "$ERR" "addon 'vtest' hook 'validate'"
echo '{"name": "x", "repo_url": "https://e.com/x.git", "addon_fields": {"vtest": {"vtest_path": "/etc"}}}' >"$T/rec.json"
expect 1 "deployment validate (for programs)" -- sh -c "'$W' deployment validate <'$T/rec.json'"
contains "prints the problem" "$OUT" "vtest_path: '/etc' is outside"
EOT

test_expect_success 'hooks see the fields of enabled addons only: a disabled addon'\''s stored values stay stored but are not shown (another...' <<'EOT'
# hooks see the fields of enabled addons only: a disabled addon's stored
# values stay stored but are not shown (another addon could take them for
# that addon being at work)
export WEBOPS_HEALTHTEST_DIR=$T
expect 0 "a hook sees vtest's field while vtest is enabled" -- "$W" hook run notify app --data '{"event": "run.failed"}'
contains "...it is there" "$(cat "$T/deployment.json")" '"vtest":{"vtest_path":"/srv/app"}'
expect 0 "disable vtest" -- "$W" addon disable vtest
expect 0 "the same hook once vtest is disabled" -- "$W" hook run notify app --data '{"event": "run.failed"}'
[[ "$(cat "$T/deployment.json")" != *vtest* ]] && ok "...a disabled addon's fields are not shown to hooks" || bad "seen: $(cat "$T/deployment.json")"
expect 0 "the stored value is still there" -- q "SELECT addon_fields->'vtest'->>'vtest_path' FROM deployments WHERE name = 'app'"
[ "$OUT" = /srv/other ] || [ "$OUT" = /srv/app ] && ok "stored values of a disabled addon are kept" || bad "stored: $OUT"
"$W" addon enable vtest >/dev/null
EOT

test_expect_success 'over HTTP: the HTTP process asks `webops deployment validate`' <<'EOT'
start_daemon --workers 1 || exit 1
BASE=$(sed -n 's/.*http: listening on \(http:[^ ]*\).*/\1/p' "$T/webopsd.log" | head -1)
TOKEN=$("$W" token create vt)
code=$(curl -s -o "$T/api.out" -w '%{http_code}' -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  --data '{"name": "web", "repo_url": "https://example.com/w.git", "addon_fields": {"vtest": {"vtest_path": "/etc/shadow"}}}' \
  "$BASE/api/v1/deployments")
[ "$code" = 422 ] && ok "the API answers 422" || bad "API answered $code: $(cat "$T/api.out")"
contains "the API names the field" "$(cat "$T/api.out")" "vtest_path: '/etc/shadow' is outside the allowed roots"
[ "$(q "SELECT count(*) FROM deployments WHERE name = 'web'")" = 0 ] && ok "nothing written over HTTP" || bad "written"
code=$(curl -s -o "$T/api.out" -w '%{http_code}' -X PATCH -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  --data '{"addon_fields": {"vtest": {"vtest_path": "/etc"}}}' "$BASE/api/v1/deployments/app")
[ "$code" = 422 ] && ok "PATCH refused with 422" || bad "PATCH answered $code: $(cat "$T/api.out")"
code=$(curl -s -o "$T/api.out" -w '%{http_code}' -X PATCH -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  --data '{"addon_fields": {"vtest": {"vtest_path": "/srv/other"}}}' "$BASE/api/v1/deployments/app")
[ "$code" = 200 ] && ok "a good PATCH is stored" || bad "PATCH answered $code: $(cat "$T/api.out")"
# a deployment made over HTTP without a branch takes the repository's default
mkdir -p "$T/trunk" && git -C "$T/trunk" init -q -b trunk && echo t >"$T/trunk/f"
git -C "$T/trunk" add -A && git -C "$T/trunk" -c user.name=T -c user.email=t@e commit -qm t
code=$(curl -s -o "$T/api.out" -w '%{http_code}' -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  --data "{\"name\": \"tr\", \"repo_url\": \"file://$T/trunk\"}" "$BASE/api/v1/deployments")
[ "$code" = 201 ] && [ "$(q "SELECT branch FROM deployments WHERE name = 'tr'")" = trunk ] \
  && ok "the API took the repository's default branch (trunk)" || bad "API answered $code: $(cat "$T/api.out")"
stop_daemon
EOT

test_expect_success 'the docker addon'\''s rules, at create: refused with the field named, nothing stored' <<'EOT'
export WEBOPS_ADDONS_PATH=$WEBOPS_BUILD_DIR/addons DOCKER_HOST=unix:///nonexistent/docker.sock
expect 1 "docker_volumes outside the allowed roots" -- "$W" deployment create d1 --repo https://e.com/d.git \
  --set use_docker=true --set docker_volumes='["/etc:/x"]'
contains "names the field" "$ERR" "docker_volumes: '/etc:/x' is invalid: '/etc' is not under an allowed volume root"
expect 1 "docker_ports out of range" -- "$W" deployment create d2 --repo https://e.com/d.git \
  --set use_docker=true --set docker_ports='["0.0.0.0:99999:80"]'
contains "names the field" "$ERR" "docker_ports: '0.0.0.0:99999:80' is invalid"
expect 1 "docker_image_name with a tag" -- "$W" deployment create d3 --repo https://e.com/d.git \
  --set use_docker=true --set docker_image_name=webops/x:tag
contains "names the field" "$ERR" "docker_image_name: 'webops/x:tag' is not a valid image repository"
expect 1 "an app_module that is not MODULE:NAME" -- "$W" deployment create d6 --repo https://e.com/d.git \
  --set use_docker=true --set app_module='app; rm -rf /:x'
contains "names the field" "$ERR" "app_module"
expect 0 "...a factory is fine" -- "$W" deployment create fa1 --repo https://e.com/d.git \
  --set use_docker=true --set app_module='flaskr:create_app()'
expect 1 "an env name with a newline" -- "$W" deployment create d4 --repo https://e.com/d.git \
  --set use_docker=true --set docker_env_vars='{"A\nB": "1"}'
contains "names the field" "$ERR" "docker_env_vars:"
expect 1 "an image name shadowing a base image" -- env WEBOPS_DOCKER_STATIC_BASE_IMAGE=nginx:alpine "$W" deployment \
  create d5 --repo https://e.com/d.git --set use_docker=true --set docker_image_name=nginx
contains "says whose repository it is" "$ERR" "docker_image_name: 'nginx' is the repository of the base image set by 'static_base_image'"
[ "$(q "SELECT count(*) FROM deployments WHERE name LIKE 'd_'")" = 0 ] && ok "none of them was stored" || bad "stored: $(q "SELECT name FROM deployments")"
expect 0 "a deployment without docker is not held to docker's rules" -- "$W" deployment create d6 --repo https://e.com/d.git \
  --set docker_ports='["127.0.0.1:8080:80"]'
EOT
finish
