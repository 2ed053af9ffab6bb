# The system tests' library (sourced, not run): each test file drives the
# real webops, webopsd, PostgreSQL, git (and Docker, nginx, a browser) from
# the outside, in named steps, the way git's t/test-lib.sh does.
#
#   test_setup 'what it makes' <<'EOT'          a step that always runs
#   ...
#   EOT
#   test_expect_success 'what it checks' <<'EOT'
#   ...commands, and checks: expect, contains, ok, bad...
#   EOT
#   finish
#
# (or test_expect_success 'name' 'body' on one line). A step runs in the
# file's shell, so what one makes the next can use (an array a later step
# uses is declared with declare -g: a step's body runs inside a function);
# it fails when a check in it failed, or when it exits. The output is TAP ("ok 3 - name", "not ok 4 -
# name", the plan "1..N" at the end; a check's own lines are comments), which
# ctest reads. Choosing, on the file's command line or in the environment:
#   --run=1,4-6      WEBOPS_TEST_RUN=1,4-6    only these steps (and the setups)
#   -i, --immediate  WEBOPS_TEST_IMMEDIATE=1  stop at the first failing step
#   --list                                    the steps' numbers and names
# e.g. WEBOPS_TEST_RUN=5 ctest -R system/test_deployment_lock -V
#
# What a file needs to itself is declared on a line of its own near its top,
#   # ctest-resources: docker nginx-load
# (tests/CMakeLists.txt says what each means). Each test gets fresh databases
# on the server named by WEBOPS_TEST_DATABASE_URL and a temp directory; both
# are removed at exit.
set -uo pipefail

_run_list=${WEBOPS_TEST_RUN:-}
_immediate=${WEBOPS_TEST_IMMEDIATE:-}
_list_only=
# (a benchmark sourcing this library keeps its own arguments)
_args=()
[[ $(basename "$0") == test_* ]] && _args=("$@")
for _a in "${_args[@]}"; do
  case $_a in
    --run=*) _run_list=${_a#--run=} ;;
    -i|--immediate) _immediate=1 ;;
    --list) _list_only=1 ;;
    *) echo "usage: $0 [--run=N,M-K] [-i|--immediate] [--list]" >&2; exit 2 ;;
  esac
done
_step=0
_in_step=
_step_failed=0
_steps_failed=0

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

# at_exit COMMAND: run at exit (the last registered first), before the
# daemons and databases go
_at_exit=()
at_exit() { _at_exit+=("$1"); }

_cleanup() {
  local rc=$? i
  if [ -n "$_in_step" ]; then
    if [ "$rc" = 77 ]; then echo "ok $_step - $_in_step # skip (the rest of the file too)"
    else echo "not ok $_step - $_in_step (the step exited with status $rc)"; fi
    _in_step=
  fi
  for ((i = ${#_at_exit[@]} - 1; i >= 0; i--)); do eval "${_at_exit[i]}"; done
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

# skip_all REASON: skips what is left of the file (exit 77, which ctest
# counts as skipped)
skip_all() {
  [ "$_step" -gt 0 ] || echo "1..0 # SKIP $*"
  echo "# skipped: $*"
  exit 77
}

need_db() {
  [ -n "${WEBOPS_TEST_DATABASE_URL:-}" ] || skip_all "WEBOPS_TEST_DATABASE_URL is not set"
}

# new_db: creates an empty database and prints a conninfo for it
new_db() {
  local name="wo_cli_$$_${RANDOM}${RANDOM}"
  psql "$WEBOPS_TEST_DATABASE_URL" -qAtc "CREATE DATABASE $name" >/dev/null || { echo "cannot create db" >&2; exit 1; }
  _dbs+=("$name")
  echo "$WEBOPS_TEST_DATABASE_URL dbname=$name"
}

# a check: its line is a TAP comment, its failure the step's
ok()   { _count=$((_count+1)); echo "#   ok   - $*"; }
bad()  { _count=$((_count+1)); _fail=$((_fail+1)); _step_failed=1; echo "#   FAIL - $*"; }

# _picked N: whether step N was chosen (no --run: every step)
_picked() {
  [ -z "$_run_list" ] && return 0
  local IFS=, r
  for r in $_run_list; do
    case $r in
      *-*) [ "$1" -ge "${r%-*}" ] && [ "$1" -le "${r#*-}" ] && return 0 ;;
      *) [ "$1" = "$r" ] && return 0 ;;
    esac
  done
  return 1
}

# _step_run KIND NAME [BODY]: one step (the body from stdin when not given).
# Its variables are the file's: the names used here are kept out of its way.
_step_run() {
  local __kind=$1 __name=$2 __body
  if [ $# -ge 3 ]; then __body=$3; else __body=$(cat); fi
  _step=$((_step+1))
  if [ -n "$_list_only" ]; then
    echo "$_step${__kind/step/} $__name"; return 0
  fi
  if [ "$__kind" != " (setup)" ] && ! _picked "$_step"; then
    echo "ok $_step - $__name # skip not chosen (--run=$_run_list)"; return 0
  fi
  echo "# step $_step: $__name"
  _step_failed=0
  _in_step=$__name
  local __t0=${EPOCHREALTIME//[.,]/}
  eval "$__body"
  _in_step=
  local __ms=$(( (${EPOCHREALTIME//[.,]/} - __t0) / 1000 ))
  printf '# step %d took %d.%d s\n' "$_step" $((__ms / 1000)) $((__ms % 1000 / 100))
  if [ "$_step_failed" = 0 ]; then
    echo "ok $_step - $__name"
  else
    _steps_failed=$((_steps_failed+1))
    echo "not ok $_step - $__name"
    if [ -n "$_immediate" ]; then
      echo "Bail out! step $_step failed (stopping at the first failure, as asked)"
      exit 1
    fi
  fi
  return 0
}
test_expect_success() { _step_run step "$@"; }
test_setup() { _step_run " (setup)" "$@"; }

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

# finish: the plan and the outcome; exits 0 when nothing failed
finish() {
  [ -n "$_list_only" ] && exit 0
  [ "$_step" -gt 0 ] && echo "1..$_step"
  echo "# $((_count-_fail)) checks passed, $_fail failed${_step:+ ($_steps_failed of $_step steps failed)}"
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

# free_port: a TCP port on 127.0.0.1 that nothing holds now, chosen at
# random below the ephemeral range (32768 and up), which the Docker engine's
# publishing and every outgoing connection draw from: tests choose ports
# now and bind them seconds or minutes later, beside other tests
free_port() {
  python3 -c '
import random, socket
while True:
    p = random.randint(20000, 32000)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass
    finally:
        s.close()'
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
    *) skip_all "this test talks to a unix socket engine (DOCKER_HOST=$host)" ;;
  esac
  if ! api GET /_ping >/dev/null 2>&1; then
    skip_all "no Docker engine answers on $sock (run scripts/docker-env)"
  fi
  base=${WEBOPS_TEST_BASE_IMAGE:-webops-test/busybox:latest}
  if ! api GET "/images/$base/json" >/dev/null 2>&1; then
    skip_all "the base image $base is missing (run scripts/docker-env)"
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
      skip_all "the stand-in base image $i is missing (run scripts/test-images as root)"
    fi
  done
}
