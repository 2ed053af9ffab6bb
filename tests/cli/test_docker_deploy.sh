#!/usr/bin/env bash
# The docker addon end to end through webops and webopsd against a real
# Docker engine: a static site without a Dockerfile deploys and serves, a new
# commit replaces it, a broken commit fails while the previous version keeps
# serving, .dockerignore keeps files out, health after a kill, the systemd
# unit, an unreachable engine, and path validation. Skipped (77) without an
# engine or the base image (scripts/docker-env provides both).
. "$(dirname "$0")/lib.sh"
need_db

need_docker

export WEBOPS_DATABASE_URL=$(new_db)
export WEBOPS_DATA_DIR=$T/data
export WEBOPS_ADDONS_PATH=${WEBOPS_BUILD_DIR:?}/addons
export WEBOPS_DOCKER_START_GRACE_S=2

name="dk$$"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup_docker() {
  api DELETE "/containers/webops-$name?force=1" >/dev/null 2>&1
  api DELETE "/containers/webops-$name-previous?force=1" >/dev/null 2>&1
  for t in $(api GET "/images/json?filters=%7B%22label%22%3A%5B%22webops.deployment%3D$name%22%5D%7D" 2>/dev/null |
             python3 -c 'import json,sys; [print(i["Id"]) for i in json.load(sys.stdin)]' 2>/dev/null); do
    api DELETE "/images/$t?force=1" >/dev/null 2>&1
  done
}
trap 'cleanup_docker; _cleanup' EXIT
page() { curl -s --max-time 5 "http://127.0.0.1:$port$1"; }
containers() { # names of the deployment's containers
  api GET "/containers/json?all=1&filters=%7B%22label%22%3A%5B%22webops.deployment%3D$name%22%5D%7D" |
    python3 -c 'import json,sys; print(" ".join(sorted(c["Names"][0].lstrip("/") for c in json.load(sys.stdin))))'
}

make_repo "$T/repo"
expect 0 "create a docker deployment" -- "$W" deployment create --name "$name" --repo "file://$T/repo" \
  --env 'GREETING=100% "sure" $HOME it'"'"'s  two  spaces' \
  --set use_docker=true --set docker_ports="[\"127.0.0.1:$port:80\"]"
expect 1 "dockerfile_path leaving the repository is refused" -- "$W" deployment create --name "${name}x" \
  --repo "file://$T/repo" --set use_docker=true --set dockerfile_path=../../etc/passwd
contains "names the field" "$ERR" "dockerfile_path"
start_daemon --workers 1 || exit 1

# 1. a static site without a Dockerfile
expect 0 "deploy the static site" -- "$W" deploy "$name" --follow
contains "says which Dockerfile it generated" "$OUT" "generated one for a static project (index.html)"
contains "build output in the log" "$OUT" "Successfully built"
[ "$(page /)" = "<h1>v1</h1>" ] && ok "serves index.html on 127.0.0.1:$port" || bad "page: '$(page /)'; log: $OUT"
[ "$(containers)" = "webops-$name" ] && ok "one container" || bad "containers: $(containers)"
env_json=$(api GET "/containers/webops-$name/json")
[ "$(json_get "$env_json" "[e for e in j['Config']['Env'] if e.startswith('GREETING=')][0]")" = 'GREETING=100% "sure" $HOME it'"'"'s  two  spaces' ] \
  && ok "env value reaches the container unchanged" || bad "env: $(json_get "$env_json" "j['Config']['Env']")"
first_id=$(json_get "$env_json" "j['Id']")

# 2. a new commit replaces it; the old container is gone
commit_repo "$T/repo" v2
expect 0 "deploy a new commit" -- "$W" deploy "$name" --follow
[ "$(page /)" = "<h1>v2</h1>" ] && ok "serves the new commit" || bad "page after v2: '$(page /)'"
[ "$(containers)" = "webops-$name" ] && ok "the old container is gone" || bad "containers: $(containers)"
[ "$(json_get "$(api GET "/containers/webops-$name/json")" "j['Id']")" != "$first_id" ] && ok "a new container" || bad "same container"

