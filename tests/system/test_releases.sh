#!/usr/bin/env bash
# Releases, rollback and pruning through webops and webopsd against a real
# Docker engine: every deploy that succeeds records a release; `webops
# rollback NAME --to N` serves release N's content again with no build (the
# engine's image list shows no new image) and is a release of its own; five
# deploys with keep_releases=3 leave three release images, and the running
# one is never removed; `deployment prune` on demand; a rollback to a release
# whose image is gone says so and how to rebuild it. Limits: docker_memory,
# docker_cpus, docker_restart_policy and docker_gpus reach the container
# (seen in its inspect output; a GPU request meets the engine's own error
# when there is no GPU) and the systemd unit; bad values are refused naming
# the field. A deployment that no runtime addon runs is 'deployed'.
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
export WEBOPS_DOCKER_START_TIMEOUT_S=20
export WEBOPS_DOCKER_STATIC_BASE_IMAGE=$nginximg

name="rel$$"
port=$(free_port)
at_exit 'remove_deployment_docker "$name" "${name}l"'
page() { curl -s --max-time 5 "http://127.0.0.1:$port/"; }
filter() { python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "{\"label\":[\"webops.deployment=$1\"]}"; }
images() { # image ids labelled with the deployment, sorted
  api GET "/images/json?filters=$(filter "$1")" | python3 -c 'import json,sys; print(" ".join(sorted(i["Id"] for i in json.load(sys.stdin))))'
}
count() { wc -w <<<"$1" | tr -d ' '; }
release_image() { # release_image N: the image id release N recorded
  "$W" releases "$name" --json | python3 -c "import json,sys; print([r for r in json.load(sys.stdin) if r['number']==$1][0]['outputs']['docker']['image_id'])"
}

make_repo "$T/repo"
expect 0 "create a docker deployment (a static site)" -- "$W" deployment create "$name" --repo "file://$T/repo" \
  --port "$port" --set use_docker=true --health-start-period 0 --health-retries 1 --health-restarts 0
start_daemon --workers 1 --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 || exit 1
MBASE=$(sed -n 's/.*metrics: serving \/metrics on \(http:[^ ]*\) .*/\1/p' "$T/webopsd.log" | head -1)

expect 0 "releases before any deploy" -- "$W" releases "$name"
contains "...says there are none yet" "$OUT" "no releases yet"
expect 1 "rollback with no release" -- "$W" rollback "$name"
contains "...says there is nothing to roll back to" "$ERR" "nothing to roll back to"
EOT

test_expect_success 'three deploys: releases 1-3' <<'EOT'
expect 0 "deploy v1" -- "$W" deploy "$name" --follow
[[ "$(page)" == *v1* ]] && ok "v1 serves" || bad "page: $(page)"
for v in v2 v3; do
  commit_repo "$T/repo" "$v"
  expect 0 "deploy $v" -- "$W" deploy "$name" --follow
done
[[ "$(page)" == *v3* ]] && ok "v3 serves" || bad "page: $(page)"
image_of() { api GET "/containers/webops-$name/json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Image"])'; }
img3=$(image_of)
expect 0 "restart" -- "$W" deployment restart "$name"
[ "$(image_of)" = "$img3" ] && [[ "$(page)" == *v3* ]] && ok "a restart keeps the same image (and v3 serves)" \
  || bad "image $img3 -> $(image_of), page $(page)"
expect 0 "webops releases" -- "$W" releases "$name"
contains "...lists release 3 as the current one" "$OUT" "* 3 "
contains "...and release 1 with its subject" "$OUT" "v1"
[ "$(grep -c '^[ *] [0-9]' <<<"$OUT")" = 3 ] && ok "...three releases" || bad "releases: $OUT"
expect 0 "webops releases --json" -- "$W" releases "$name" --json
[ "$(json_get "$OUT" 'len(j)')" = 3 ] && ok "...three records" || bad "json: $OUT"
[ "$(json_get "$OUT" 'j[2]["outputs"]["docker"]["image_id"].startswith("sha256:")')" = True ] \
  && ok "...each with its image id" || bad "json: $OUT"
[ "$(json_get "$OUT" '"FROM" in j[0]["outputs"]["docker"]["generated_dockerfile"]')" = True ] \
  && ok "...and the generated Dockerfile" || bad "no generated Dockerfile: $OUT"
EOT

