#!/usr/bin/env bash
# The docker addon end to end through webops and webopsd against a real
# Docker engine: a static site without a Dockerfile deploys and is served by
# nginx (never its dotfiles, Dockerfile, .dockerignore or .git; gzip and
# cache headers), a new commit replaces it, a broken commit and one that
# never answers fail while the previous version keeps serving, .dockerignore
# keeps files out, health after a kill, the systemd unit, an unreachable
# engine, and path validation. Skipped (77) without an engine or the base
# images (scripts/docker-env and scripts/test-images provide them).
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
export WEBOPS_DOCKER_START_TIMEOUT_S=6
# static sites are served by nginx (the stand-in for nginx:alpine)
export WEBOPS_DOCKER_STATIC_BASE_IMAGE=$nginximg

name="dk$$"
port=$(free_port)
cleanup_docker() { remove_deployment_docker "$name"; }
at_exit 'cleanup_docker'
page() { curl -s --max-time 5 "http://127.0.0.1:$port$1"; }
containers() { # names of the deployment's containers
  api GET "/containers/json?all=1&filters=%7B%22label%22%3A%5B%22webops.deployment%3D$name%22%5D%7D" |
    python3 -c 'import json,sys; print(" ".join(sorted(c["Names"][0].lstrip("/") for c in json.load(sys.stdin))))'
}

make_repo "$T/repo"
# what a static site must never serve, and what it must
printf 'SECRET=1\n' >"$T/repo/.env"
mkdir -p "$T/repo/css" "$T/repo/.well-known"
for i in $(seq 40); do echo "body { color: #123456; }"; done >"$T/repo/css/site.css"
printf 'Contact: mailto:security@example.com\n' >"$T/repo/.well-known/security.txt"
git -C "$T/repo" add -A
git -C "$T/repo" -c user.name=Test -c user.email=test@example.com commit -qm "site files"
expect 0 "create a docker deployment" -- "$W" deployment create --name "$name" --repo "file://$T/repo" \
  --env 'GREETING=100% "sure" $HOME it'"'"'s  two  spaces' \
  --set use_docker=true --set docker_ports="[\"127.0.0.1:$port:80\"]"
expect 1 "dockerfile_path leaving the repository is refused" -- "$W" deployment create --name "${name}x" \
  --repo "file://$T/repo" --set use_docker=true --set dockerfile_path=../../etc/passwd
contains "names the field" "$ERR" "dockerfile_path"
start_daemon --workers 1 || exit 1
EOT

test_expect_success 'a static site without a Dockerfile' <<'EOT'
expect 0 "deploy the static site" -- "$W" deploy "$name" --follow
contains "says which Dockerfile it generated" "$OUT" "generated one for a static project (index.html)"
contains "and its nginx.conf" "$OUT" "generated .webops/nginx.conf: nginx serves the repository's root only"
contains "build output in the log" "$OUT" "Successfully built"
contains "ready when it answers HTTP (GET /, twice)" "$OUT" "readiness: GET / on 127.0.0.1:$port: status 200"
[ "$(page /)" = "<h1>v1</h1>" ] && ok "serves index.html on 127.0.0.1:$port" || bad "page: '$(page /)'; log: $OUT"
hdrs=$(curl -s -o /dev/null -D - "http://127.0.0.1:$port/")
contains "served by nginx" "$hdrs" "Server: nginx"
contains "pages are revalidated" "$hdrs" "Cache-Control: no-cache"
hdrs=$(curl -s -o /dev/null -D - -H 'Accept-Encoding: gzip' "http://127.0.0.1:$port/css/site.css")
contains "assets are cached" "$hdrs" "Cache-Control: public, max-age=604800"
contains "and compressed" "$hdrs" "Content-Encoding: gzip"
for f in /.env /Dockerfile /.dockerignore /.git/config /.webops/nginx.conf; do
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port$f")
  [ "$code" = 404 ] && ok "does not serve $f (404)" || bad "$f answered HTTP $code"
done
[ "$(page /.well-known/security.txt)" = "Contact: mailto:security@example.com" ] && ok "serves /.well-known/" \
  || bad ".well-known: '$(page /.well-known/security.txt)'"
