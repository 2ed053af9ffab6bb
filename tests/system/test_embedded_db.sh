#!/usr/bin/env bash
# The embedded PostgreSQL: with no database configured, webops creates a
# cluster under the data directory, later invocations reuse it, `webops db
# stop` stops it, and the next command starts it again with the data intact.
. "$(dirname "$0")/lib.sh"
test_setup 'the deployment and what it needs' <<'EOT'
unset WEBOPS_DATABASE_URL
export WEBOPS_DATA_DIR=$T/data
stop_db() { "$W" db stop >/dev/null 2>&1; }
at_exit 'stop_db'

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
EOT

test_expect_success 'as root, a data directory made by mktemp -d (mode 0700) works: it is webops'\'' own, so PostgreSQL'\''s account is let...' <<'EOT'
# as root, a data directory made by mktemp -d (mode 0700) works: it is webops'
# own, so PostgreSQL's account is let through it; a parent that blocks the
# way is named with the fix
if [ "$(id -u)" -eq 0 ]; then
  tmpdata=$(mktemp -d "$T/mk.XXXXXX")
  chmod 0700 "$tmpdata"
  WEBOPS_DATA_DIR=$tmpdata expect 0 "a 0700 mktemp -d data directory works as root" -- "$W" deployment list
  [ "$(stat -c %a "$tmpdata")" = 701 ] && ok "searchable, not listable, by others (701)" || bad "mode $(stat -c %a "$tmpdata")"
  WEBOPS_DATA_DIR=$tmpdata "$W" db stop >/dev/null 2>&1
  mkdir -p "$T/closed/data" && chmod 0700 "$T/closed"
  WEBOPS_DATA_DIR=$T/closed/data expect 1 "a blocking parent is refused" -- "$W" deployment list
  contains "names the parent and the fix" "$ERR" "'$T/closed' (mode 0700, owner root) blocks the way"
  contains "says how to fix it" "$ERR" "chmod o+x '$T/closed'"
  chmod 0755 "$T/closed"
fi
EOT

test_expect_success 'a clear error when initdb is missing' <<'EOT'
WEBOPS_PG_BINDIR=/nonexistent WEBOPS_DATA_DIR=$T/other expect 1 "missing initdb is reported" -- "$W" deployment list
contains "says what to install" "$ERR" "initdb not found: install postgresql"
EOT
finish
