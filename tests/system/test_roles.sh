#!/usr/bin/env bash
# Who may do what, through a real webopsd: every route of the route table
# (core/http/router.c) asked by an admin, the owner of a deployment, a member
# it is shared with, a viewer it is shared with, a member who has nothing to
# do with it, and tokens of each scope (one limited to one deployment), over
# the API, the forms and git over HTTP; tests/system/roles.py does the asking
# from a table and also checks that the table names every route.
. "$(dirname "$0")/lib.sh"
test_setup 'the deployment and what it needs' <<'EOT'
need_db

export WEBOPS_DATABASE_URL=$(new_db)
export WEBOPS_DATA_DIR=$T/data
# the docker addon for its host options (no engine is needed to validate);
# proxy-nginx and notify-webhook stay off
export WEBOPS_ADDONS_PATH=$(addons_dir pipetest):$WEBOPS_BUILD_DIR/addons DOCKER_HOST=unix:///nonexistent/docker.sock
export WEBOPS_DOCKER_ALLOWED_VOLUME_ROOTS="[\"$T/vols\"]" WEBOPS_DOCKER_ALLOW_HOST_NETWORK=true
for a in proxy-nginx notify-webhook; do "$W" addon disable "$a" >/dev/null; done
make_repo "$T/repo"

pw() { printf '%s' "password-of-$1"; }
expect 0 "the first user is an admin" -- bash -c "$(printf '%q ' "$W") user create root --password-stdin <<<'$(pw root)'"
contains "...says so" "$OUT" "created user 'root' (admin)"
for u in alice bob carol; do
  expect 0 "user $u: a member by default" -- bash -c "$(printf '%q ' "$W") user create $u --password-stdin <<<'$(pw $u)'"
  contains "...says member" "$OUT" "(member)"
done
expect 0 "user vic: a viewer" -- bash -c "$(printf '%q ' "$W") user create vic --role viewer --password-stdin <<<'$(pw vic)'"
expect 2 "a role that does not exist" -- bash -c "$(printf '%q ' "$W") user create x --role root --password-stdin <<<'$(pw x)'"
contains "...names the roles" "$ERR" "use admin, member or viewer"
expect 1 "the last admin stays one" -- "$W" user role root member
contains "...says why" "$ERR" "user 'root' is the last admin"
expect 0 "user list shows roles" -- "$W" user list --json
[ "$(json_get "$OUT" "' '.join(u['name'] + ':' + u['role'] for u in j)")" = "alice:member bob:member carol:member root:admin vic:viewer" ] \
  && ok "roles: admin, members, viewer" || bad "users: $OUT"

start_daemon --workers 1 || exit 1
BASE=$(sed -n 's/.*http: listening on \(http:[^ ]*\).*/\1/p' "$T/webopsd.log" | head -1)
export BASE REPO="file://$T/repo" W VOLS="$T/vols"
EOT

test_expect_success 'tokens made on the host for users (the form makes them too; roles.py checks it)' <<'EOT'
tok() { "$W" token create "$@"; }
export TOK_ALICE=$(tok alice-all --user alice)
export TOK_ALICE_READ=$(tok alice-read --user alice --scope read)
export TOK_BOB=$(tok bob-all --user bob)
export TOK_VIC=$(tok vic-all --user vic)
export TOK_HOST=$(tok host-all)
expect 1 "a token limited to a deployment that does not exist" -- "$W" token create t1 --user alice --deployment nope
contains "...names it" "$ERR" "no deployment named nope"
expect 2 "a scope that does not exist" -- "$W" token create t2 --scope write
contains "...names the scopes" "$ERR" "use read, deploy or manage"

python3 "$WEBOPS_SOURCE_DIR/tests/system/roles.py" || bad "roles.py failed"
stop_daemon
EOT
finish