test_expect_success 'rollback to release 1: its content, no build' <<'EOT'
before=$(images "$name")
expect 0 "webops rollback --to 1 --follow" -- "$W" rollback "$name" --to 1 --follow
contains "...nothing is fetched or built" "$OUT" "nothing is fetched or built"
contains "...release 1's image runs again" "$OUT" "runs again, no build"
[[ "$(page)" == *v1* ]] && ok "release 1's content serves again" || bad "page: $(page)"
[ "$(images "$name")" = "$before" ] && ok "...and no image was built" || bad "images: $before -> $(images "$name")"
expect 0 "webops runs" -- "$W" runs "$name" --limit 1
contains "...the rollback is a run with trigger rollback" "$OUT" "rollback"
expect 0 "webops releases after the rollback" -- "$W" releases "$name"
contains "...release 4 is the rollback to 1, current" "$OUT" "* 4 "
contains "...and says so" "$OUT" "rollback to 1"
expect 0 "rollback without --to: the release before the current one" -- "$W" rollback "$name" --follow
[[ "$(page)" == *v3* ]] && ok "...release 3 serves again" || bad "page: $(page)"
# a container killed behind webops' back: the engine's event is noticed and
# the deployment checked at once (its interval is 30 s)
sleep 3 # past the check a finished deploy schedules
api POST "/containers/webops-$name/kill" >/dev/null && ok "docker kill webops-$name" || bad "cannot kill"
t0=$(date +%s.%N)
# (the interval is 30 s: unhealthy well before it can only come from the
# engine's event; the time is reported, not asserted)
while [ "$(python3 -c "print(int($(date +%s.%N) - $t0))")" -lt 15 ]; do
  H=$("$W" health "$name" --json 2>/dev/null)
  [ "$(json_get "$H" 'j["state"]' 2>/dev/null)" = unhealthy ] && break
  sleep 0.1
done
took=$(python3 -c "print(round($(date +%s.%N) - $t0, 2))")
[ "$(json_get "$H" 'j["state"]')" = unhealthy ] \
  && ok "webops health --json says unhealthy ${took} s after the kill (interval 30 s)" || bad "after ${took} s: ${H:0:300}"
contains "...with the exit code" "$(json_get "$H" 'j["reason"]')" "exited with code 137"

expect 1 "rollback to a release that does not exist" -- "$W" rollback "$name" --to 99
contains "...names it" "$ERR" "has no release 99"
expect 2 "rollback --to with a bad number" -- "$W" rollback "$name" --to x
contains "...names the option" "$ERR" "option '--to': 'x'"
EOT

test_expect_success 'keep_releases=3: after five deploys in all, three release images remain' <<'EOT'
expect 0 "keep_releases=3" -- "$W" deployment update "$name" --set keep_releases=3
for v in v6 v7; do
  commit_repo "$T/repo" "$v"
  expect 0 "deploy $v" -- "$W" deploy "$name" --follow
done
contains "...the deploy says what it removed" "$OUT" "kept the images of the last 3 releases"
imgs=$(images "$name")
[ "$(count "$imgs")" = 3 ] && ok "three release images remain ($(count "$imgs"))" || bad "images: $imgs"
cur=$(release_image 7)
[[ " $imgs " == *" $cur "* ]] && ok "...the running one among them" || bad "running $cur not in $imgs"
for n in 5 6; do
  [[ " $imgs " == *" $(release_image $n) "* ]] && ok "...release $n's kept" || bad "release $n's image gone"
done
expect 1 "rollback to release 1, whose image was pruned" -- "$W" rollback "$name" --to 1 --follow
contains "...says the image is gone" "$OUT" "image"
contains "...and how to build its commit again" "$OUT" "webops deploy $name --ref"
[[ "$(page)" == *v7* ]] && ok "...v7 keeps serving" || bad "page: $(page)"
expect 0 "keep_releases=1 then deployment prune" -- "$W" deployment update "$name" --set keep_releases=1
expect 0 "webops deployment prune" -- "$W" deployment prune "$name"
contains "...says what it kept" "$ERR" "kept the images of the last 1 release"
imgs=$(images "$name")
[ "$imgs" = "$cur" ] && ok "...only the running release's image is left" || bad "images: $imgs (running $cur)"
[[ "$(page)" == *v7* ]] && ok "...which still serves" || bad "page: $(page)"
EOT

test_expect_success 'limits: validated naming the field, then in the container and the unit' <<'EOT'
for bad in "docker_memory=lots" "docker_memory=1k" "docker_cpus=0" "docker_cpus=-1" \
           "docker_restart_policy=sometimes" "docker_restart_policy=on-failure:0" "docker_gpus=a;b" \
           'docker_command=[1]'; do
  f=${bad%%=*}
  expect 1 "$bad is refused" -- "$W" deployment update "$name" --set "$bad"
  contains "...naming $f" "$ERR" "$f"
done
expect 0 "set memory, cpus, restart policy and command" -- "$W" deployment update "$name" \
  --set docker_memory=96m --set docker_cpus=0.5 --set docker_restart_policy=on-failure:4 \
  --set 'docker_command=["/bin/sh","-c","echo \"listen ${PORT};\" >/tmp/webops-listen.conf && exec nginx -c /etc/webops/nginx.conf"]'
