#!/usr/bin/env bash
# The docker addon's health hook against a real Docker engine: a running
# container reports CPU % and memory (cpu_percent, memory_bytes,
# memory_limit_bytes) that follow a CPU burn inside it; a killed one fails
# with its exit code; a container the kernel OOM-killed says so;
# `webops deployment restart` (stop, then start: the addon has no restart
# hook) brings it back. Skipped (77) without an engine or the base images
# (scripts/docker-env and scripts/test-images provide them).
# ctest-resources: docker
. "$(dirname "$0")/lib.sh"
test_setup 'the deployment and what it needs' <<'EOT'
need_db

need_docker
need_images

export WEBOPS_DATABASE_URL=$(new_db)
export WEBOPS_DATA_DIR=$T/data
export WEBOPS_ADDONS_PATH=${WEBOPS_BUILD_DIR:?}/addons
export WEBOPS_DOCKER_START_GRACE_S=2
# static sites are served by nginx (the stand-in for nginx:alpine)
export WEBOPS_DOCKER_STATIC_BASE_IMAGE=$nginximg

name="dh$$"
oom="${name}oom"
port=$(free_port)
cleanup_docker() {
  api DELETE "/containers/webops-$oom?force=1" >/dev/null 2>&1
  remove_deployment_docker "$name" "$oom"
}
at_exit 'cleanup_docker'
page() { curl -s --max-time 5 "http://127.0.0.1:$port$1"; }
# api_json METHOD PATH JSON: like api, with a JSON body
api_json() { curl -sf --max-time 30 --unix-socket "$sock" -X "$1" -H 'Content-Type: application/json' -d "$3" "http://localhost$2"; }
# health NAME: `webops hook run health NAME --json`; report in $H, exit code in $HRC, milliseconds in $HMS
health() {
  local start=$(date +%s%N)
  H=$("$W" hook run health "$1" --json 2>"$T/health.err")
  HRC=$?
  HMS=$(( ($(date +%s%N) - start) / 1000000 ))
}
# out KEY: the docker addon's output KEY in $H ("" when absent)
out() { json_get "$H" "j.get('outputs', {}).get('docker', {}).get('$1', '')"; }

make_repo "$T/repo"
expect 0 "create a docker deployment" -- "$W" deployment create --name "$name" --repo "file://$T/repo" \
  --set use_docker=true --set docker_ports="[\"127.0.0.1:$port:80\"]"
start_daemon --workers 1 || exit 1
expect 0 "deploy the static site" -- "$W" deploy "$name" --follow
[ "$(page /)" = "<h1>v1</h1>" ] && ok "serves index.html" || bad "page: '$(page /)'; log: $OUT"
EOT

test_expect_success 'a running container: healthy, with its resource use' <<'EOT'
health "$name"
[ "$HRC" -eq 0 ] && ok "health of a running container passes" || bad "health exit $HRC: $H $(cat "$T/health.err")"
[ "$(json_get "$H" "j['healthy']")" = True ] && ok "the report says healthy" || bad "report: $H"
cpu=$(out cpu_percent); mem=$(out memory_bytes); lim=$(out memory_limit_bytes)
[[ "$cpu" =~ ^[0-9]+\.[0-9][0-9]$ ]] && ok "cpu_percent is decimal text ($cpu)" || bad "cpu_percent '$cpu' in $H"
[[ "$mem" =~ ^[0-9]+$ ]] && [ "$mem" -gt 0 ] && ok "memory_bytes > 0 ($mem)" || bad "memory_bytes '$mem' in $H"
[[ "$lim" =~ ^[0-9]+$ ]] && [ "$lim" -gt "$mem" ] && ok "memory_limit_bytes above memory_bytes ($lim)" \
  || bad "memory_limit_bytes '$lim' (memory_bytes '$mem')"
# the engine's own usage figure, cache included, bounds the one without cache
raw=$(api GET "/containers/webops-$name/stats?stream=false&one-shot=true" | json_get "$(cat)" "j['memory_stats']['usage']" 2>/dev/null)
[ -n "$raw" ] && [ "$mem" -le $((raw + 1048576)) ] && ok "memory_bytes is within the engine's usage ($raw)" \
  || bad "memory_bytes $mem, engine usage '$raw'"
[ "$(out oom_killed)" = false ] && ok "oom_killed=false" || bad "oom_killed '$(out oom_killed)'"
[ "$(out restart_count)" = 0 ] && ok "restart_count=0" || bad "restart_count '$(out restart_count)'"
[ -z "$(out exit_code)" ] && ok "no exit_code while running" || bad "exit_code '$(out exit_code)' while running"
[ "$(out status)" = running ] && ok "status=running" || bad "status '$(out status)'"
# the engine takes about a second for two CPU samples; far from the 30 s timeout
[ "$HMS" -lt 10000 ] && ok "health took ${HMS} ms (< 10 s)" || bad "health took ${HMS} ms"
EOT

