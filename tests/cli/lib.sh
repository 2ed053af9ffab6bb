# Shared helpers for the end-to-end CLI tests (sourced, not run).
# Each test gets fresh databases on the server named by WEBOPS_TEST_DATABASE_URL
# and a temp directory; both are removed at exit.
set -uo pipefail

BIN=${WEBOPS_BIN_DIR:?run through ctest (WEBOPS_BIN_DIR unset)}
W="$BIN/webops"
T=$(mktemp -d /tmp/wo-cli.XXXXXX)
chmod 755 "$T"
_dbs=()
_pids=()
_fail=0
_count=0

_cleanup() {
  for p in "${_pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${_pids[@]}"; do wait "$p" 2>/dev/null; done
  for d in "${_dbs[@]}"; do
    psql "$WEBOPS_TEST_DATABASE_URL" -qAtc "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1
  done
  [ -n "${WEBOPS_TEST_KEEP:-}" ] || rm -rf "$T"
}
trap _cleanup EXIT

need_db() {
  if [ -z "${WEBOPS_TEST_DATABASE_URL:-}" ]; then
    echo "skipped: WEBOPS_TEST_DATABASE_URL is not set"; exit 77
  fi
}

# new_db: creates an empty database and prints a conninfo for it
new_db() {
  local name="wo_cli_$$_${#_dbs[@]}"
  psql "$WEBOPS_TEST_DATABASE_URL" -qAtc "CREATE DATABASE $name" >/dev/null || { echo "cannot create db" >&2; exit 1; }
  _dbs+=("$name")
  echo "$WEBOPS_TEST_DATABASE_URL dbname=$name"
}

ok()   { _count=$((_count+1)); echo "ok   - $*"; }
bad()  { _count=$((_count+1)); _fail=$((_fail+1)); echo "FAIL - $*"; }

# expect CODE DESCRIPTION -- CMD...: runs CMD, checks its exit code; output in $OUT/$ERR
expect() {
  local want=$1 desc=$2; shift 3
  "$@" >"$T/out" 2>"$T/err"
  local got=$?
  OUT=$(cat "$T/out"); ERR=$(cat "$T/err")
  if [ "$got" -eq "$want" ]; then ok "$desc"; else
    bad "$desc: exit $got, wanted $want"; echo "  stdout: $OUT"; echo "  stderr: $ERR"; fi
}

contains() { # contains DESCRIPTION HAYSTACK NEEDLE
  if [[ "$2" == *"$3"* ]]; then ok "$1"; else bad "$1: '$3' not in: $2"; fi
}

finish() {
  echo "$((_count-_fail)) passed, $_fail failed"
  [ "$_fail" -eq 0 ]
  exit $?
}
