#!/usr/bin/env bash
# Real applications, shaped like the real world rather than like the code,
# deployed through webops' docker addon on the stand-in base images and used
# as their users would: a Django project made by `django-admin startproject`
# + `startapp` (a model, the admin, a CSS file, a form), with and without
# requirements.txt; the Flask tutorial's layout (a factory in a package,
# SQLite in the instance folder, register / log in / post) with a Procfile
# release command and a data_path that keeps its database across deploys; a
# FastAPI app; a Go module with cmd/server; a Node.js server; a site
# template whose package.json only drives gulp; a site built by npm. A
# commit that cannot start keeps the previous release serving; stop and
# start. Skipped (77) without an engine or the stand-in images
# (scripts/docker-env, scripts/test-images).
# ctest-resources: docker
. "$(dirname "$0")/lib.sh"
test_setup 'the deployment and what it needs' <<'EOT'
need_db
need_docker
need_images

goimg=${WEBOPS_TEST_GO_IMAGE:-webops-test/golang:1.19}
nodeimg=${WEBOPS_TEST_NODE_IMAGE:-webops-test/node:18}
debimg=${WEBOPS_TEST_DEBIAN_IMAGE:-webops-test/debian:bookworm-slim}
have_image() { api GET "/images/$1/json" >/dev/null 2>&1; }