test_expect_success 'CPU % follows a busy loop started inside the container (one CPU busy: about 100)' <<'EOT'
exec_id=$(api_json POST "/containers/webops-$name/exec" \
  '{"Cmd":["sh","-c","while :; do :; done & sleep 6; kill $!"],"AttachStdout":false,"AttachStderr":false}' |
  json_get "$(cat)" "j['Id']")
api_json POST "/exec/$exec_id/start" '{"Detach":true}' >/dev/null
sleep 1
health "$name"
busy=$(out cpu_percent)
python3 -c "import sys; sys.exit(0 if 20.0 <= float('$busy') <= 250.0 else 1)" 2>/dev/null \
  && ok "cpu_percent during a busy loop: $busy (one CPU = 100)" || bad "cpu_percent during a busy loop: '$busy'"
[ "$(out online_cpus)" -ge 1 ] 2>/dev/null && ok "online_cpus=$(out online_cpus)" || bad "online_cpus '$(out online_cpus)'"
sleep 6
EOT

test_expect_success 'killed: unhealthy, with the exit code, and no resource figures' <<'EOT'
api POST "/containers/webops-$name/kill" >/dev/null
health "$name"
[ "$HRC" -ne 0 ] && ok "health after a kill exits non-zero ($HRC)" || bad "health after a kill exited 0: $H"
contains "says exited with code 137" "$H" "unhealthy: webops-$name exited with code 137"
[ "$(out exit_code)" = 137 ] && ok "exit_code=137" || bad "exit_code '$(out exit_code)'"
[ "$(out oom_killed)" = false ] && ok "a kill is not an OOM kill" || bad "oom_killed '$(out oom_killed)'"
[ -z "$(out cpu_percent)$(out memory_bytes)" ] && ok "no resource figures for a stopped container" \
  || bad "resource figures for a stopped container: $H"
expect 1 "text mode: health fails" -- "$W" hook run health "$name"
contains "text mode names the exit code" "$OUT$ERR" "exited with code 137"
[[ "$OUT$ERR" != *"OOM-killed"* ]] && ok "text mode: not OOM-killed" || bad "says OOM-killed: $OUT$ERR"
EOT

test_expect_success 'restart (stop, then start) brings it back' <<'EOT'
expect 0 "webops deployment restart" -- "$W" deployment restart "$name"
health "$name"
[ "$HRC" -eq 0 ] && ok "health passes after the restart" || bad "health after restart: exit $HRC: $H"
[ -n "$(out cpu_percent)" ] && [ "$(out memory_bytes)" -gt 0 ] 2>/dev/null && ok "resource figures again" \
  || bad "no resource figures after restart: $H"
for i in $(seq 240); do [ "$(page /)" = "<h1>v1</h1>" ] && break; sleep 0.25; done
[ "$(page /)" = "<h1>v1</h1>" ] && ok "serves again after the restart" || bad "page after restart: '$(page /)'"
expect 0 "restart of a running deployment" -- "$W" deployment restart "$name"
health "$name"
[ "$HRC" -eq 0 ] && ok "health passes after restarting a running container" || bad "health: exit $HRC: $H"
EOT

test_expect_success 'a container the kernel OOM-killed (16 MiB limit, a process that keeps' <<'EOT'
# 5. a container the kernel OOM-killed (16 MiB limit, a process that keeps
# reading /dev/zero into memory as PID 1)
expect 0 "create a second docker deployment" -- "$W" deployment create --name "$oom" --repo "file://$T/repo" \
  --set use_docker=true
api_json POST "/containers/create?name=webops-$oom" \
  "{\"Image\":\"$base\",\"Cmd\":[\"sh\",\"-c\",\"exec tail /dev/zero\"],\"HostConfig\":{\"Memory\":16777216,\"MemorySwap\":16777216}}" >/dev/null
api POST "/containers/webops-$oom/start" >/dev/null
for i in $(seq 240); do
  [ "$(api GET "/containers/webops-$oom/json" | json_get "$(cat)" "j['State']['Status']")" = exited ] && break
  sleep 0.25
done
health "$oom"
[ "$HRC" -ne 0 ] && ok "health of an OOM-killed container fails" || bad "health exited 0: $H"
contains "says exited with code 137 (OOM-killed)" "$H" "exited with code 137 (OOM-killed)"
[ "$(out oom_killed)" = true ] && ok "oom_killed=true" || bad "oom_killed '$(out oom_killed)'"
[ "$(out exit_code)" = 137 ] && ok "exit_code=137" || bad "exit_code '$(out exit_code)'"
EOT

test_expect_success 'no container at all' <<'EOT'
api DELETE "/containers/webops-$oom?force=1" >/dev/null
health "$oom"
[ "$HRC" -ne 0 ] && ok "health without a container fails" || bad "health exited 0: $H"
[ "$(out status)" = missing ] && ok "status=missing" || bad "status '$(out status)'"

expect 0 "delete hook" -- "$W" hook run delete "$name"
stop_daemon
EOT
finish