# image_ls PATH: what the serving container's image holds at PATH (a throwaway container)
image_ls() {
  python3 - "$sock" "$(json_get "$(api GET "/containers/webops-$name/json")" "j['Image']")" "$1" <<'PY'
import http.client, json, socket, sys
class U(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX); self.sock.connect(sys.argv[1])
def call(m, p, b=None):
    c = U("localhost")
    c.request(m, p, json.dumps(b) if b is not None else None, {"Content-Type": "application/json"})
    r = c.getresponse(); return r.status, r.read()
st, body = call("POST", "/containers/create", {"Image": sys.argv[2], "Entrypoint": ["/bin/sh", "-c"],
                "Cmd": ["ls -A " + sys.argv[3]]})
cid = json.loads(body)["Id"]
call("POST", "/containers/%s/start" % cid); call("POST", "/containers/%s/wait" % cid)
st, logs = call("GET", "/containers/%s/logs?stdout=1" % cid)
call("DELETE", "/containers/%s?force=1" % cid)
out, i = b"", 0
while i + 8 <= len(logs):
    n = int.from_bytes(logs[i + 4:i + 8], "big"); out += logs[i + 8:i + 8 + n]; i += 8 + n
print(" ".join(sorted(out.decode().split())))
PY
}
[ "$(image_ls /srv/site)" = ".well-known css index.html" ] && ok "the image holds the site and nothing else" \
  || bad "the image's site directory holds: $(image_ls /srv/site)"
[ "$(containers)" = "webops-$name" ] && ok "one container" || bad "containers: $(containers)"
env_json=$(api GET "/containers/webops-$name/json")
[ "$(json_get "$env_json" "[e for e in j['Config']['Env'] if e.startswith('GREETING=')][0]")" = 'GREETING=100% "sure" $HOME it'"'"'s  two  spaces' ] \
  && ok "env value reaches the container unchanged" || bad "env: $(json_get "$env_json" "j['Config']['Env']")"
first_id=$(json_get "$env_json" "j['Id']")
EOT

test_expect_success 'a new commit replaces it; the old container is gone' <<'EOT'
commit_repo "$T/repo" v2
# another deployment may not build into this one's image repository
expect 1 "an image repository of another deployment is refused" -- "$W" deployment create "${name}x" \
  --repo "file://$T/repo" --set use_docker=true --set docker_image_name="webops/$name"
contains "names the deployment it belongs to" "$ERR" "docker_image_name: 'webops/$name' holds the images of deployment '$name'"
expect 0 "deploy a new commit" -- "$W" deploy "$name" --follow
[ "$(page /)" = "<h1>v2</h1>" ] && ok "serves the new commit" || bad "page after v2: '$(page /)'"
[ "$(containers)" = "webops-$name" ] && ok "the old container is gone" || bad "containers: $(containers)"
[ "$(json_get "$(api GET "/containers/webops-$name/json")" "j['Id']")" != "$first_id" ] && ok "a new container" || bad "same container"
EOT

test_expect_success 'a commit whose container exits at once fails; v2 keeps serving' <<'EOT'
printf 'FROM %s\nCMD ["/bin/sh", "-c", "echo broken release; exit 3"]\n' "$base" >"$T/repo/Dockerfile"
git -C "$T/repo" add Dockerfile
git -C "$T/repo" -c user.name=Test -c user.email=test@example.com commit -qm broken
expect 1 "a broken commit fails the run" -- "$W" deploy "$name" --follow
contains "says why" "$OUT" "the new container exited"
contains "says the previous version stays" "$OUT" "the previous version keeps running"
contains "shows the container's output" "$OUT" "broken release"
[ "$(page /)" = "<h1>v2</h1>" ] && ok "the previous version still answers" || bad "page after broken: '$(page /)'"
[ "$(containers)" = "webops-$name" ] && ok "no leftover container" || bad "containers: $(containers)"
EOT

test_expect_success 'a commit whose container runs but never answers on its port fails too' <<'EOT'
printf 'FROM %s\nCMD ["sleep", "3600"]\n' "$base" >"$T/repo/Dockerfile"
git -C "$T/repo" -c user.name=Test -c user.email=test@example.com commit -qam "never answers"
expect 1 "a commit that never answers fails the run" -- "$W" deploy "$name" --follow
contains "says it did not answer" "$OUT" "the new container did not answer on port 80 within 6 s"
contains "says the previous version stays" "$OUT" "the previous version keeps running"
contains "logs the probes" "$OUT" "readiness: GET / on 127.0.0.1:$port"
[ "$(page /)" = "<h1>v2</h1>" ] && ok "the previous version still answers" || bad "page after never-answering: '$(page /)'"
[ "$(containers)" = "webops-$name" ] && ok "no leftover container" || bad "containers: $(containers)"
EOT

test_expect_success 'a base image that cannot be pulled (no registry here): named, with its line' <<'EOT'
printf '# a comment\nFROM webops-test/not-here:never\nCMD ["true"]\n' >"$T/repo/Dockerfile"
git -C "$T/repo" -c user.name=Test -c user.email=test@example.com commit -qam "unpullable base"
expect 1 "a base image that cannot be pulled fails the run" -- "$W" deploy "$name" --follow
contains "...naming the image and its FROM line" "$OUT" "a base image cannot be pulled (no registry answers, or it does not have it): 'webops-test/not-here:never' (Dockerfile line 2)"
contains "...and what to do" "$OUT" "or change the FROM line to an image it has"
[ "$(page /)" = "<h1>v2</h1>" ] && ok "the previous version still answers" || bad "page: '$(page /)'"
EOT