commit_repo "$T/repo" "v8"
expect 0 "deploy with limits" -- "$W" deploy "$name" --follow
contains "...the exec-form command is said" "$OUT" "docker_command"
info=$(api GET "/containers/webops-$name/json")
[ "$(json_get "$info" 'j["HostConfig"]["Memory"]')" = $((96*1024*1024)) ] && ok "Memory is 96 MiB in the inspect" \
  || bad "Memory: $(json_get "$info" 'j["HostConfig"]["Memory"]')"
[ "$(json_get "$info" 'j["HostConfig"]["NanoCpus"]')" = 500000000 ] && ok "NanoCpus is 0.5 CPU" \
  || bad "NanoCpus: $(json_get "$info" 'j["HostConfig"]["NanoCpus"]')"
[ "$(json_get "$info" 'j["HostConfig"]["RestartPolicy"]["Name"] + ":" + str(j["HostConfig"]["RestartPolicy"]["MaximumRetryCount"])')" = "on-failure:4" ] \
  && ok "RestartPolicy is on-failure:4" || bad "RestartPolicy: $(json_get "$info" 'j["HostConfig"]["RestartPolicy"]')"
[ "$(json_get "$info" 'j["Config"]["Cmd"][2][:24]')" = 'echo "listen ${PORT};" >' ] && ok "Cmd is docker_command's list" \
  || bad "Cmd: $(json_get "$info" 'j["Config"]["Cmd"]')"
[[ "$(page)" == *v8* ]] && ok "v8 serves" || bad "page: $(page)"
unit=$T/units/webops-$name.service
grep -q -- '"--memory=100663296b" "--cpus=0.500"' "$unit" && ok "the unit runs docker with --memory and --cpus" \
  || bad "unit: $(grep ExecStart= "$unit")"
grep -q "^Restart=on-failure$" "$unit" && ok "...and Restart=on-failure" || bad "unit: $(grep Restart= "$unit")"
if command -v systemd-analyze >/dev/null; then
  out=$(systemd-analyze verify "$unit" 2>&1 | grep -v -e "docker.service" -e "Failed to prepare filename" -e "not found")
  [ -z "$out" ] && ok "systemd-analyze verify accepts the unit" || bad "verify: $out"
fi
EOT

test_expect_success 'a GPU request: sent as DeviceRequests' <<'EOT'
# a GPU request: sent as DeviceRequests; this machine has no GPU, so the
# engine refuses it and says why, and v8 keeps serving
expect 0 "docker_gpus=all" -- "$W" deployment update "$name" --set docker_gpus=all
commit_repo "$T/repo" "v9"
expect 1 "the deploy asks the engine for GPUs" -- "$W" deploy "$name" --follow
contains "...and fails with the engine's own reason" "$OUT" "could not select device driver"
[[ "$(page)" == *v8* ]] && ok "...v8 keeps serving" || bad "page: $(page)"
expect 0 "docker_gpus cleared" -- "$W" deployment update "$name" --set docker_gpus=
EOT

test_expect_success 'deployed: a deployment that no runtime addon runs' <<'EOT'
expect 0 "a deployment without docker" -- "$W" deployment create "${name}l" --repo "file://$T/repo"
expect 0 "deploy it" -- "$W" deploy "${name}l" --follow
expect 0 "show it" -- "$W" deployment show "${name}l" --json
[ "$(json_get "$OUT" 'j["status"]')" = deployed ] && ok "its status is 'deployed', not 'running'" \
  || bad "status: $(json_get "$OUT" 'j["status"]')"
expect 0 "its release is recorded" -- "$W" releases "${name}l"
contains "...release 1" "$OUT" "* 1 "
EOT

test_expect_success 'host ports: refused when stored, naming who holds them' <<'EOT'
p2=$(free_port)
expect 1 "docker_ports asking for another deployment's port" -- "$W" deployment create "${name}p" \
  --repo "file://$T/repo" --set use_docker=true --set docker_ports="[\"127.0.0.1:$port:80\"]"
contains "...names the field" "$ERR" "docker_ports: host port $port/tcp is already used by deployment '$name' (its port)"
expect 0 "a deployment publishing $p2 itself" -- "$W" deployment create "${name}p" --repo "file://$T/repo" \
  --set use_docker=true --set docker_ports="[\"0.0.0.0:$p2:80\", \"127.0.0.1:$p2:53/udp\"]"