export WEBOPS_DATABASE_URL=$(new_db)
export WEBOPS_DATA_DIR=$T/data
export WEBOPS_ADDONS_PATH=${WEBOPS_BUILD_DIR:?}/addons
export WEBOPS_DOCKER_START_GRACE_S=2
export WEBOPS_DOCKER_START_TIMEOUT_S=40
export WEBOPS_DOCKER_PYTHON_BASE_IMAGE=$pyimg
export WEBOPS_DOCKER_STATIC_BASE_IMAGE=$nginximg
export WEBOPS_DOCKER_NODE_BASE_IMAGE=$nodeimg
export WEBOPS_DOCKER_GO_BASE_IMAGE=$goimg
export WEBOPS_DOCKER_GO_RUNTIME_IMAGE=$debimg
FIX=${WEBOPS_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/fixtures/apps
EOT

test_setup 'a free port below the ephemeral range for each app, and how they are made and deployed' <<'EOT'
# (each app's host port from free_port, lib.sh: chosen now, bound minutes later)
commit_all() { git -C "$1" add -A && git -C "$1" -c user.name=Test -c user.email=test@example.com commit -qm "$2"; }
# repo_from FIXTURE DIR: a git repository holding a copy of the fixture
repo_from() { mkdir -p "$2" && cp -a "$FIX/$1/." "$2/" && git -C "$2" init -q -b main && commit_all "$2" "$1"; }
deployed=()
at_exit 'remove_deployment_docker "${deployed[@]}"; for n in "${deployed[@]}"; do api DELETE "/volumes/webops-$n-data?force=1" >/dev/null 2>&1; done'
# create NAME REPO CONTAINER_PORT [ARGS...]: a docker deployment published
# on 127.0.0.1:<a free port>:CONTAINER_PORT; the host port in ${port[NAME]}
declare -gA port
create() {
  local n=$1 repo=$2 cport=$3
  shift 3
  port[$n]=$(free_port)
  deployed+=("$n")
  expect 0 "create $n" -- "$W" deployment create --name "$n" --repo "file://$repo" --set use_docker=true \
    --set docker_ports="[\"127.0.0.1:${port[$n]}:$cport\"]" "$@"
}
url() { echo "http://127.0.0.1:${port[$1]}$2"; }
get() { curl -s --max-time 10 "$(url "$1" "$2")"; }
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$(url "$1" "$2")"; }
EOT

test_setup 'the applications: Django as django-admin makes it, Flask, FastAPI, Go, Node.js, sites; the daemon' <<'EOT'
# ---- the applications --------------------------------------------------------
# Django, as django-admin makes it, with an app "notes": a model, the admin,
# a page listing notes with a form (CSRF), a CSS file; DEBUG and
# ALLOWED_HOSTS from the environment, as a deployable project has them
dj=$T/django
mkdir -p "$dj"
django-admin startproject mysite "$dj"
(cd "$dj" && django-admin startapp notes)
mkdir -p "$dj/notes/templates/notes" "$dj/notes/static/notes"
cat >"$dj/notes/models.py" <<'PY'
from django.db import models


class Note(models.Model):
    text = models.CharField(max_length=200)

    def __str__(self):
        return self.text
PY
cat >"$dj/notes/admin.py" <<'PY'
from django.contrib import admin

from .models import Note

admin.site.register(Note)
PY
cat >"$dj/notes/views.py" <<'PY'
from django.shortcuts import redirect, render

from .models import Note


def index(request):
    if request.method == "POST":
        Note.objects.create(text=request.POST["text"])
        return redirect("index")
    return render(request, "notes/index.html", {"notes": Note.objects.all()})
PY
cat >"$dj/notes/templates/notes/index.html" <<'HTML'
{% load static %}<!doctype html>
<title>Notes</title><link rel="stylesheet" href="{% static 'notes/site.css' %}">
<ul>{% for n in notes %}<li>{{ n.text }}</li>{% endfor %}</ul>
<form method="post">{% csrf_token %}<input name="text"><button>Add</button></form>
HTML
printf 'body { color: #224466; }\n' >"$dj/notes/static/notes/site.css"
cat >"$dj/mysite/urls.py" <<'PY'
from django.contrib import admin
from django.urls import path

from notes.views import index

urlpatterns = [path("admin/", admin.site.urls), path("", index, name="index")]
PY
python3 - "$dj/mysite/settings.py" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
s = s.replace("INSTALLED_APPS = [", "INSTALLED_APPS = [\n    'notes',", 1)
s = "import os\n" + s
s = s.replace("DEBUG = True", 'DEBUG = os.environ.get("DJANGO_DEBUG") == "1"', 1)
s = s.replace("ALLOWED_HOSTS = []", 'ALLOWED_HOSTS = [h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "").split(",") if h]', 1)
open(p, "w").write(s)
PY
# (django-admin runs Debian's python3, which has Django, whatever python3 PATH finds)
(cd "$dj" && PYTHONPATH=. DJANGO_SETTINGS_MODULE=mysite.settings django-admin makemigrations notes -v 0) ||
  bad "makemigrations failed"
cp -a "$dj" "$T/django-bare"
printf 'Django>=3.2\ngunicorn\n' >"$dj/requirements.txt"
git -C "$dj" init -q -b main && commit_all "$dj" "startproject mysite, startapp notes"
# the same without requirements.txt, DEBUG = True as startproject writes it
# and no data_path: SQLite inside the image
djb=$T/django-bare
sed -i 's/^DEBUG = os.environ.get("DJANGO_DEBUG") == "1"$/DEBUG = True/' "$djb/mysite/settings.py"
git -C "$djb" init -q -b main && commit_all "$djb" "startproject, no requirements"

repo_from flaskr "$T/flaskr"
repo_from fastapi "$T/fastapi"
repo_from go-service "$T/go"
repo_from node-api "$T/node"
repo_from gulp-site "$T/gulp"
repo_from npm-site "$T/npmsite"
repo_from buildkit "$T/buildkit"

p=$$
create "dj$p" "$dj" 8000 --env DJANGO_ALLOWED_HOSTS=127.0.0.1,localhost --set data_path=/app/data
create "djb$p" "$djb" 8000
create "fl$p" "$T/flaskr" 8000 --set data_path=/app/instance
create "fa$p" "$T/fastapi" 8000
create "go$p" "$T/go" 8080
create "nd$p" "$T/node" 3000
create "gs$p" "$T/gulp" 80
create "ns$p" "$T/npmsite" 80
create "bk$p" "$T/buildkit" 80 --set docker_build_args="{\"BASE\": \"$nginximg\"}"
expect 0 "create a deployment that no runtime addon runs" -- "$W" deployment create --name "pl$p" --repo "file://$T/go"
expect 1 "a data_path that is not absolute is refused" -- "$W" deployment create --name "bad$p" \
  --repo "file://$T/go" --set use_docker=true --set data_path=data
contains "...naming the field" "$ERR" "data_path"
start_daemon --workers 1 || exit 1
EOT

test_expect_success 'django' <<'EOT'
expect 0 "deploy the django project" -- "$W" deploy "dj$p" --follow
contains "django detected" "$OUT" "generated one for a django project"
contains "settings read through the generated module" "$OUT" "generated .webops/webops_settings.py: it reads mysite.settings"
contains "whitenoise satisfied offline" "$OUT" "Requirement already satisfied: whitenoise"
contains "static files collected at build" "$OUT" "static files copied to '/app/.webops/staticfiles'"
contains "SQLite goes to the data volume" "$OUT" "SQLite's database file goes to the data volume at /app/data"
contains "migrate is the default release command" "$OUT" "the release command comes from Django's default"
contains "...and it ran" "$OUT" "Applying notes.0001_initial... OK"
[ "$(code "dj$p" /)" = 200 ] && ok "the page that needs the tables answers 200" || bad "django /: HTTP $(code "dj$p" /); $OUT"
jar=$T/dj.cookies
tok=$(curl -s -c "$jar" "$(url "dj$p" /)" | sed -n 's/.*name="csrfmiddlewaretoken" value="\([^"]*\)".*/\1/p')
c=$(curl -s -o /dev/null -w '%{http_code}' -b "$jar" -c "$jar" -e "$(url "dj$p" /)" \
    --data-urlencode "csrfmiddlewaretoken=$tok" --data-urlencode "text=first note" "$(url "dj$p" /)")
[ "$c" = 302 ] && ok "a POST with its CSRF token is accepted" || bad "POST: HTTP $c"
contains "...and the note is listed" "$(get "dj$p" /)" "<li>first note</li>"
css=$(get "dj$p" / | sed -n 's/.*href="\([^"]*site[^"]*\.css\)".*/\1/p')
case "$css" in /static/notes/site.*.css) ok "the page names the CSS under its hashed name ($css)" ;; *) bad "css link: '$css'" ;; esac
hdr=$(curl -s -D - -o "$T/css" "$(url "dj$p" "$css")")
contains "whitenoise serves it" "$hdr" "200 OK"
contains "...cached for a long time" "$hdr" "max-age=315360000"
grep -q "#224466" "$T/css" && ok "...with the project's CSS" || bad "css: $(cat "$T/css")"
[ "$(code "dj$p" /static/admin/css/base.css)" = 200 ] && ok "the admin's CSS is served" || bad "admin css: HTTP $(code "dj$p" /static/admin/css/base.css)"
contains "the admin answers" "$(get "dj$p" /admin/login/)" "Django administration"
ctr=$(api GET "/containers/webops-dj$p/json")
contains "gunicorn runs several workers" "$(json_get "$ctr" "j['Config']['Cmd']")" "WEB_CONCURRENCY"
EOT