test_expect_success 'a release command (the Procfile'\''s release: line) runs once in the new' <<'EOT'
# 3e. a release command (the Procfile's release: line) runs once in the new
# image before it takes traffic; when it fails, the deploy fails and the
# previous release keeps serving
printf 'FROM %s\nCOPY index.html /www/index.html\nCMD ["/bin/sh", "-c", "exec busybox httpd -f -p ${PORT:-80} -h /www"]\n' \
  "$base" >"$T/repo/Dockerfile"
printf 'release: echo "release sees $GREETING"; test -f /www/index.html && echo migrated\n' >"$T/repo/Procfile"
echo "<h1>released</h1>" >"$T/repo/index.html"
git -C "$T/repo" add -A
git -C "$T/repo" -c user.name=Test -c user.email=test@example.com commit -qm "with a release command"
expect 0 "a deploy with a release command" -- "$W" deploy "$name" --follow
contains "...runs it from the Procfile" "$OUT" "the release command comes from the Procfile's release: line"
contains "...in the new image, with the app's env" "$OUT" "release: release sees 100% \"sure\""
contains "...before the new release takes traffic" "$OUT" "release command done in"
[ "$(page /)" = "<h1>released</h1>" ] && ok "...then the new release serves" || bad "page: '$(page /)'"
printf 'release: echo "about to fail"; exit 4\n' >"$T/repo/Procfile"
echo "<h1>never</h1>" >"$T/repo/index.html"
git -C "$T/repo" -c user.name=Test -c user.email=test@example.com commit -qam "a failing release command"
expect 1 "a failing release command fails the deploy" -- "$W" deploy "$name" --follow
contains "...saying so" "$OUT" "the release command exited with code 4 (its output is above); the previous release keeps serving"
contains "...with its output" "$OUT" "release: about to fail"
[ "$(page /)" = "<h1>released</h1>" ] && ok "...and the previous release keeps serving" || bad "page: '$(page /)'"
expect 0 "the deployment's release_command wins over the Procfile" -- "$W" deployment update "$name" --set release_command='echo from the field'
expect 0 "...deploy" -- "$W" deploy "$name" --follow
contains "...runs the field's" "$OUT" "release: from the field"
expect 0 "...back to none" -- "$W" deployment update "$name" --set release_command=
git -C "$T/repo" rm -q Procfile
git -C "$T/repo" -c user.name=Test -c user.email=test@example.com commit -qm "no Procfile"
[ "$(containers)" = "webops-$name" ] && ok "no release container is left" || bad "containers: $(containers)"
EOT

test_expect_success 'a repository Dockerfile that EXPOSEs 8081 and listens there, whatever' <<'EOT'
# 3d. a repository Dockerfile that EXPOSEs 8081 and listens there, whatever
# PORT says, for a deployment that only names its port: reached on that port
expect 0 "the deployment names its port only (no docker_ports; no proxy)" -- "$W" deployment update "$name" --port "$port" \
  --set docker_ports='[]' --set proxy=false
printf 'FROM %s\nCOPY index.html /www/index.html\nEXPOSE 8081\nCMD ["busybox", "httpd", "-f", "-p", "8081", "-h", "/www"]\n' \
  "$base" >"$T/repo/Dockerfile"
echo "<h1>exposed</h1>" >"$T/repo/index.html"
git -C "$T/repo" -c user.name=Test -c user.email=test@example.com commit -qam "EXPOSE 8081, no PORT"
expect 0 "a Dockerfile that EXPOSEs 8081 and ignores PORT deploys" -- "$W" deploy "$name" --follow
contains "...saying where the app listens" "$OUT" "the image EXPOSEs 8081: the app listens there (PORT=8081); the deployment's port $port stays the one it is reached on"
[ "$(page /)" = "<h1>exposed</h1>" ] && ok "...and serves on the deployment's port $port" || bad "page: '$(page /)'"
expect 0 "back to docker_ports" -- "$W" deployment update "$name" --set docker_ports="[\"127.0.0.1:$port:80\"]"
EOT