expect 1 "another deployment's port on it" -- "$W" deployment update "${name}l" --port "$p2"
contains "...names the holder and its mapping" "$ERR" "port: host port $p2/tcp is already used by deployment '${name}p' (docker_ports 0.0.0.0:$p2:80)"
expect 0 "...nothing was changed" -- "$W" deployment show "${name}l" --json
[ "$(json_get "$OUT" 'j["port"]')" = None ] && ok "...its port is still unset" || bad "port: $(json_get "$OUT" 'j["port"]')"
p3=$(free_port)
expect 0 "a deployment's port may be one its own container publishes" -- "$W" deployment create "${name}q" \
  --repo "file://$T/repo" --port "$p3" --set use_docker=true --set docker_ports="[\"127.0.0.1:$p3:80\"]"
expect 0 "...and show --json lists where it is reached" -- "$W" deployment show "${name}q" --json
[ "$(json_get "$OUT" '[a["kind"] for a in j["addresses"]]')" = "['port', 'published']" ] && \
  [ "$(json_get "$OUT" 'j["addresses"][1]["local"]')" = True ] && ok "...its port, and the published port (this host only)" \
  || bad "addresses: $(json_get "$OUT" 'j["addresses"]')"
expect 1 "the same host port twice in one deployment" -- "$W" deployment update "${name}p" \
  --set docker_ports="[\"$p2:80\", \"$p2:81\"]"
contains "...is refused" "$ERR" "docker_ports: host port $p2/tcp is already used by docker_ports $p2:80"
expect 1 "a container on the proxy's own port 80" -- "$W" deployment update "${name}p" \
  --set docker_ports='["0.0.0.0:80:80"]'
contains "...names the proxy's setting" "$ERR" "used by the proxy-nginx addon (its setting http_port)"
EOT

test_expect_success 'the API: releases, and a rollback'\''s bad input' <<'EOT'
BASE=$(sed -n 's/.*http: listening on \(http:[^ ]*\).*/\1/p' "$T/webopsd.log" | head -1)
expect 0 "an API token" -- "$W" token create rel-ci
TOKEN=$OUT
rels=$(curl -s -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/deployments/$name/releases")
[ "$(json_get "$rels" 'len(j)')" = "$("$W" releases "$name" --json --limit 1000 | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" ] \
  && ok "GET .../releases lists what 'webops releases' does" || bad "releases: ${rels:0:300}"
st=$(curl -s -o "$T/body" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d '{"to": "x"}' "$BASE/api/v1/deployments/$name/rollback")
[ "$st" = 422 ] && grep -q '"to"' "$T/body" && ok "POST .../rollback with a bad 'to': 422 naming it" || bad "rollback x: $st $(cat "$T/body")"
st=$(curl -s -o "$T/body" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d '{"to": 99}' "$BASE/api/v1/deployments/$name/rollback")
[ "$st" = 409 ] && grep -q "has no release 99" "$T/body" && ok "...to a release that is not there: 409 saying so" \
  || bad "rollback 99: $st $(cat "$T/body")"
EOT

test_expect_success 'the engine'\''s state: running with its details' <<'EOT'
# the engine's state: running with its details; unconfigured (no socket)
# and failed, each with the reason; a deploy against them fails at once
for i in $(seq 100); do
  M=$(curl -s --max-time 5 "$MBASE/metrics")
  [[ "$M" == *'webops_addon_state{addon="docker",state="running"} 1'* ]] && break
  sleep 0.2
done
contains "/metrics has the engine's state (webopsd asks every minute)" "$M" 'webops_addon_state{addon="docker",state="running"} 1'
contains "...and 0 for the others" "$M" 'webops_addon_state{addon="docker",state="failed"} 0'
expect 0 "webops addon status docker --json" -- "$W" addon status docker --json
[ "$(json_get "$OUT" 'j["docker"]["state"]')" = running ] && ok "...the engine is running" || bad "status: $OUT"
[ "$(json_get "$OUT" 'all(k in j["docker"] for k in ("version","api_version","storage_driver","cgroup_version","nvidia"))')" = True ] \
  && ok "...with its version, API, storage driver, cgroup version and nvidia runtime" || bad "status: $OUT"
expect 1 "with no socket there" -- env DOCKER_HOST="unix://$T/none.sock" "$W" addon status docker
contains "...it is unconfigured" "$OUT" "docker: unconfigured"
contains "...saying why" "$OUT" "No such file or directory"
expect 1 "an engine that does not answer" -- env DOCKER_HOST="tcp://127.0.0.1:1" "$W" addon status docker
contains "...has failed" "$OUT" "docker: failed"
expect 1 "pre_deploy with no engine" -- env DOCKER_HOST="unix://$T/none.sock" "$W" hook run pre_deploy "$name" --source "$T/repo"
contains "...fails at once with the engine's state" "$OUT$ERR" "the Docker engine is unconfigured"
expect 0 "the state as this host's engine has it again" -- "$W" addon status docker

stop_daemon
EOT
finish