test_expect_success 'a commit that cannot start: the previous release keeps serving' <<'EOT'
echo "import no_such_module" >>"$dj/mysite/wsgi.py"
commit_all "$dj" "broken wsgi"
expect 1 "a commit whose app cannot start fails the deploy" -- "$W" deploy "dj$p" --follow
contains "...and says the previous release keeps serving" "$OUT$ERR" "the previous version keeps running"
# (with fixed host ports the previous container was stopped for the new one
# and is started again: give it the moment it takes to answer)
for _ in $(seq 100); do [ "$(code "dj$p" /)" = 200 ] && break; sleep 0.2; done
contains "the previous release still serves the data" "$(get "dj$p" /)" "<li>first note</li>"
sed -i '$ d' "$dj/mysite/wsgi.py"
commit_all "$dj" "fix wsgi"
expect 0 "redeploy a good commit" -- "$W" deploy "dj$p" --follow
contains "the note outlived the redeploy (data_path)" "$(get "dj$p" /)" "<li>first note</li>"

expect 0 "deploy django without requirements.txt" -- "$W" deploy "djb$p" --follow
contains "found by manage.py alone" "$OUT" "no requirements file lists Django, so the image installs it"
contains "DEBUG = True is warned about" "$OUT" "mysite/settings.py line"
contains "...as a danger" "$OUT" "sets DEBUG = True: Django then shows its debug pages"
contains "SQLite in the image is warned about" "$OUT" "uses SQLite with its file inside the image"
contains "migrations run at build" "$OUT" "Applying notes.0001_initial... OK"
[ "$(code "djb$p" /)" = 200 ] && ok "its page with the tables answers 200" || bad "djb /: HTTP $(code "djb$p" /)"
EOT

