#!/usr/bin/env bash
# The local stand-ins for python:3.11-slim and nginx:alpine that
# scripts/test-images builds behave like the official images: python and pip
# on PATH, no EXTERNALLY-MANAGED, a requirements file of Django, gunicorn and
# Flask satisfied offline in seconds; nginx serving /usr/share/nginx/html and
# a configuration dropped into conf.d or rendered from a template, logging to
# stdout, stopping on SIGQUIT. Then real apps through webops' docker addon: a
# `django-admin startproject` project and a Flask app, built from the
# generated Dockerfiles on the stand-in and answering HTTP. Skipped (77)
# without an engine or the images (scripts/docker-env, scripts/test-images).
# ctest-resources: docker
. "$(dirname "$0")/lib.sh"
test_setup 'the deployment and what it needs' <<'EOT'
need_db
need_docker
need_images

json() { python3 -c "import json,sys; j=json.load(sys.stdin); print($1)"; }
# the test's own containers and images carry this label, so cleanup finds them
label=webops.test-images=$$
# stdin to the engine (curl -T - streams the tar of a build context)
api_in() { curl -sf --max-time 120 --unix-socket "$sock" -X "$1" -H "Content-Type: $3" --data-binary @- "http://localhost$2"; }
EOT

test_setup 'run_in IMAGE SCRIPT: runs `sh -c SCRIPT` in a new container and removes it' <<'EOT'
# run_in IMAGE SCRIPT: runs `sh -c SCRIPT` in a new container and removes it;
# output (stdout and stderr) in $OUT, exit code in $RC
run_in() {
  local body id
  body=$(python3 -c 'import json,sys; k,v=sys.argv[3].split("=",1)
print(json.dumps({"Image": sys.argv[1], "Entrypoint": ["/bin/sh", "-c"], "Cmd": [sys.argv[2]],
                  "Tty": True, "Labels": {k: v}}))' "$1" "$2" "$label")
  id=$(api_in POST /containers/create application/json <<<"$body" | json 'j["Id"]') || { OUT="cannot create a container of $1"; RC=255; return; }
  api POST "/containers/$id/start" >/dev/null
  RC=$(curl -sf --max-time 120 --unix-socket "$sock" -X POST "http://localhost/containers/$id/wait" | json 'j["StatusCode"]')
  OUT=$(api GET "/containers/$id/logs?stdout=1&stderr=1" | tr -d '\r')
  api DELETE "/containers/$id?force=1" >/dev/null
}

cleanup_images_test() {
  local f id
  f=$(python3 -c 'import json,sys,urllib.parse; print(urllib.parse.quote(json.dumps({"label": [sys.argv[1]]})))' "$label")
  for id in $(api GET "/containers/json?all=1&filters=$f" 2>/dev/null | json '" ".join(c["Id"] for c in j)' 2>/dev/null); do
    api DELETE "/containers/$id?force=1" >/dev/null 2>&1
  done
  for id in $(api GET "/images/json?filters=$f" 2>/dev/null | json '" ".join(i["Id"] for i in j)' 2>/dev/null); do
    api DELETE "/images/$id?force=1" >/dev/null 2>&1
  done
  for n in "${deployed[@]}"; do
    api DELETE "/containers/webops-$n?force=1" >/dev/null 2>&1
    api DELETE "/containers/webops-$n-previous?force=1" >/dev/null 2>&1
    f=$(python3 -c 'import json,sys,urllib.parse; print(urllib.parse.quote(json.dumps({"label": ["webops.deployment=" + sys.argv[1]]})))' "$n")
    for id in $(api GET "/images/json?filters=$f" 2>/dev/null | json '" ".join(i["Id"] for i in j)' 2>/dev/null); do
      api DELETE "/images/$id?force=1" >/dev/null 2>&1
    done
  done
}
deployed=()
at_exit 'cleanup_images_test'
EOT

test_expect_success 'the python image' <<'EOT'
cfg=$(api GET "/images/$pyimg/json")
[ "$(json 'j["Config"]["Cmd"]' <<<"$cfg")" = "['python3']" ] && ok "python image: CMD python3" ||
  bad "python image Cmd: $(json 'j["Config"]["Cmd"]' <<<"$cfg")"
contains "python image: /usr/local/bin first on PATH" "$(json 'j["Config"]["Env"]' <<<"$cfg")" "PATH=/usr/local/sbin:/usr/local/bin:"

run_in "$pyimg" 'command -v python; command -v pip; python --version; pip --version; python -c "import django, flask, gunicorn; print(\"imports ok\")"
  ls /usr/lib/python3*/EXTERNALLY-MANAGED 2>/dev/null || echo "no EXTERNALLY-MANAGED"'
[ "$RC" = 0 ] && ok "python image: python, pip, Django, Flask, gunicorn" || bad "python image: exit $RC: $OUT"
contains "python on PATH" "$OUT" "/usr/bin/python"
contains "pip on PATH" "$OUT" "/usr/bin/pip"
contains "python 3.11" "$OUT" "Python 3.11"
contains "imports work" "$OUT" "imports ok"
contains "pip may install (no EXTERNALLY-MANAGED)" "$OUT" "no EXTERNALLY-MANAGED"

run_in "$pyimg" 'cd /tmp && printf "Django>=3.2,<4\ngunicorn\nFlask\n" >requirements.txt &&
  s=$(date +%s%N) && pip install --no-cache-dir -r requirements.txt; rc=$?
  echo "pip-rc=$rc ms=$(( ($(date +%s%N) - s) / 1000000 ))"'
contains "pip install -r requirements.txt succeeds offline" "$OUT" "pip-rc=0"
contains "Django already satisfied" "$OUT" "Requirement already satisfied: Django"
contains "gunicorn already satisfied" "$OUT" "Requirement already satisfied: gunicorn"
contains "Flask already satisfied" "$OUT" "Requirement already satisfied: Flask"
ms=$(sed -n 's/.*ms=\([0-9]*\).*/\1/p' <<<"$OUT")
[ -n "$ms" ] && [ "$ms" -lt 15000 ] && ok "in ${ms} ms (< 15 s)" || bad "pip install took '${ms}' ms: $OUT"

run_in "$pyimg" 's=$(date +%s%N); pip install --no-cache-dir left-pad-for-python; echo "pip-rc=$? ms=$(( ($(date +%s%N) - s) / 1000000 ))"'
contains "a package Debian did not install fails" "$OUT" "No matching distribution found for left-pad-for-python"
ms=$(sed -n 's/.*ms=\([0-9]*\).*/\1/p' <<<"$OUT")
[ -n "$ms" ] && [ "$ms" -lt 10000 ] && ok "fails at once without waiting for the network (${ms} ms)" || bad "took '${ms}' ms: $OUT"

run_in "$pyimg" 'mkdir -p /tmp/p/hello && cd /tmp/p && touch hello/__init__.py &&
  printf "[build-system]\nrequires = [\"setuptools\"]\nbuild-backend = \"setuptools.build_meta\"\n[project]\nname = \"hello\"\nversion = \"0.1\"\ndependencies = [\"flask\"]\n" >pyproject.toml &&
  pip install --no-cache-dir . && cd / && python -c "import hello; print(\"hello installed\")"'
contains "pip install . of a pyproject project builds offline" "$OUT" "hello installed"
EOT

test_expect_success 'the nginx image' <<'EOT'
cfg=$(api GET "/images/$nginximg/json")
[ "$(json 'j["Config"]["Cmd"]' <<<"$cfg")" = "['nginx', '-g', 'daemon off;']" ] && ok "nginx image: CMD nginx -g 'daemon off;'" ||
  bad "nginx image Cmd: $(json 'j["Config"]["Cmd"]' <<<"$cfg")"
[ "$(json 'j["Config"]["StopSignal"]' <<<"$cfg")" = SIGQUIT ] && ok "nginx image: STOPSIGNAL SIGQUIT" || bad "StopSignal: $cfg"
[ "$(json 'list(j["Config"]["ExposedPorts"])' <<<"$cfg")" = "['80/tcp']" ] && ok "nginx image: EXPOSE 80" || bad "ExposedPorts: $cfg"

run_in "$nginximg" 'nginx -t 2>&1; ls -l /var/log/nginx/; cat /etc/nginx/conf.d/default.conf'
[ "$RC" = 0 ] && ok "nginx -t passes" || bad "nginx -t: $OUT"
contains "access log to stdout" "$OUT" "access.log -> /dev/stdout"
contains "error log to stderr" "$OUT" "error.log -> /dev/stderr"
contains "default.conf serves /usr/share/nginx/html" "$OUT" "root   /usr/share/nginx/html;"
EOT

test_expect_success 'an image FROM the stand-in, the way a generated Dockerfile uses it: a site in /usr/share/nginx/html, a server in...' <<'EOT'
# an image FROM the stand-in, the way a generated Dockerfile uses it: a site
# in /usr/share/nginx/html, a server in conf.d/default.conf on 8080, and a
# template rendered with $PORT
ctx=$T/nginx-ctx
mkdir -p "$ctx"
echo "<h1>stand-in site</h1>" >"$ctx/index.html"
cat >"$ctx/default.conf" <<'CONF'
server {
    listen 8080;
    root /usr/share/nginx/html;
    location = /conf-check { default_type text/plain; return 200 "dropped-in conf\n"; }
}
CONF
cat >"$ctx/port.conf.template" <<'CONF'
server {
    listen ${PORT};
    location / { default_type text/plain; return 200 "templated on ${PORT}, $host\n"; }
}
CONF
printf 'FROM %s\nCOPY index.html /usr/share/nginx/html/\nCOPY default.conf /etc/nginx/conf.d/default.conf\nCOPY port.conf.template /etc/nginx/templates/\nLABEL %s\n' \
  "$nginximg" "$label" >"$ctx/Dockerfile"
site=webops-test-images-site:$$
tar -C "$ctx" -cf - . | api_in POST "/build?t=$site&rm=1&forcerm=1" application/x-tar >"$T/build.out"
grep -q "Successfully tagged" "$T/build.out" && ok "an image FROM the nginx stand-in builds" || bad "build: $(cat "$T/build.out")"

p1=$(free_port)
p2=$(free_port)
body=$(python3 -c 'import json,sys; k,v=sys.argv[4].split("=",1)
print(json.dumps({"Image": sys.argv[1], "Env": ["PORT=8081"], "Labels": {k: v},
  "ExposedPorts": {"8080/tcp": {}, "8081/tcp": {}},
  "HostConfig": {"PortBindings": {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": sys.argv[2]}],
                                  "8081/tcp": [{"HostIp": "127.0.0.1", "HostPort": sys.argv[3]}]}}}))' "$site" "$p1" "$p2" "$label")
cid=$(api_in POST /containers/create application/json <<<"$body" | json 'j["Id"]')
api POST "/containers/$cid/start" >/dev/null
for i in $(seq 600); do curl -sf -o /dev/null "http://127.0.0.1:$p1/" && break; sleep 0.1; done
[ "$(curl -s --max-time 5 "http://127.0.0.1:$p1/")" = "<h1>stand-in site</h1>" ] && ok "serves a file from /usr/share/nginx/html" ||
  bad "site: '$(curl -s --max-time 5 "http://127.0.0.1:$p1/")'"
[ "$(curl -s --max-time 5 "http://127.0.0.1:$p1/conf-check")" = "dropped-in conf" ] && ok "uses the conf dropped into conf.d/default.conf" ||
  bad "conf-check: '$(curl -s --max-time 5 "http://127.0.0.1:$p1/conf-check")'"
[ "$(curl -s --max-time 5 "http://127.0.0.1:$p2/")" = "templated on 8081, 127.0.0.1" ] && ok "renders /etc/nginx/templates with the environment" ||
  bad "template: '$(curl -s --max-time 5 "http://127.0.0.1:$p2/")'"
logs=$(api GET "/containers/$cid/logs?stdout=1&stderr=1" | tr -d '\0')
contains "requests logged to stdout" "$logs" '"GET /conf-check HTTP/1.1" 200'
eid=$(api_in POST "/containers/$cid/exec" application/json \
  <<<'{"Cmd": ["wget", "-q", "-O-", "http://127.0.0.1:8080/conf-check"], "AttachStdout": true, "AttachStderr": true, "Tty": true}' | json 'j["Id"]')
out=$(api_in POST "/exec/$eid/start" application/json <<<'{"Detach": false, "Tty": true}' | tr -d '\r')
[ "$out" = "dropped-in conf" ] && ok "wget inside, as in nginx:alpine HEALTHCHECKs" || bad "wget in the container: '$out'"
s=$(date +%s%N)
api POST "/containers/$cid/stop?t=10" >/dev/null
ms=$(( ($(date +%s%N) - s) / 1000000 ))
code=$(api GET "/containers/$cid/json" | json 'j["State"]["ExitCode"]')
[ "$ms" -lt 5000 ] && [ "$code" = 0 ] && ok "stops on SIGQUIT in ${ms} ms, exit 0" || bad "stop took ${ms} ms, exit $code"
api DELETE "/containers/$cid?force=1" >/dev/null
EOT

test_expect_success 'a whole nginx.conf of its own in place of the image'\''s' <<'EOT'
cat >"$ctx/nginx.conf" <<'CONF'
worker_processes 1;
pid /tmp/nginx.pid;
events { worker_connections 64; }
http {
    access_log /dev/stdout;
    server {
        listen 8080;
        location = /whole { default_type text/plain; return 200 "whole nginx.conf\n"; }
        location / { root /usr/share/nginx/html; }
    }
}
CONF
printf 'FROM %s\nCOPY index.html /usr/share/nginx/html/\nCOPY nginx.conf /etc/nginx/nginx.conf\nLABEL %s\n' \
  "$nginximg" "$label" >"$ctx/Dockerfile.whole"
tar -C "$ctx" -cf - . | api_in POST "/build?t=$site-whole&dockerfile=Dockerfile.whole&rm=1&forcerm=1" application/x-tar >"$T/build.out"
grep -q "Successfully tagged" "$T/build.out" || bad "build with nginx.conf: $(cat "$T/build.out")"
p1=$(free_port)
body=$(python3 -c 'import json,sys; k,v=sys.argv[3].split("=",1)
print(json.dumps({"Image": sys.argv[1], "Labels": {k: v}, "ExposedPorts": {"8080/tcp": {}},
  "HostConfig": {"PortBindings": {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": sys.argv[2]}]}}}))' "$site-whole" "$p1" "$label")
cid=$(api_in POST /containers/create application/json <<<"$body" | json 'j["Id"]')
api POST "/containers/$cid/start" >/dev/null
for i in $(seq 600); do curl -sf -o /dev/null "http://127.0.0.1:$p1/" && break; sleep 0.1; done
[ "$(curl -s --max-time 5 "http://127.0.0.1:$p1/whole")" = "whole nginx.conf" ] &&
  [ "$(curl -s --max-time 5 "http://127.0.0.1:$p1/")" = "<h1>stand-in site</h1>" ] &&
  ok "uses an nginx.conf copied over /etc/nginx/nginx.conf" ||
  bad "whole nginx.conf: '$(curl -s --max-time 5 "http://127.0.0.1:$p1/whole")'; log: $(api GET "/containers/$cid/logs?stdout=1&stderr=1" | tr -d '\0')"
api DELETE "/containers/$cid?force=1" >/dev/null
EOT

test_expect_success 'real apps through webops' <<'EOT'
if ! command -v django-admin >/dev/null; then
  bad "django-admin is missing on the host (scripts/setup --test installs python3-django)"
  finish
fi
export WEBOPS_DATABASE_URL=$(new_db)
export WEBOPS_DATA_DIR=$T/data
export WEBOPS_ADDONS_PATH=${WEBOPS_BUILD_DIR:?}/addons
export WEBOPS_DOCKER_START_GRACE_S=2
export WEBOPS_DOCKER_PYTHON_BASE_IMAGE=$pyimg
commit_all() { git -C "$1" add -A && git -C "$1" -c user.name=Test -c user.email=test@example.com commit -qm "$2"; }
EOT

test_expect_success 'django: the project django-admin makes, with DEBUG and ALLOWED_HOSTS read from the environment and a view at /' <<'EOT'
# Django: the project django-admin makes, with DEBUG and ALLOWED_HOSTS read
# from the environment and a view at /
dj=$T/django
mkdir -p "$dj"
django-admin startproject mysite "$dj"
cat >>"$dj/mysite/settings.py" <<'PY'

DEBUG = os.environ.get("DJANGO_DEBUG") == "1"
ALLOWED_HOSTS = [h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "").split(",") if h]
PY
sed -i '1i import os' "$dj/mysite/settings.py"
cat >>"$dj/mysite/urls.py" <<'PY'

from django.http import HttpResponse
urlpatterns += [path("", lambda request: HttpResponse("hello from django"))]
PY
printf 'Django>=3.2,<4\ngunicorn\n' >"$dj/requirements.txt"
git -C "$dj" init -q -b main
commit_all "$dj" "startproject mysite"
EOT

test_expect_success 'flask as its tutorial lays it out: an application factory in a package, a template and a static file' <<'EOT'
# Flask as its tutorial lays it out: an application factory in a package,
# a template and a static file; gunicorn is not in its requirements, the
# addon adds it
fl=$T/flask
mkdir -p "$fl/flaskr/templates" "$fl/flaskr/static"
cat >"$fl/flaskr/__init__.py" <<'PY'
from flask import Flask, render_template


def create_app(test_config=None):
    app = Flask(__name__)

    @app.route("/")
    def index():
        return render_template("index.html", who="flask")

    return app
PY
printf 'hello from {{ who }}' >"$fl/flaskr/templates/index.html"
printf 'body { color: teal }\n' >"$fl/flaskr/static/style.css"
printf 'Flask\n' >"$fl/requirements.txt"
git -C "$fl" init -q -b main
commit_all "$fl" "flask app"

djport=$(free_port)
flport=$(free_port)
dname="dj$$"
fname="fl$$"
deployed=("$dname" "$fname")
expect 0 "create the django deployment" -- "$W" deployment create --name "$dname" --repo "file://$dj" \
  --env DJANGO_ALLOWED_HOSTS=127.0.0.1,localhost \
  --set use_docker=true --set docker_ports="[\"127.0.0.1:$djport:8000\"]"
expect 0 "create the flask deployment" -- "$W" deployment create --name "$fname" --repo "file://$fl" \
  --set use_docker=true --set docker_ports="[\"127.0.0.1:$flport:5000\"]"
start_daemon --workers 1 || exit 1

expect 0 "deploy the django project" -- "$W" deploy "$dname" --follow
contains "a django Dockerfile was generated" "$OUT" "generated one for a django project"
contains "FROM the stand-in" "$OUT" "FROM $pyimg"
contains "requirements satisfied offline" "$OUT" "Requirement already satisfied: Django"
for i in $(seq 300); do curl -sf -o /dev/null "http://127.0.0.1:$djport/" && break; sleep 0.2; done
page=$(curl -s --max-time 5 "http://127.0.0.1:$djport/")
[ "$page" = "hello from django" ] && ok "django answers on 127.0.0.1:$djport through gunicorn" || bad "django: '$page'; log: $OUT"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H 'Host: elsewhere.example' "http://127.0.0.1:$djport/")
[ "$code" = 400 ] && ok "ALLOWED_HOSTS from the env: another Host gets 400" || bad "Host elsewhere.example: HTTP $code"

expect 0 "deploy the flask app" -- "$W" deploy "$fname" --follow
contains "a flask Dockerfile was generated" "$OUT" "generated one for a flask project"
contains "gunicorn added and satisfied offline" "$OUT" "Requirement already satisfied: gunicorn"
contains "the factory was found" "$OUT" "application factory create_app() in flaskr/__init__.py"
contains "...and is served through a generated module" "$OUT" "generated .webops/webops_app.py: it calls the application factory flaskr.create_app()"
for i in $(seq 300); do curl -sf -o /dev/null "http://127.0.0.1:$flport/" && break; sleep 0.2; done
page=$(curl -s --max-time 5 "http://127.0.0.1:$flport/")
[ "$page" = "hello from flask" ] && ok "flask (a factory in a package) answers on 127.0.0.1:$flport through gunicorn, its template rendered" || bad "flask: '$page'; log: $OUT"
css=$(curl -s --max-time 5 "http://127.0.0.1:$flport/static/style.css")
[ "$css" = "body { color: teal }" ] && ok "...and serves its static file" || bad "static: '$css'"

expect 0 "delete the django deployment's container and images" -- "$W" hook run delete "$dname"
expect 0 "delete the flask deployment's container and images" -- "$W" hook run delete "$fname"
stop_daemon
EOT
finish