test_expect_success '.dockerignore keeps listed files out of the image' <<'EOT'
git -C "$T/repo" rm -q Dockerfile
echo "top secret" >"$T/repo/secret.txt"
# .webops too: the generated nginx.conf is sent whatever .dockerignore says
printf '# keep secrets out\nsecret.txt\n.webops\n' >"$T/repo/.dockerignore"
git -C "$T/repo" add -A
commit_repo "$T/repo" v3
expect 0 "deploy with a .dockerignore" -- "$W" deploy "$name" --follow
[ "$(page /)" = "<h1>v3</h1>" ] && ok "serves v3" || bad "page v3: '$(page /)'"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/secret.txt")
[ "$code" = 404 ] && ok ".dockerignore kept secret.txt out (HTTP $code)" || bad "secret.txt answered HTTP $code"
EOT

test_expect_success 'health, and after a kill' <<'EOT'
expect 0 "health of a running container" -- "$W" hook run health "$name"
api POST "/containers/webops-$name/kill" >/dev/null
"$W" hook run health "$name" >"$T/out" 2>&1
contains "health after the container is killed: unhealthy" "$(cat "$T/out")" "unhealthy: webops-$name exited with code 137"
contains "health outputs" "$(cat "$T/out")" "status=exited"
expect 0 "start brings it back" -- "$W" hook run start "$name"
sleep 0.5
[ "$(page /)" = "<h1>v3</h1>" ] && ok "serves again after start" || bad "page after start: '$(page /)'"
EOT

test_expect_success 'the systemd unit' <<'EOT'
unit="$T/units/webops-$name.service"
[ -f "$unit" ] && ok "unit written" || bad "no unit at $unit"
contains "unit runs the container" "$(cat "$unit")" "run --rm --name \"webops-$name\""
if command -v systemd-analyze >/dev/null && [ -x /usr/bin/docker ]; then
  v=$(systemd-analyze verify --man=no "$unit" 2>&1 | grep -v 'docker.service\|network-online' )
  [ -z "$v" ] && ok "systemd-analyze verify passes" || bad "systemd-analyze verify: $v"
fi
contains "env value escaped for systemd" "$(cat "$unit")" 'Environment="GREETING=100%% \"sure\" $HOME it'"'"'s  two  spaces"'
EOT

test_expect_success 'a unit that cannot be written (a full disk) fails the deploy before' <<'EOT'
# 6b. a unit that cannot be written (a full disk) fails the deploy before
# the new release is recorded: the previous one keeps serving, the unit
# still names its image (a real full filesystem over the units directory:
# a tiny tmpfs, root only)
if [ "$(id -u)" -eq 0 ] && cp "$unit" "$T/unit.before" && mount -t tmpfs -o size=64k tmpfs "$T/units" 2>/dev/null; then
  cp "$T/unit.before" "$unit"
  dd if=/dev/zero of="$T/units/fill" bs=4k count=64 2>/dev/null
  commit_repo "$T/repo" v4
  expect 1 "a deploy whose unit cannot be written fails" -- "$W" deploy "$name" --follow
  contains "says why" "$OUT" "cannot write the systemd unit"
  contains "says the previous release stays" "$OUT" "the previous version keeps running"
  [ "$(page /)" = "<h1>v3</h1>" ] && ok "the previous release keeps serving" || bad "page: '$(page /)'"
  cmp -s "$unit" "$T/unit.before" && ok "the unit still names the release that serves" || bad "unit changed"
  umount "$T/units"
  git -C "$T/repo" -c user.name=T -c user.email=t@e revert --no-edit HEAD >/dev/null
fi
EOT

test_expect_success 'an unreachable engine fails fast, naming the socket' <<'EOT'
expect 0 "point the addon at a dead socket" -- "$W" addon config docker docker_host=unix://$T/no-docker.sock
start=$(date +%s%N)
expect 1 "deploy without an engine fails" -- "$W" deploy "$name" --follow
ms=$(( ($(date +%s%N) - start) / 1000000 ))
contains "says Docker is not available" "$OUT" "Docker is not available: cannot connect to unix://$T/no-docker.sock"
[ "$ms" -lt 5000 ] && ok "fails in ${ms} ms (< 5 s)" || bad "took ${ms} ms"
expect 0 "restore the engine setting" -- "$W" addon config docker --unset docker_host
[ "$(page /)" = "<h1>v3</h1>" ] && ok "still serving" || bad "page: '$(page /)'"
EOT

test_expect_success 'delete removes the container, the unit and the images' <<'EOT'
expect 0 "delete hook" -- "$W" hook run delete "$name"
[ -z "$(containers)" ] && ok "containers removed" || bad "containers left: $(containers)"
[ ! -e "$unit" ] && ok "unit removed" || bad "unit left"
left=$(api GET "/images/json?filters=%7B%22label%22%3A%5B%22webops.deployment%3D$name%22%5D%7D" | json_get "$(cat)" "len(j)")
[ "$left" = 0 ] && ok "images removed" || bad "$left images left"

stop_daemon
EOT
finish