test_expect_success 'flask' <<'EOT'
expect 0 "deploy the flask tutorial app" -- "$W" deploy "fl$p" --follow
contains "the factory is found" "$OUT" "application factory create_app() in flaskr/__init__.py"
contains "the Procfile's release command runs" "$OUT" "the release command comes from the Procfile's release: line"
contains "...and made the tables" "$OUT" "Initialized the database."
jar=$T/fl.cookies
curl -s -o /dev/null -d username=ada -d password=lovelace "$(url "fl$p" /register)"
c=$(curl -s -o /dev/null -w '%{http_code}' -c "$jar" -d username=ada -d password=lovelace "$(url "fl$p" /login)")
[ "$c" = 302 ] && ok "register and log in" || bad "login: HTTP $c"
curl -s -o /dev/null -b "$jar" -d "title=hello world" "$(url "fl$p" /post)"
contains "a post is listed" "$(get "fl$p" /)" "<li>hello world by ada</li>"
contains "its static file is served" "$(get "fl$p" /static/style.css)" "#377ba8"
echo v2 >"$T/flaskr/VERSION"; commit_all "$T/flaskr" v2
expect 0 "redeploy flask" -- "$W" deploy "fl$p" --follow
contains "the post outlived the redeploy (data_path = the instance folder)" "$(get "fl$p" /)" "<li>hello world by ada</li>"
# what the app itself writes: gunicorn's access log (stdout), its own log (stderr)
expect 0 "runtime logs of the running release" -- "$W" logs "fl$p" --runtime --tail 50
contains "...its access log, on stdout" "$OUT" '"GET / HTTP/1.1" 200'
contains "...gunicorn's own log, on stderr" "$ERR" "Booting worker"
expect 0 "--tail 1" -- "$W" logs "fl$p" --runtime --tail 1
[ "$(printf '%s\n%s\n' "$OUT" "$ERR" | grep -c .)" = 1 ] && ok "...one line" || bad "--tail 1: $OUT / $ERR"
expect 0 "--timestamps" -- "$W" logs "fl$p" --runtime --tail 1 --timestamps --since 1h
[[ "$OUT$ERR" =~ ^20[0-9][0-9]-[0-9][0-9]-[0-9][0-9]T ]] && ok "...each line with its time" || bad "--timestamps: $OUT$ERR"
"$W" logs "fl$p" --runtime --follow --tail 0 >"$T/follow.out" 2>"$T/follow.err" &
fpid=$!
_pids+=("$fpid")
sleep 2
curl -s -o /dev/null "$(url "fl$p" /?followed=1)"
for _ in $(seq 50); do grep -q 'followed=1' "$T/follow.out" && break; sleep 0.2; done
grep -q 'GET /?followed=1 HTTP/1.1' "$T/follow.out" && ok "--follow shows a request as it is served" \
  || bad "--follow: $(cat "$T/follow.out" "$T/follow.err")"
kill -INT "$fpid"; wait "$fpid"; rc=$?
[ "$rc" = 0 ] && ok "...and Ctrl-C ends it (exit 0)" || bad "--follow after SIGINT: exit $rc"
expect 1 "runtime logs of a deployment that nothing runs" -- "$W" logs "pl$p" --runtime
contains "...says so" "$ERR" "no enabled addon serves the runtime logs of 'pl$p'"
expect 2 "--since that is no duration" -- "$W" logs "fl$p" --runtime --since yesterday
contains "...names the option" "$ERR" "--since 'yesterday' is not a duration"

expect 0 "stop it" -- "$W" deployment stop "fl$p"
[ "$(code "fl$p" /)" = 000 ] && ok "stopped: nothing answers" || bad "after stop: HTTP $(code "fl$p" /)"
expect 0 "start it" -- "$W" deployment start "fl$p"
for _ in $(seq 100); do [ "$(code "fl$p" /)" = 200 ] && break; sleep 0.2; done
contains "started again, with its data" "$(get "fl$p" /)" "<li>hello world by ada</li>"
EOT

test_expect_success 'a container killed behind webops'\'' back is noticed through the engine'\''s events (the docker addon'\''s watcher), not at...' <<'EOT'
# a container killed behind webops' back is noticed through the engine's
# events (the docker addon's watcher), not at the next health interval
q() { psql "$WEBOPS_DATABASE_URL" -qAtX -c "$1"; }
reported() {
  q "SELECT reason FROM health_events e JOIN deployments d ON d.id = e.deployment_id
     WHERE d.name = 'fl$p' AND e.kind = 'reported' ORDER BY e.id DESC LIMIT 1"
}
before=$(reported)
t0=$(date +%s%N)
api POST "/containers/webops-fl$p/kill" >/dev/null
r=
for _ in $(seq 100); do r=$(reported); [ -n "$r" ] && [ "$r" != "$before" ] && break; sleep 0.05; done
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
contains "docker kill is noticed through the engine's events ($ms ms)" "$r" "docker: died: webops-fl$p exited with code 137"
[ "$ms" -le 2000 ] && ok "...within 2 s" || bad "...noticed after $ms ms"
expect 0 "start it again" -- "$W" deployment restart "fl$p"
for _ in $(seq 100); do [ "$(code "fl$p" /)" = 200 ] && break; sleep 0.2; done
# a stop asked for is no failure: nothing reported
before=$(reported)
expect 0 "stop it on purpose" -- "$W" deployment stop "fl$p"
sleep 1.5
[ "$(reported)" = "$before" ] && ok "...and no death is reported" || bad "a stop was reported: $(reported)"
expect 0 "start it" -- "$W" deployment start "fl$p"
EOT