# 3. a commit whose container exits at once fails; v2 keeps serving
printf 'FROM %s\nCMD ["/bin/sh", "-c", "echo broken release; exit 3"]\n' "$base" >"$T/repo/Dockerfile"
git -C "$T/repo" add Dockerfile
git -C "$T/repo" -c user.name=Test -c user.email=test@example.com commit -qm broken
expect 1 "a broken commit fails the run" -- "$W" deploy "$name" --follow
contains "says why" "$OUT" "the new container exited"
contains "says the previous version stays" "$OUT" "the previous version keeps running"
contains "shows the container's output" "$OUT" "broken release"
[ "$(page /)" = "<h1>v2</h1>" ] && ok "the previous version still answers" || bad "page after broken: '$(page /)'"
[ "$(containers)" = "webops-$name" ] && ok "no leftover container" || bad "containers: $(containers)"

# 4. .dockerignore keeps listed files out of the image
git -C "$T/repo" rm -q Dockerfile
echo "top secret" >"$T/repo/secret.txt"
printf '# keep secrets out\nsecret.txt\n' >"$T/repo/.dockerignore"
git -C "$T/repo" add -A
commit_repo "$T/repo" v3
expect 0 "deploy with a .dockerignore" -- "$W" deploy "$name" --follow
[ "$(page /)" = "<h1>v3</h1>" ] && ok "serves v3" || bad "page v3: '$(page /)'"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/secret.txt")
[ "$code" = 404 ] && ok ".dockerignore kept secret.txt out (HTTP $code)" || bad "secret.txt answered HTTP $code"

# 5. health, and after a kill
expect 0 "health of a running container" -- "$W" hook run health "$name"
api POST "/containers/webops-$name/kill" >/dev/null
"$W" hook run health "$name" >"$T/out" 2>&1
contains "health after the container is killed: unhealthy" "$(cat "$T/out")" "unhealthy: webops-$name exited with code 137"
contains "health outputs" "$(cat "$T/out")" "status=exited"
expect 0 "start brings it back" -- "$W" hook run start "$name"
sleep 0.5
[ "$(page /)" = "<h1>v3</h1>" ] && ok "serves again after start" || bad "page after start: '$(page /)'"

# 6. the systemd unit
unit="$T/units/webops-$name.service"
[ -f "$unit" ] && ok "unit written" || bad "no unit at $unit"
contains "unit runs the container" "$(cat "$unit")" "run --rm --name \"webops-$name\""
if command -v systemd-analyze >/dev/null && [ -x /usr/bin/docker ]; then
  v=$(systemd-analyze verify --man=no "$unit" 2>&1 | grep -v 'docker.service\|network-online' )
  [ -z "$v" ] && ok "systemd-analyze verify passes" || bad "systemd-analyze verify: $v"
fi
contains "env value escaped for systemd" "$(cat "$unit")" 'Environment="GREETING=100%% \"sure\" $HOME it'"'"'s  two  spaces"'

# 7. an unreachable engine fails fast, naming the socket
expect 0 "point the addon at a dead socket" -- "$W" addon config docker docker_host=unix://$T/no-docker.sock
start=$(date +%s%N)
expect 1 "deploy without an engine fails" -- "$W" deploy "$name" --follow
ms=$(( ($(date +%s%N) - start) / 1000000 ))
contains "says Docker is not available" "$OUT" "Docker is not available: cannot connect to unix://$T/no-docker.sock"
[ "$ms" -lt 5000 ] && ok "fails in ${ms} ms (< 5 s)" || bad "took ${ms} ms"
expect 0 "restore the engine setting" -- "$W" addon config docker --unset docker_host
[ "$(page /)" = "<h1>v3</h1>" ] && ok "still serving" || bad "page: '$(page /)'"

# 8. delete removes the container, the unit and the images
expect 0 "delete hook" -- "$W" hook run delete "$name"
[ -z "$(containers)" ] && ok "containers removed" || bad "containers left: $(containers)"
[ ! -e "$unit" ] && ok "unit removed" || bad "unit left"
left=$(api GET "/images/json?filters=%7B%22label%22%3A%5B%22webops.deployment%3D$name%22%5D%7D" | json_get "$(cat)" "len(j)")
[ "$left" = 0 ] && ok "images removed" || bad "$left images left"

stop_daemon
finish
