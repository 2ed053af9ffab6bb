#!/usr/bin/env bash
# The health scheduler with the docker addon and a real engine: a deployed
# static site is healthy (its checks carry CPU and memory); `docker kill` of
# its container is noticed within one interval, the deployment is restarted
# through the addon's stop and start hooks, and the site answers again.
# Skipped (77) without an engine or the base image (scripts/docker-env).
# ctest-resources: docker
. "$(dirname "$0")/lib.sh"
test_setup 'the deployment and what it needs' <<'EOT'
need_db
need_docker

export WEBOPS_DATABASE_URL=$(new_db)
export WEBOPS_DATA_DIR=$T/data
export WEBOPS_ADDONS_PATH=${WEBOPS_BUILD_DIR:?}/addons
export WEBOPS_DOCKER_START_GRACE_S=1

name="hd$$"
port=$(free_port)
cleanup_docker() { remove_deployment_docker "$name"; }
at_exit 'cleanup_docker'
page() { curl -s --max-time 2 "http://127.0.0.1:$port$1"; }
q() { psql -qAtX "$WEBOPS_DATABASE_URL" -c "$1"; }
state() { q "SELECT state FROM health_state h JOIN deployments d ON d.id = h.deployment_id WHERE d.name = '$name'"; }

make_repo "$T/repo"
interval=3
expect 0 "create a docker deployment with health settings" -- "$W" deployment create --name "$name" \
  --repo "file://$T/repo" --set use_docker=true --set docker_ports="[\"127.0.0.1:$port:80\"]" \
  --health-interval "$interval" --health-timeout 3 --health-retries 1 --health-start-period 0
start_daemon --workers 1 || exit 1
expect 0 "deploy the static site" -- "$W" deploy "$name" --follow
[ "$(page /)" = "<h1>v1</h1>" ] && ok "serves index.html" || bad "page: '$(page /)'"

for i in $(seq 600); do [ "$(state)" = healthy ] && break; sleep 0.1; done
[ "$(state)" = healthy ] && ok "the running container is healthy" || bad "state $(state): $(q "SELECT reason FROM health_state")"
expect 0 "checks carry resource use" -- q "SELECT cpu_percent IS NOT NULL, memory_bytes > 0 FROM health_checks ORDER BY id DESC LIMIT 1"
[ "$OUT" = "t|t" ] && ok "cpu and memory recorded with the check" || bad "check: $OUT"
EOT

test_expect_success 'kill the container behind webops'\'' back' <<'EOT'
cid=$(api GET "/containers/webops-$name/json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Id"])')
t0=$(date +%s.%N)
api POST "/containers/webops-$name/kill" >/dev/null && ok "docker kill" || bad "cannot kill"
for i in $(seq 200); do
  [ "$(q "SELECT count(*) FROM health_events e JOIN deployments d ON d.id = e.deployment_id WHERE d.name = '$name' AND kind = 'state' AND state = 'unhealthy'")" -ge 1 ] && break
  sleep 0.05
done
t1=$(date +%s.%N)
noticed=$(python3 -c "print(round($t1 - $t0, 1))")
python3 -c "import sys; sys.exit(0 if $noticed <= $interval * 1.1 + 1 else 1)" \
  && ok "the kill was noticed within one interval (${noticed} s, interval ${interval} s)" || bad "noticed after ${noticed} s"
expect 0 "why" -- q "SELECT reason FROM health_checks WHERE NOT ok ORDER BY id DESC LIMIT 1"
contains "the check says the container exited" "$OUT" "exited with code 137"
for i in $(seq 600); do [ "$(state)" = healthy ] && break; sleep 0.1; done
[ "$(state)" = healthy ] && ok "healthy again after the automatic restart" || bad "state $(state)"
expect 0 "restart recorded" -- q "SELECT kind, reason FROM health_events WHERE kind LIKE 'restart%'"
contains "restarted, with the reason" "$OUT" "restart|restarted after 1 failed check: addon 'docker' hook 'health'"
[ "$(page /)" = "<h1>v1</h1>" ] && ok "the site answers again" || bad "page after restart: '$(page /)'"
running=$(api GET "/containers/webops-$name/json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["State"]["Running"])')
[ "$running" = True ] && ok "the container runs again" || bad "container state: $running"
stop_daemon
EOT
finish
