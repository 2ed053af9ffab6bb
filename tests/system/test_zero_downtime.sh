#!/usr/bin/env bash
# Zero-downtime deploys through the proxy-nginx addon, with a real engine,
# real nginx, a static site and a Django project made by `django-admin
# startproject`, under a steady client loop (load_client.py, 50 req/s):
# a redeploy, a commit whose container crashes and one that never answers
# lose zero requests, every answer before the switch comes from the old
# release and after it from the new one, and the failing runs say why.
# Then the swap is killed (webopsd -9) at each step (after start, after the
# switch, before retire) and deployed again: the last good release serves
# throughout. Skipped (77) without an engine, the stand-in images or nginx.
# ctest-resources: docker nginx-load
. "$(dirname "$0")/lib.sh"
test_setup 'the deployment and what it needs' <<'EOT'
need_db
need_docker
need_images
command -v nginx >/dev/null || skip_all "nginx is not installed"

export WEBOPS_DATABASE_URL=$(new_db)
export WEBOPS_DATA_DIR=$T/data
export WEBOPS_ADDONS_PATH=${WEBOPS_BUILD_DIR:?}/addons
export WEBOPS_DOCKER_STATIC_BASE_IMAGE=$WEBOPS_TEST_NGINX_IMAGE
export WEBOPS_DOCKER_PYTHON_BASE_IMAGE=$WEBOPS_TEST_PYTHON_IMAGE
export WEBOPS_DOCKER_DRAIN_S=2
export WEBOPS_DOCKER_START_TIMEOUT_S=20
export WEBOPS_SHUTDOWN_GRACE=2
q() { psql -qAtX "$WEBOPS_DATABASE_URL" -c "$1"; }
names=()
cleanup_docker() {
  remove_deployment_docker "${names[@]}"
  stop_private_nginx
}
at_exit 'touch "$T/stop-load"; cleanup_docker'
EOT

