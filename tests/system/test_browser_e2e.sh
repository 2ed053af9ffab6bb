#!/usr/bin/env bash
# The web UI in a real browser against a real webopsd, PostgreSQL and Docker
# engine (tests/e2e/ui.mjs does the clicking). Skipped (77) without chromium,
# playwright-core (scripts/setup --test installs both) or a Docker engine.
# ctest-resources: docker
. "$(dirname "$0")/lib.sh"
test_setup 'the deployment and what it needs' <<'EOT'
need_db

e2e=$WEBOPS_SOURCE_DIR/tests/e2e
command -v node >/dev/null || skip_all "node is not installed (scripts/setup --test)"
[ -x /usr/bin/chromium ] || skip_all "chromium is not installed (scripts/setup --test)"
[ -d "$e2e/node_modules/playwright-core" ] || skip_all "playwright-core is not installed (scripts/setup --test)"
need_docker

export WEBOPS_DATABASE_URL=$(new_db)
export WEBOPS_DATA_DIR=$T/data
export WEBOPS_ADDONS_PATH=${WEBOPS_BUILD_DIR:?}/addons
export WEBOPS_DOCKER_START_GRACE_S=2

name="ui$$"
port=$(free_port)
cleanup_docker() {
  api DELETE "/containers/webops-$name?force=1" >/dev/null 2>&1
  api DELETE "/containers/webops-$name-previous?force=1" >/dev/null 2>&1
}
at_exit 'cleanup_docker'

make_repo "$T/repo"
start_daemon --listen 127.0.0.1:0 --workers 1 || exit 1
BASE=$(sed -n 's/.*http: listening on \(http:[^ ]*\).*/\1/p' "$T/webopsd.log" | head -1)
SETUP_URL=$(cat "$T/data/setup-url")
[ -n "$SETUP_URL" ] && ok "webopsd printed a setup link" || { bad "no setup link"; finish; }

artifacts=$WEBOPS_BUILD_DIR/e2e-artifacts
rm -rf "$artifacts"
SETUP_URL=$SETUP_URL BASE=$BASE REPO="file://$T/repo" SITE_PORT=$port NAME=$name ARTIFACTS=$artifacts WEBOPS_CLI=$W \
  node "$e2e/ui.mjs"
[ $? -eq 0 ] && ok "browser end to end (tests/e2e/ui.mjs)" || { bad "browser end to end"; tail -30 "$T/webopsd.log"; }
stop_daemon
EOT
finish