test_expect_success 'fastAPI' <<'EOT'
expect 0 "deploy the fastapi app" -- "$W" deploy "fa$p" --follow
contains "served by uvicorn" "$OUT" "uvicorn"
contains "it answers" "$(get "fa$p" /)" '"hello":"fastapi"'
c=$(curl -s --max-time 10 -H 'Content-Type: application/json' -d '{"text":"x"}' "$(url "fa$p" /notes)")
[ "$c" = '{"count":1}' ] && ok "a JSON POST is handled" || bad "POST /notes: $c"
EOT

test_expect_success 'go, Node.js' <<'EOT'
if have_image "$goimg" && have_image "$debimg"; then
  expect 0 "deploy the go service" -- "$W" deploy "go$p" --follow
  contains "main package under cmd/" "$OUT" "main package ./cmd/server"
  contains "it answers" "$(get "go$p" '/?who=webops')" "hello, webops, from go"
  left=$(api GET "/images/json?filters=$(python3 -c 'import json,sys,urllib.parse; print(urllib.parse.quote(json.dumps({"label":["webops.deployment="+sys.argv[1]],"dangling":["true"]})))' "go$p")")
  [ "$(json_get "$left" "len(j)")" = 0 ] && ok "the build stage's image was removed" || bad "dangling images left: $left"
else
  echo "note: $goimg or $debimg is missing: the Go app was not deployed"
fi
if have_image "$nodeimg"; then
  expect 0 "deploy the node server" -- "$W" deploy "nd$p" --follow
  contains "production dependencies only" "$OUT" "npm ci --omit=dev"
  contains "it answers" "$(get "nd$p" /)" "hello from node"
  expect 0 "its runtime log" -- "$W" logs "nd$p" --runtime
  contains "...colours dropped when the output is no terminal" "$OUT" "listening on 3000"
  [[ "$OUT" != *'\x1b'* && "$OUT" != *$'\e'* ]] && ok "...no escape sequence left" || bad "node log: $OUT"
  c=$(curl -s --max-time 10 -d 'ping' "$(url "nd$p" /echo)")
  [ "$c" = '{"echo":"ping","env":"production"}' ] && ok "a POST is handled, NODE_ENV=production" || bad "POST /echo: $c"
  expect 0 "deploy the npm-built site" -- "$W" deploy "ns$p" --follow
  contains "built with npm" "$OUT" "built with npm, dist/ served as a static site"
  contains "its build ran" "$OUT" "built 3 entries into dist/"
  contains "serves the built page" "$(get "ns$p" /)" "<h1>Docs home</h1>"
  contains "...and another" "$(get "ns$p" /about.html)" "<h1>About</h1>"
  contains "...and its CSS" "$(get "ns$p" /assets/app.css)" "rebeccapurple"
else
  echo "note: $nodeimg is missing: the Node.js apps were not deployed"
fi
EOT

test_expect_success 'a repository'\''s own BuildKit Dockerfile' <<'EOT'
expect 0 "deploy a Dockerfile that needs BuildKit" -- "$W" deploy "bk$p" --follow
contains "BuildKit is chosen, saying why" "$OUT" "building with the engine's BuildKit: line 1 of 'Dockerfile' uses a '# syntax=docker/dockerfile:1' directive"
contains "the unpullable frontend is dropped, saying so" "$OUT" "the Dockerfile frontend docker/dockerfile:1 that line 1 of 'Dockerfile' asks for cannot be pulled"
contains "BuildKit's steps are in the log" "$OUT" "RUN --mount=type=cache,target=/var/cache/site"
contains "it serves on the port it EXPOSEs" "$(get "bk$p" /)" "<h1>buildkit site</h1>"
contains "...what the cache-mount step wrote" "$(get "bk$p" /stamp.txt)" "built with BuildKit"
EOT

test_expect_success 'a site template whose package.json only drives gulp' <<'EOT'
expect 0 "deploy the gulp site template" -- "$W" deploy "gs$p" --follow
contains "served as a static site, nothing installed" "$OUT" "dist/index.html is committed, the output of package.json's build script (gulp build): served as a static site as it is, nothing installed or built"
contains "serves dist/" "$(get "gs$p" /)" "<h1>landing page</h1>"
contains "...and its CSS" "$(get "gs$p" /css/site.css)" "#0b6e4f"
[ "$(code "gs$p" /package.json)" = 404 ] && ok "package.json is not served" || bad "package.json: HTTP $(code "gs$p" /package.json)"

for n in "${deployed[@]}"; do "$W" hook run delete "$n" >/dev/null 2>&1; done
stop_daemon
EOT
finish
