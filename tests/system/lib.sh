# Shared helpers for the end-to-end CLI tests (sourced, not run).
# Each test gets fresh databases on the server named by WEBOPS_TEST_DATABASE_URL
# and a temp directory; both are removed at exit.
set -uo pipefail

BIN=${WEBOPS_BIN_DIR:?run through ctest (WEBOPS_BIN_DIR unset)}
# the tests' repositories live under /tmp: accounts may use those over HTTP
export WEBOPS_LOCAL_REPO_ROOTS=${WEBOPS_LOCAL_REPO_ROOTS:-/tmp}
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
  # new_db runs in $(...), so its names are found by prefix rather than remembered
  if [ -n "${WEBOPS_TEST_DATABASE_URL:-}" ] && [ -z "${WEBOPS_TEST_KEEP:-}" ]; then
    local d
    for d in $(psql "$WEBOPS_TEST_DATABASE_URL" -qAtc "SELECT datname FROM pg_database WHERE datname LIKE 'wo\_cli\_$$\_%'" 2>/dev/null); do
      psql "$WEBOPS_TEST_DATABASE_URL" -qAtc "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1
    done
  fi
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
  local name="wo_cli_$$_${RANDOM}${RANDOM}"
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

# start_daemon [ARGS...]: starts webopsd in the background (log in $T/webopsd.log),
# waits until it is ready; its pid is in $DAEMON_PID.
start_daemon() {
  "$BIN/webopsd" "$@" >>"$T/webopsd.log" 2>&1 &
  DAEMON_PID=$!
  _pids+=("$DAEMON_PID")
  wait_ready "$DAEMON_PID"
}

# wait_ready PID: waits (up to WEBOPS_TEST_READY_S, default 120 s: a loaded
# machine is slow) for webopsd PID to log that it is ready, which it does
# once its addons' daemon_start hooks ran
wait_ready() {
  local pid=$1 deadline=$((SECONDS + ${WEBOPS_TEST_READY_S:-120}))
  while [ $SECONDS -lt $deadline ]; do
    grep -q "daemon: webopsd .* ready: .*, pid $pid " "$T/webopsd.log" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || { echo "webopsd died:"; cat "$T/webopsd.log"; return 1; }
    sleep 0.1
  done
  echo "webopsd did not get ready within ${WEBOPS_TEST_READY_S:-120} s:"; cat "$T/webopsd.log"; return 1
}

# stop_daemon: SIGTERM and wait
stop_daemon() {
  kill -TERM "$DAEMON_PID" 2>/dev/null
  wait "$DAEMON_PID" 2>/dev/null
}

# make_repo DIR: a git repository with one commit on main
make_repo() {
  mkdir -p "$1"
  git -C "$1" init -q -b main
  echo "<h1>v1</h1>" >"$1/index.html"
  git -C "$1" add -A
  git -C "$1" -c user.name=Test -c user.email=test@example.com commit -qm "v1"
}

# commit_repo DIR MESSAGE: changes index.html and commits
commit_repo() {
  echo "<h1>$2</h1>" >"$1/index.html"
  git -C "$1" -c user.name=Test -c user.email=test@example.com commit -qam "$2"
}

# addons_dir NAME...: a WEBOPS_ADDONS_PATH entry holding the named test addons
addons_dir() {
  local d="$T/addons"
  mkdir -p "$d"
  local n
  for n in "$@"; do ln -sfn "$WEBOPS_BUILD_DIR/tests/addons/$n" "$d/$n"; done
  echo "$d"
}

# json_get JSON PYTHON-EXPR: evaluates EXPR with j bound to the parsed JSON
json_get() { python3 -c "import json,sys; j=json.load(sys.stdin); print($2)" <<<"$1"; }

# need_docker: skips (77) unless a Docker engine answers on a unix socket and
# the local base image exists (scripts/docker-env provides both). Sets host,
# sock and base, defines api METHOD PATH (the engine's answer on stdout), and
# exports what the docker addon needs in a test (DOCKER_HOST, the static base
# image, a units directory under $T, no systemd).
need_docker() {
  host=${DOCKER_HOST:-unix:///var/run/docker.sock}
  case "$host" in
    unix://*) sock=${host#unix://} ;;
    *) echo "skipped: this test talks to a unix socket engine (DOCKER_HOST=$host)"; exit 77 ;;
  esac
  if ! api GET /_ping >/dev/null 2>&1; then
    echo "skipped: no Docker engine answers on $sock (run scripts/docker-env)"; exit 77
  fi
  base=${WEBOPS_TEST_BASE_IMAGE:-webops-test/busybox:latest}
  if ! api GET "/images/$base/json" >/dev/null 2>&1; then
    echo "skipped: the base image $base is missing (run scripts/docker-env)"; exit 77
  fi
  export DOCKER_HOST=$host
  export WEBOPS_DOCKER_STATIC_BASE_IMAGE=$base
  # static sites are served by nginx: the stand-in when scripts/test-images made it
  if [ -n "${WEBOPS_TEST_NGINX_IMAGE:-}" ] && api GET "/images/$WEBOPS_TEST_NGINX_IMAGE/json" >/dev/null 2>&1; then
    export WEBOPS_DOCKER_STATIC_BASE_IMAGE=$WEBOPS_TEST_NGINX_IMAGE
  fi
  export WEBOPS_DOCKER_UNITS_DIR=$T/units
  export WEBOPS_DOCKER_SYSTEMD_ENABLE=false
}
api() { curl -sf --max-time 30 --unix-socket "$sock" -X "$1" "http://localhost$2"; }

# remove_deployment_docker NAME...: removes every container and image labelled
# as belonging to the deployments (what a test's deploys left in the engine)
remove_deployment_docker() {
  local n id filter
  for n in "$@"; do
    filter="%7B%22label%22%3A%5B%22webops.deployment%3D$n%22%5D%7D"
    for id in $(api GET "/containers/json?all=1&filters=$filter" 2>/dev/null |
                python3 -c 'import json,sys; [print(c["Id"]) for c in json.load(sys.stdin)]' 2>/dev/null); do
      api DELETE "/containers/$id?force=1" >/dev/null 2>&1
    done
    for id in $(api GET "/images/json?filters=$filter" 2>/dev/null |
                python3 -c 'import json,sys; [print(i["Id"]) for i in json.load(sys.stdin)]' 2>/dev/null); do
      api DELETE "/images/$id?force=1" >/dev/null 2>&1
    done
  done
}
# stop_private_nginx: quits the nginx proxy-nginx ran under $WEBOPS_DATA_DIR
stop_private_nginx() {
  local pid
  pid=$(cat "$WEBOPS_DATA_DIR/addons/proxy-nginx/nginx.pid" 2>/dev/null)
  [ -n "$pid" ] && kill -QUIT "$pid" 2>/dev/null
  return 0
}

# need_images: after need_docker, skips (77) unless the engine holds the local
# stand-ins for python:3.11-slim and nginx:alpine that scripts/test-images
# builds. Sets pyimg and nginximg.
need_images() {
  pyimg=${WEBOPS_TEST_PYTHON_IMAGE:-webops-test/python:3.11}
  nginximg=${WEBOPS_TEST_NGINX_IMAGE:-webops-test/nginx:alpine}
  local i
  for i in "$pyimg" "$nginximg"; do
    if ! api GET "/images/$i/json" >/dev/null 2>&1; then
      echo "skipped: the stand-in base image $i is missing (run scripts/test-images as root)"; exit 77
    fi
  done
}