test_setup 'load URL: starts the client loop (its log in $T/load.log)' <<'EOT'
load_start() {
  rm -f "$T/stop-load"
  python3 "$WEBOPS_SOURCE_DIR/tests/system/load_client.py" "$1" "$T/load.log" "$T/stop-load" 50 &
  LOAD_PID=$!
  _pids+=("$LOAD_PID")
  sleep 1
}
load_stop() { touch "$T/stop-load"; wait "$LOAD_PID" 2>/dev/null; }
# switched_at RUN: when proxy-nginx saw, in run RUN, no old nginx worker able
# to take a new connection any more (its output switched_at; seconds since
# the epoch), empty when it did not switch
switched_at() { q "SELECT outputs->'proxy-nginx'->>'switched_at' FROM runs WHERE id = $1"; }
switch_window() { q "SELECT round((((outputs->'proxy-nginx'->>'switched_at')::numeric - (outputs->'proxy-nginx'->>'switch_sent_at')::numeric) * 1000))
  FROM runs WHERE id = $1"; }
last_run() { q "SELECT max(id) FROM runs"; }
# load_check DESC OLD NEW [RUN]: zero failures, only OLD and NEW answers; every
# request begun after run RUN's switch was confirmed got NEW. Before that, in
# nginx's reload window (new workers start, old ones stop accepting a moment
# later), a new connection may reach either release: such answers are counted
# and reported, not failed. (NEW "" : only OLD answers)
load_check() {
  local r at="" win=""
  if [ -n "${4:-}" ]; then at=$(switched_at "$4"); win=$(switch_window "$4"); fi
  r=$(python3 - "$T/load.log" "$2" "$3" "${at:-}" <<'EOF'
import sys
log, old, new, at = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
at = float(at) if at else None
lines = [l.rstrip("\n").split(" ", 2) for l in open(log)]
body = lambda l: l[2] if len(l) > 2 else ""
bad = [l for l in lines if l[1] != "200" or body(l) not in (old, new)]
ok = [l for l in lines if l[1] == "200"]
seq = [body(l) for l in ok]
first_new = seq.index(new) if new and new in seq else len(seq)
window = [l for l in ok[first_new:] if body(l) != new]
after = [l for l in ok if at is not None and float(l[0]) >= at and body(l) != new]
missing = 1 if new and at is None else 0
secs = float(lines[-1][0]) - float(lines[0][0]) if len(lines) > 1 else 0
rate = len(lines) / secs if secs else 0
print("%d %d %d %d %d %d %.0f" % (len(lines), len(bad), first_new, len(window), len(after), missing, rate))
for l in (bad + after)[:3]:
    print(" ".join(l), file=sys.stderr)
EOF
  )
  read -r total failed first_new window after missing rate <<<"$r"
  if [ "$failed" = 0 ] && [ "$after" = 0 ] && [ "$missing" = 0 ] && [ "$total" -gt 0 ]; then
    ok "$1: $total requests at ${rate}/s, 0 failed, $first_new from the old release, then only the new one once switched${win:+ (reload window ${win} ms: $window answer(s) from the old release within it)}"
  else
    bad "$1: $total requests, $failed failed, $after old answer(s) after the switch was confirmed${at:+ at $at}$([ "$missing" = 1 ] && echo " (no switched_at recorded)"): $(grep -v ' 200 ' "$T/load.log" | head -3)"
  fi
}

start_daemon --workers 1 || exit 1
pid_file=$WEBOPS_DATA_DIR/addons/proxy-nginx/nginx.pid
for i in $(seq 600); do [ -s "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null && break; sleep 0.1; done
[ -s "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null && ok "webopsd started its private nginx" \
  || bad "no private nginx under $WEBOPS_DATA_DIR/proxy-nginx: $(ls "$WEBOPS_DATA_DIR/proxy-nginx" 2>&1)"
EOT

test_expect_success 'a static site' <<'EOT'
site="zs$$"; names+=("$site")
make_repo "$T/site"
printf 'SECRET=1\n' >"$T/site/.env"
git -C "$T/site" add -A && git -C "$T/site" -c user.name=T -c user.email=t@e commit -qm env
sport=$(free_port)
expect 0 "create the static site" -- "$W" deployment create "$site" --repo "$T/site" --port "$sport" --set use_docker=true
expect 0 "deploy v1" -- "$W" deploy "$site" --follow
[ "$(curl -s "http://127.0.0.1:$sport/")" = "<h1>v1</h1>" ] && ok "served through nginx on its port" || bad "page: $(curl -s "http://127.0.0.1:$sport/")"
for f in /.env /Dockerfile /.dockerignore /.git/config; do
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$sport$f")
  [ "$code" = 404 ] && ok "the static site does not serve $f (404)" || bad "$f answered $code"
done
load_start "http://127.0.0.1:$sport/"
commit_repo "$T/site" v2
expect 0 "redeploy v2 under load" -- "$W" deploy "$site" --follow
sleep 1
load_stop
load_check "static redeploy" "<h1>v1</h1>" "<h1>v2</h1>" "$(last_run)"
EOT

test_expect_success 'a Django project' <<'EOT'
dj="zd$$"; names+=("$dj")
mkdir -p "$T/dj"
(cd "$T/dj" && django-admin startproject mysite .) || bad "django-admin startproject failed"
printf 'Django\ngunicorn\n' >"$T/dj/requirements.txt"
cat >>"$T/dj/mysite/urls.py" <<'EOF'

from django.http import HttpResponse
urlpatterns += [path("version", lambda request: HttpResponse("dj-v1"))]
EOF
git -C "$T/dj" init -q -b main && git -C "$T/dj" add -A && git -C "$T/dj" -c user.name=T -c user.email=t@e commit -qm v1
dport=$(free_port)
expect 0 "create the Django deployment" -- "$W" deployment create "$dj" --repo "$T/dj" --port "$dport" \
  --set use_docker=true --health-path /version
expect 0 "deploy the Django project" -- "$W" deploy "$dj" --follow
contains "detected as Django" "$OUT" "django"
[ "$(curl -s "http://127.0.0.1:$dport/version")" = dj-v1 ] && ok "Django answers through nginx" \
  || bad "version: $(curl -s -i "http://127.0.0.1:$dport/version" | head -5); $OUT"
djcommit() { # djcommit MESSAGE: commits what was changed in $T/dj
  git -C "$T/dj" add -A && git -C "$T/dj" -c user.name=T -c user.email=t@e commit -qm "$1"
}
load_start "http://127.0.0.1:$dport/version"
sed -i 's/dj-v1/dj-v2/' "$T/dj/mysite/urls.py" && djcommit v2
expect 0 "redeploy the Django project under load" -- "$W" deploy "$dj" --follow
sleep 1
load_stop
load_check "Django redeploy" dj-v1 dj-v2 "$(last_run)"
EOT

test_expect_success 'a commit whose container crashes: the run fails, the old release serves' <<'EOT'
load_start "http://127.0.0.1:$dport/version"
printf '\nraise SystemExit(3)\n' >>"$T/dj/mysite/wsgi.py" && djcommit crash
expect 1 "a crashing commit fails its run" -- "$W" deploy "$dj" --follow
contains "says the new container exited" "$OUT" "exited"
git -C "$T/dj" revert --no-edit -q HEAD >/dev/null 2>&1 || git -C "$T/dj" -c user.name=T -c user.email=t@e revert --no-edit HEAD >/dev/null
# a commit that never answers: the run fails after start_timeout_s, the old release serves
printf '\nimport time\ntime.sleep(3600)\n' >>"$T/dj/mysite/wsgi.py" && djcommit hang
expect 1 "a never-answering commit fails its run" -- "$W" deploy "$dj" --follow
contains "says it did not answer" "$OUT" "did not answer on port"
sleep 1
load_stop
load_check "crashing and never-answering commits" dj-v2 ""
git -C "$T/dj" -c user.name=T -c user.email=t@e revert --no-edit HEAD >/dev/null
EOT

test_expect_success 'killed in the middle of a swap: the last good release serves throughout' <<'EOT'
# ---- killed in the middle of a swap: the last good release serves throughout ----
# (webopsd is killed with -9 each time: a graceful stop also stops the
# private nginx, as it stops the embedded PostgreSQL)
n=2
for step in docker:after_start proxy-nginx:after_switch docker:before_retire; do
  addon=${step%%:*} at=${step#*:}
  n=$((n + 1))
  load_start "http://127.0.0.1:$sport/"
  kill -9 "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null
  commit_repo "$T/site" "v$n"
  var=WEBOPS_DOCKER_FAULT_PAUSE; [ "$addon" = proxy-nginx ] && var=WEBOPS_PROXY_NGINX_FAULT_PAUSE
  env "$var=$at" "$BIN/webopsd" --workers 1 >>"$T/webopsd.log" 2>&1 &
  DAEMON_PID=$!; _pids+=("$DAEMON_PID")
  wait_ready "$DAEMON_PID" || exit 1
  expect 0 "deploy v$n, to be killed $at" -- "$W" deploy "$site"
  run=$(q "SELECT max(id) FROM runs")
  for i in $(seq 600); do
    q "SELECT text FROM run_logs WHERE run_id = $run" | grep -q "fault pause: $at" && break
    sleep 0.1
  done
  q "SELECT text FROM run_logs WHERE run_id = $run" | grep -q "fault pause: $at" && ok "paused $at" || bad "never paused $at"
  kill -9 "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null
  sleep 2
  start_daemon --workers 1 || exit 1
  expect 0 "deploy again after the kill ($at)" -- "$W" deploy "$site" --follow
  sleep 1
  load_stop
  prev="v$((n - 1))"
  load_check "killed $at, then deployed again" "<h1>$prev</h1>" "<h1>v$n</h1>" "$(last_run)"
  [ "$(curl -s "http://127.0.0.1:$sport/")" = "<h1>v$n</h1>" ] && ok "v$n serves after the deploy that followed the kill" \
    || bad "after $at: $(curl -s "http://127.0.0.1:$sport/")"
  left=$(api GET "/containers/json?all=1&filters=%7B%22label%22%3A%5B%22webops.deployment%3D$site%22%5D%7D" |
         python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
  [ "$left" = 1 ] && ok "leftovers tidied after $at (1 container)" || bad "$left containers of $site after $at"
done
stop_daemon
for i in $(seq 600); do kill -0 "$(cat "$pid_file" 2>/dev/null)" 2>/dev/null || break; sleep 0.1; done
kill -0 "$(cat "$pid_file" 2>/dev/null)" 2>/dev/null && bad "the private nginx outlived webopsd" || ok "stopping webopsd stopped its nginx"
EOT
finish
