#!/usr/bin/env bash
# The embedded PostgreSQL: with no database configured, webops creates a
# cluster under the data directory, later invocations reuse it, `webops db
# stop` stops it, and the next command starts it again with the data intact.
. "$(dirname "$0")/lib.sh"
unset WEBOPS_DATABASE_URL
export WEBOPS_DATA_DIR=$T/data
stop_db() { "$W" db stop >/dev/null 2>&1; }
trap 'stop_db; _cleanup' EXIT

expect 0 "create with no database configured" -- "$W" deployment create --name blog --repo https://example.com/blog.git
contains "reports creating the cluster" "$ERR" "creating the embedded PostgreSQL"
[ -f "$WEBOPS_DATA_DIR/postgres/PG_VERSION" ] && ok "cluster is under the data dir" || bad "no cluster in $WEBOPS_DATA_DIR/postgres"
if [ "$(id -u)" -eq 0 ]; then
  owner=$(stat -c %U "$WEBOPS_DATA_DIR/postgres")
  [ "$owner" != root ] && ok "cluster runs as unprivileged '$owner'" || bad "cluster owned by root"
fi
expect 0 "list --json in a later invocation" -- "$W" deployment list --json
contains "sees blog" "$OUT" '"name": "blog"'
[ -z "$ERR" ] && ok "reuse is silent" || bad "reuse printed: $ERR"
expect 0 "db status" -- "$W" db status
expect 0 "db stop" -- "$W" db stop
contains "stopped" "$OUT" "stopped"
expect 1 "db status after stop" -- "$W" db status
expect 0 "list restarts it" -- "$W" deployment list --json
contains "blog survived the restart" "$OUT" '"name": "blog"'
expect 0 "db url" -- "$W" db url
contains "url points into the data dir" "$OUT" "$WEBOPS_DATA_DIR/postgres"

# a clear error when initdb is missing
WEBOPS_PG_BINDIR=/nonexistent WEBOPS_DATA_DIR=$T/other expect 1 "missing initdb is reported" -- "$W" deployment list
contains "says what to install" "$ERR" "initdb not found: install postgresql"
finish
