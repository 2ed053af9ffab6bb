#!/usr/bin/env bash
# The proxy-nginx addon end to end with the real nginx and PostgreSQL, no
# Docker: the test addon fakeup (tests/addons/fakeup) publishes the
# `upstream` output docker would, pointing at local HTTP servers
# (proxy_backend.py) answering v1 or v2. Covers: a copy built outside the
# tree against pkg-config only; webopsd's daemon_start/daemon_stop running one
# private nginx (a second webopsd on the same data directory shares it);
# switches under a steady client loop (proxy_load.py) losing no request, every
# request after a switch answered by the new release; refused upstreams;
# nginx -t and reload failures keeping the previous configuration; stop (503),
# start, restart, delete; domain-only deployments; opting out; the fault
# pause; host mode against a second nginx with an include folder.
# ctest-resources: nginx-load
. "$(dirname "$0")/lib.sh"
test_setup 'the deployment and what it needs' <<'EOT'
need_db
NGINX=/usr/sbin/nginx
[ -x "$NGINX" ] || skip_all "no $NGINX (apt-get install nginx-light)"
export WEBOPS_DATABASE_URL=$(new_db)
export WEBOPS_DATA_DIR=$T/data
BUILD=${WEBOPS_BUILD_DIR:?}
SRC=${WEBOPS_SOURCE_DIR:?}
ADDON=$BUILD/addons/proxy-nginx
unset PKG_CONFIG_PATH http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY
for v in $(env | grep -o '^WEBOPS_PROXY_NGINX_[A-Z_]*'); do unset "$v"; done
AD=$(addons_dir fakeup)
ln -sfn "$ADDON" "$AD/proxy-nginx"
export WEBOPS_ADDONS_PATH=$AD
PX=$T/data/addons/proxy-nginx
UP=$T/up
HOST=$T/host
mkdir -p "$UP"
EOT

test_setup 'every nginx this test started goes when it ends (by the pid in its pid file)' <<'EOT'
px_cleanup() {
  local f p
  for f in "$PX/nginx.pid" "$HOST/nginx.pid"; do
    p=$(cat "$f" 2>/dev/null) || continue
    [ -n "$p" ] && tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q "^nginx: master" && kill -TERM "$p"
  done
}
at_exit 'px_cleanup'

same() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: got '$2', wanted '$3'"; fi; }
lacks() { if [[ "$2" == *"$3"* ]]; then bad "$1: '$3' in: $2"; else ok "$1"; fi; }
now() { python3 -c 'import time; print(time.monotonic())'; }
get() { curl -s --max-time 5 "$@"; }
code() { curl -s --max-time 5 -o /dev/null -w '%{http_code}' "$@"; }
master() { cat "$PX/nginx.pid" 2>/dev/null; }
alive() { [ -n "$1" ] && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q "^nginx: master"; }
workers() { ps -o pid= --ppid "$1" 2>/dev/null | tr -d ' ' | sort | tr '\n' ' '; }
masters_of() { pgrep -f "^nginx: master process .* -c $1 " | wc -l; }
hook() { expect "$1" "$2" -- "$W" hook run "${@:3}"; }
# backend BODY: a local release answering BODY; sets BPORT and BPID
backend() {
  local f=$T/backend.$RANDOM$RANDOM.port
  python3 "$SRC/tests/system/proxy_backend.py" "$1" "$f" 2>>"$T/backend.err" &
  BPID=$!
  _pids+=("$BPID")
  for i in $(seq 1200); do [ -s "$f" ] && break; sleep 0.05; done
  BPORT=$(cat "$f" 2>/dev/null)
  [ -n "$BPORT" ] || { echo "backend $1 did not start: $(cat "$T/backend.err")"; exit 1; }
}
upstream() { echo "127.0.0.1:$2" >"$UP/$1.upstream"; }
EOT

test_expect_success 'built outside the tree from the public header alone' <<'EOT'
O=$T/outside/proxy-nginx
mkdir -p "$T/outside"
cp -r "$SRC/addons/proxy-nginx" "$O"
contains "pkg-config gives only the public include dir" \
  "$(PKG_CONFIG_PATH=$BUILD pkg-config --cflags webops-addon)" "-I$SRC/core/include"
same "sources include only the C library, OpenSSL, webops/addon.h and their own headers" \
  "$(grep -h '#include' "$O"/*.c "$O"/*.h | sort -u | grep -v -E '#include <(dirent|errno|fcntl|ftw|grp|limits|poll|pwd|signal|stdarg|stddef|stdint|stdio|stdlib|string|time|unistd|sys/(file|stat|syscall|types|wait)|openssl/(bio|err|pem|x509|x509v3)|webops/addon)\.h>|#include "(acme|cert|conf|proc|proxy)\.h"')" ""
expect 0 "gcc builds the copy with pkg-config webops-addon alone (-Werror)" -- \
  bash -c "cd '$O' && gcc -std=gnu11 -O2 -Wall -Wextra -Wno-unused-parameter -Werror -o proxy-nginx.so hooks.c proxy.c conf.c proc.c acme.c cert.c \
    \$(PKG_CONFIG_PATH='$BUILD' pkg-config --cflags --libs webops-addon libcrypto) -Wl,-z,defs"
same "no libwebops in what it needs" "$(readelf -d "$O/proxy-nginx.so" | grep NEEDED | grep -c webops)" "0"
same "exports only the descriptor and the handlers" \
  "$(nm -D --defined-only "$O/proxy-nginx.so" | awk '{print $3}' | sort | tr '\n' ' ')" \
  "proxy_nginx_daemon_start proxy_nginx_daemon_stop proxy_nginx_delete proxy_nginx_post_deploy proxy_nginx_pre_deploy proxy_nginx_renew proxy_nginx_start proxy_nginx_status proxy_nginx_stop proxy_nginx_validate webops_addon_descriptor "
expect 0 "addon check passes on the outside build" -- "$W" addon check "$O"
contains "check reports ABI 1.2, 10 hooks and the fields" "$OUT" "is valid: addon ABI 1.2, 10 hooks, 4 fields"
expect 0 "cmake builds the copy as a project of its own" -- \
  bash -c "PKG_CONFIG_PATH='$BUILD' cmake -S '$O' -B '$T/outside/cm' >/dev/null && cmake --build '$T/outside/cm'"
expect 0 "addon check passes on the cmake build" -- "$W" addon check "$T/outside/cm"
EOT

test_expect_success 'settings and the field' <<'EOT'
expect 0 "listen_address defaults to 0.0.0.0 (a public port is public)" -- "$W" addon config proxy-nginx listen_address
contains "default" "$OUT" "0.0.0.0"
HP=$(free_port)
expect 0 "configure: upstream from fakeup, loopback, http_port $HP" -- \
  "$W" addon config proxy-nginx upstream_addon=fakeup listen_address=127.0.0.1 http_port="$HP"
expect 0 "fakeup reads $UP" -- "$W" addon config fakeup dir="$UP"
expect 1 "a listen address with a directive in it is refused by the schema" -- \
  "$W" addon config proxy-nginx 'listen_address=127.0.0.1; include /etc/passwd'
P1=$(free_port)
expect 0 "create web --port $P1" -- "$W" deployment create --name web --repo https://example.com/web.git --port "$P1"
expect 0 "deployment show" -- "$W" deployment show web --json
same "proxy defaults to true" "$(json_get "$OUT" "j['addon_fields']['proxy-nginx']['proxy']")" "True"
EOT

test_expect_success 'webopsd runs one private nginx, shared by a second webopsd, stopped with the last' <<'EOT'
start_daemon --listen 127.0.0.1:0 || exit 1
FIRST=$DAEMON_PID
for i in $(seq 1200); do alive "$(master)" && break; sleep 0.05; done
M=$(master)
if alive "$M"; then ok "daemon_start started nginx (pid $M)"; else bad "no nginx after webopsd started: $(cat "$T/webopsd.log")"; fi
contains "webopsd logs it" "$(cat "$T/webopsd.log")" "proxy-nginx: nginx is running (pid $M) with 0 server block(s), under $PX"
same "nginx left the hook's session (setsid)" "$(ps -o sid= -p "$M" | tr -d ' ')" "$M"
same "the master runs as root" "$(ps -o user= -p "$M")" "root"
same "its workers as www-data" "$(ps -o user= --ppid "$M" | sort -u)" "www-data"
same "one master with this configuration" "$(masters_of "$PX/nginx.conf")" "1"
start_daemon --listen 127.0.0.1:0 || exit 1
SECOND=$DAEMON_PID
same "a second webopsd on the same data dir starts no second nginx" "$(masters_of "$PX/nginx.conf")" "1"
same "the pid file still names the first" "$(master)" "$M"
kill -TERM "$SECOND"; wait "$SECOND" 2>/dev/null
contains "stopping the second leaves nginx to the first" "$(cat "$T/webopsd.log")" "keeps running: webopsd"
if alive "$M"; then ok "nginx still runs"; else bad "nginx stopped with the second webopsd"; fi
kill -TERM "$FIRST"; wait "$FIRST" 2>/dev/null
for i in $(seq 1200); do alive "$M" || break; sleep 0.05; done
if alive "$M"; then bad "nginx outlived the last webopsd"; else ok "the last webopsd stopping stops nginx"; fi
contains "logged" "$(cat "$T/webopsd.log")" "nginx (pid $M) stopped in"
EOT

test_expect_success 'the first deploy starts nginx and serves v1' <<'EOT'
backend v1; B1=$BPORT; B1PID=$BPID
backend v2; B2=$BPORT; B2PID=$BPID
upstream web "$B1"
hook 0 "post_deploy web (v1)" post_deploy web
contains "fakeup ran first (50), then proxy-nginx (70)" "$OUT" "[2/2] proxy-nginx: proxy_nginx_post_deploy (priority 70, required)"
contains "nginx was started" "$OUT" "now sends port $P1 to 127.0.0.1:$B1: started in"
contains "switched=true published" "$OUT" "switched=true"
M=$(master)
if alive "$M"; then ok "nginx runs (pid $M)"; else bad "nginx is not running"; fi
same "GET through nginx answers v1" "$(get "http://127.0.0.1:$P1/")" "v1"
SITE=$(cat "$PX/sites/web.conf")
contains "an upstream block with the release" "$SITE" "upstream webops_web {
    server 127.0.0.1:$B1;
    keepalive 16;
}"
contains "listens on the deployment's port" "$SITE" "listen 127.0.0.1:$P1 default_server;"
for d in "proxy_pass http://webops_web;" "proxy_http_version 1.1;" "proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;" \
  "proxy_set_header X-Forwarded-Proto \$scheme;" "proxy_set_header X-Real-IP \$remote_addr;" \
  "proxy_set_header Connection \$webops_conn_web;" "proxy_next_upstream error timeout;" "proxy_read_timeout 60s;"; do
  contains "server block has $d" "$SITE" "$d"
done
H=$(get "http://127.0.0.1:$P1/headers")
same "the release sees Host with the public port" "$(json_get "$H" "j.get('host')")" "127.0.0.1:$P1"
same "X-Forwarded-For" "$(json_get "$H" "j.get('x-forwarded-for')")" "127.0.0.1"
same "X-Real-IP" "$(json_get "$H" "j.get('x-real-ip')")" "127.0.0.1"
same "X-Forwarded-Proto" "$(json_get "$H" "j.get('x-forwarded-proto')")" "http"
same "no Connection: close to the release (keep-alive)" "$(json_get "$H" "j.get('connection')")" "None"
same "no journal left" "$(ls "$PX/journal")" ""
same "no staged file left" "$(ls "$PX/sites")" "web.conf"
EOT

test_expect_success 'switches under a steady client loop: nothing lost' <<'EOT'
rm -f "$T/stop"
python3 "$SRC/tests/system/proxy_load.py" "http://127.0.0.1:$P1/" 4 "$T/load.jsonl" "$T/stop" &
LOADPID=$!
_pids+=("$LOADPID")
sleep 1
: >"$T/switches"
for target in v2 v1 v2 v1 v2; do
  [ "$target" = v1 ] && upstream web "$B1" || upstream web "$B2"
  t0=$(now)
  "$W" hook run post_deploy web --json >"$T/sw.json" 2>"$T/sw.err"
  rc=$?
  t1=$(now)
  ms=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['outputs'].get('proxy-nginx', {}).get('switch_ms', '-'))" "$T/sw.json" 2>/dev/null)
  echo "$t0 $t1 $target $rc $ms" >>"$T/switches"
  sleep 1
done
touch "$T/stop"
wait "$LOADPID"
same "every switch succeeded" "$(awk '{print $4}' "$T/switches" | sort -u)" "0"
read -r NREQ RATE FAILED WRONG DURING <<<"$(python3 - "$T/load.jsonl" "$T/switches" <<'EOF'
import json, sys
rs = sorted((json.loads(l) for l in open(sys.argv[1])), key=lambda r: r["start"])
sw = [l.split() for l in open(sys.argv[2])]
failed = [r for r in rs if r["error"] or r["status"] != 200]
for r in failed[:5]:
    print("failed:", r, file=sys.stderr)
rate = len(rs) / (rs[-1]["end"] - rs[0]["start"])
wrong, during, prev = 0, 0, "v1"
for i, (t0, t1, target, rc, ms) in enumerate(sw):
    t0, t1 = float(t0), float(t1)
    since = float(sw[i - 1][1]) if i else 0.0
    until = float(sw[i + 1][0]) if i + 1 < len(sw) else float("inf")
    # before the hook began: the previous release; after it returned: the new one
    bad = [r for r in rs if since < r["start"] and r["end"] < t0 and r["body"] != prev]
    bad += [r for r in rs if t1 < r["start"] and r["end"] < until and r["body"] != target]
    for r in bad[:3]:
        print("wrong version:", target, r, file=sys.stderr)
    wrong += len(bad)
    during += sum(1 for r in rs if r["start"] <= t1 and r["end"] >= t0)
    prev = target
print(len(rs), int(rate), len(failed), wrong, during)
EOF
)"
SWMS=$(awk '{print $5}' "$T/switches" | tr '\n' ' ')
HOOKMS=$(awk '{printf "%d ", ($2 - $1) * 1000}' "$T/switches")
echo "  figures: $NREQ requests at $RATE req/s, $DURING of them during the 5 switches; reload confirmed in $SWMS ms; hook runs took $HOOKMS ms (CLI included)"
if [ "${RATE:-0}" -ge 50 ]; then ok "the client loop ran at >= 50 req/s ($RATE)"; else bad "client loop too slow: $RATE req/s"; fi
same "requests lost during 5 switches" "$FAILED" "0"
same "responses from the wrong release (before a switch: the old, after: the new)" "$WRONG" "0"
if [ "${DURING:-0}" -gt 0 ]; then ok "requests were in flight during the switches ($DURING)"; else bad "no request overlapped a switch"; fi
EOT

test_expect_success 'clients that keep their connections (as browsers do)' <<'EOT'
# --- 5b. clients that keep their connections (as browsers do) ---
# load_keepalive LABEL: 3 switches under 4 keep-alive client threads; sets KN (requests), KE (failed), KR (failed
# otherwise than as a kept connection nginx closed while idle, before any response)
load_keepalive() {
  rm -f "$T/stopk"
  python3 "$SRC/tests/system/proxy_load.py" "http://127.0.0.1:$P1/" 4 "$T/loadk.jsonl" "$T/stopk" keepalive &
  local lp=$!
  _pids+=("$lp")
  sleep 0.5
  for target in v1 v2 v1 v2; do
    [ "$target" = v1 ] && upstream web "$B1" || upstream web "$B2"
    "$W" hook run post_deploy web >/dev/null 2>&1 || bad "$1: switch to $target"
    sleep 0.5
  done
  touch "$T/stopk"
  wait "$lp"
  read -r KN KE KR <<<"$(python3 - "$T/loadk.jsonl" <<'EOF2'
import json, sys
rs = [json.loads(l) for l in open(sys.argv[1])]
failed = [r for r in rs if r["error"] or r["status"] != 200]
other = [r for r in failed if not (r["reused"] and r["error"] and
         r["error"].split(":")[0] in ("RemoteDisconnected", "ConnectionResetError", "BrokenPipeError"))]
for r in other[:5]:
    print("failed:", r, file=sys.stderr)
print(len(rs), len(failed), len(other))
EOF2
)"
}
load_keepalive "keep-alive 65 s"
echo "  figures: keep-alive clients, keepalive_timeout_s 65 (default): $KE of $KN requests met a kept connection closed by a switch before any answer (browsers retry those)"
same "keep-alive 65 s: no other failure" "$KR" "0"
expect 0 "keepalive_timeout_s=0" -- "$W" addon config proxy-nginx keepalive_timeout_s=0
hook 0 "applied at the next deploy" post_deploy web
contains "in the server block" "$(cat "$PX/sites/web.conf")" "keepalive_timeout 0s;"
load_keepalive "keep-alive 0"
echo "  figures: keep-alive clients, keepalive_timeout_s 0: $KE of $KN requests failed"
same "keepalive_timeout_s 0: keep-alive clients lose nothing either" "$KE" "0"
expect 0 "keepalive_timeout_s back to the default" -- "$W" addon config proxy-nginx --unset keepalive_timeout_s
upstream web "$B2"
hook 0 "web on v2, default keep-alive" post_deploy web
EOT

test_expect_success 'the old release retired (docker'\''s priority 90 does it after `switched`): nginx keeps no stale connection to it' <<'EOT'
kill "$B1PID"; wait "$B1PID" 2>/dev/null
n=0
for i in $(seq 30); do [ "$(get "http://127.0.0.1:$P1/")" = v2 ] && n=$((n+1)); done
same "after the old release is gone, all 30 requests answer v2" "$n" "30"
backend v1; B1=$BPORT; B1PID=$BPID
EOT

test_expect_success 'an upstream that is not ADDRESS:PORT is refused; the previous one stays' <<'EOT'
cp "$PX/sites/web.conf" "$T/web.conf.good"
for bad_up in "127.0.0.1:80; include /etc/passwd" "localhost:80" "127.0.0.1:70000" "127.0.0.1:80 backup" "[::1"; do
  expect 0 "fakeup_upstream='$bad_up'" -- "$W" deployment update web --set "fakeup_upstream=$bad_up"
  hook 1 "refused: $bad_up" post_deploy web
  contains "says why" "$OUT" "addon 'fakeup' published an unusable upstream for 'web': upstream '$bad_up' is refused: expected ADDRESS:PORT"
done
expect 0 "fakeup_upstream back to the file" -- "$W" deployment update web --set "fakeup_upstream="
if cmp -s "$PX/sites/web.conf" "$T/web.conf.good"; then ok "the server block did not change"; else bad "the server block changed"; fi
same "still served by v2" "$(get "http://127.0.0.1:$P1/")" "v2"
EOT

test_expect_success 'nginx -t refuses: nothing changes' <<'EOT'
W0=$(workers "$M")
upstream web "$B1"
expect 1 "a listen address nginx cannot bind is refused by nginx -t" -- \
  env WEBOPS_PROXY_NGINX_LISTEN_ADDRESS=192.0.2.1 "$W" hook run post_deploy web
contains "with nginx's message" "$OUT" "nginx -t refused the new configuration: bind() to 192.0.2.1:$P1 failed (99: Cannot assign requested address); nginx keeps its previous configuration"
if cmp -s "$PX/sites/web.conf" "$T/web.conf.good"; then ok "the server block did not change"; else bad "the server block changed"; fi
same "no staged file left" "$(ls "$PX/sites")" "web.conf"
same "no journal left" "$(ls "$PX/journal")" ""
same "nginx was not reloaded (same workers)" "$(workers "$M")" "$W0"
same "still served by v2" "$(get "http://127.0.0.1:$P1/")" "v2"
EOT

test_expect_success 'nginx -t passes but the reload does not apply (a port another program holds)' <<'EOT'
PB=$(free_port)
python3 -c "
import socket, time
s = socket.socket(); s.bind(('127.0.0.1', $PB)); s.listen(); open('$T/holder', 'w').close(); time.sleep(60)" &
HOLDER=$!
_pids+=("$HOLDER")
for i in $(seq 1200); do [ -e "$T/holder" ] && break; sleep 0.05; done
expect 0 "create busy --port $PB" -- "$W" deployment create --name busy --repo https://example.com/b.git --port "$PB"
upstream busy "$B2"
hook 1 "post_deploy busy fails: the port is taken" post_deploy busy
contains "with nginx's words from its error log" "$OUT" "cannot send 'busy' to 127.0.0.1:$B2: nginx did not apply the new configuration: bind() to 127.0.0.1:$PB failed (98: Address already in use)"
same "busy's block was taken back" "$(ls "$PX/sites")" "web.conf"
same "nginx kept its workers" "$(workers "$M")" "$W0"
same "web is still served by v2" "$(get "http://127.0.0.1:$P1/")" "v2"
kill "$HOLDER"; wait "$HOLDER" 2>/dev/null
hook 0 "with the port free, busy deploys" post_deploy busy
same "busy answers v2" "$(get "http://127.0.0.1:$PB/")" "v2"
hook 0 "delete busy" delete busy
contains "removed" "$OUT" "removed the server block of 'busy'"
EOT

test_expect_success 'the same upstream again changes nothing' <<'EOT'
upstream web "$B2"
W0=$(workers "$M")
hook 0 "post_deploy web with the upstream it has" post_deploy web
contains "says so" "$OUT" "already sends port $P1 to 127.0.0.1:$B2"
contains "still publishes switched" "$OUT" "switched=true"
same "no reload" "$(workers "$M")" "$W0"
EOT

test_expect_success 'stop answers 503, start and restart serve again' <<'EOT'
expect 0 "webops deployment stop web" -- "$W" deployment stop web
contains "proxy-nginx's stop ran" "$OUT$ERR" "503"
same "503 while stopped" "$(code "http://127.0.0.1:$P1/")" "503"
same "with a page saying so" "$(get "http://127.0.0.1:$P1/")" "web is stopped"
contains "and Retry-After" "$(curl -s -D - -o /dev/null "http://127.0.0.1:$P1/")" "Retry-After: 30"
upstream web "$B1"
expect 0 "webops deployment start web (fakeup publishes another upstream)" -- "$W" deployment start web
same "served again, by the new upstream" "$(get "http://127.0.0.1:$P1/")" "v1"
upstream web "$B2"
expect 0 "webops deployment restart web" -- "$W" deployment restart web
same "after a restart: the upstream start published" "$(get "http://127.0.0.1:$P1/")" "v2"
hook 0 "start with the same upstream" start web
contains "nothing to change" "$OUT" "already sends port $P1 to 127.0.0.1:$B2"
EOT

test_expect_success 'a domain without a port: name-based on http_port' <<'EOT'
expect 0 "create dom --domain app.example.test" -- "$W" deployment create --name dom --repo https://example.com/d.git --domain app.example.test
upstream dom "$B1"
hook 0 "post_deploy dom" post_deploy dom
contains "served on http_port" "$OUT" "now sends app.example.test on port $HP to 127.0.0.1:$B1"
same "Host: app.example.test reaches v1" "$(get -H 'Host: app.example.test' "http://127.0.0.1:$HP/")" "v1"
same "another host name gets 404" "$(code -H 'Host: other.example.test' "http://127.0.0.1:$HP/")" "404"
contains "saying why" "$(get -H 'Host: other.example.test' "http://127.0.0.1:$HP/")" "no deployment is served under this host name"
H=$(get -H 'Host: app.example.test' "http://127.0.0.1:$HP/headers")
same "the release sees the Host asked for" "$(json_get "$H" "j.get('host')")" "app.example.test:$HP"
contains "server_name in the block" "$(cat "$PX/sites/dom.conf")" "server_name app.example.test;"
contains "the main file has the catch-all" "$(cat "$PX/nginx.conf")" "listen 127.0.0.1:$HP default_server;"
same "web still answers" "$(get "http://127.0.0.1:$P1/")" "v2"
EOT

test_expect_success 'deployments nginx does not front' <<'EOT'
expect 0 "dom opts out (proxy=false)" -- "$W" deployment update dom --set proxy=false
hook 0 "post_deploy skips" post_deploy dom
contains "saying why" "$OUT" "skipped: proxy is off for this deployment"
hook 0 "pre_deploy removes the block it had" pre_deploy dom
contains "saying why" "$OUT" "removed the server block of 'dom': proxy is off"
same "its host name is not served any more" "$(code -H 'Host: app.example.test' "http://127.0.0.1:$HP/")" "000"
lacks "no catch-all without domain deployments" "$(cat "$PX/nginx.conf")" "default_server"
expect 0 "dom opts in again" -- "$W" deployment update dom --set proxy=true
hook 0 "pre_deploy without a block: nothing to do" pre_deploy dom
contains "skipped" "$OUT" "skipped: 'dom' has no server block"
hook 0 "post_deploy dom again" post_deploy dom
same "served again" "$(get -H 'Host: app.example.test' "http://127.0.0.1:$HP/")" "v1"
hook 0 "pre_deploy leaves a fronted deployment's block alone" pre_deploy dom
contains "skipped" "$OUT" "skipped: 'dom' stays served through nginx (switched in post_deploy)"
same "still served" "$(get -H 'Host: app.example.test' "http://127.0.0.1:$HP/")" "v1"
expect 0 "create bare (no port, no domain)" -- "$W" deployment create --name bare --repo https://example.com/x.git
upstream bare "$B1"
hook 0 "bare: skipped" post_deploy bare
contains "saying why" "$OUT" "skipped: the deployment has neither a port nor a domain to serve"
expect 0 "create nou --port (no upstream published)" -- "$W" deployment create --name nou --repo https://example.com/x.git --port "$(free_port)"
hook 0 "nou: skipped" post_deploy nou
contains "saying why" "$OUT" "skipped: no upstream from addon 'fakeup' for 'nou'"
if [ -d "$BUILD/addons/docker" ] && WEBOPS_ADDONS_PATH="$AD:$BUILD/addons/docker" "$W" addon list 2>/dev/null | grep -q "^docker .*enabled"; then
  export WEBOPS_ADDONS_PATH="$AD:$BUILD/addons/docker"
  expect 0 "web gets docker_ports" -- "$W" deployment update web --set docker.docker_ports=8080:80
  hook 0 "pre_deploy removes web's block: the container publishes its port" pre_deploy web
  contains "saying why" "$OUT" "removed the server block of 'web': docker_ports is set"
  same "nginx no longer listens on $P1" "$(code "http://127.0.0.1:$P1/")" "000"
  hook 0 "post_deploy skips web" post_deploy web
  contains "saying why" "$OUT" "skipped: docker_ports is set"
  expect 0 "docker_ports emptied" -- "$W" deployment update web --set 'docker.docker_ports=[]'
  hook 0 "post_deploy web again" post_deploy web
  same "served again" "$(get "http://127.0.0.1:$P1/")" "v2"
  export WEBOPS_ADDONS_PATH=$AD
else
  echo "  (the docker addon is not loadable from $BUILD/addons/docker: docker_ports not checked)"
fi
EOT

test_expect_success 'the fault pause (tests only): a cancel after the switch switches back' <<'EOT'
upstream web "$B1"
WEBOPS_PROXY_NGINX_FAULT_PAUSE=after_switch "$W" hook run post_deploy web >"$T/pause.out" 2>&1 &
CLI=$!
for i in $(seq 1200); do grep -q "fault pause: after_switch" "$T/pause.out" && break; sleep 0.05; done
contains "the hook says it pauses" "$(cat "$T/pause.out")" "warn: fault pause: after_switch"
same "during the pause nginx already sends to the new release" "$(get "http://127.0.0.1:$P1/")" "v1"
lacks "switched is not published yet" "$(cat "$T/pause.out")" "switched=true"
s0=$(date +%s%N)
kill -INT "$CLI"
wait "$CLI"
rc=$?
ms=$(( ($(date +%s%N) - s0) / 1000000 ))
same "the cancelled run fails" "$rc" "1"
contains "saying nginx was switched back" "$(cat "$T/pause.out")" "cancelled after the switch to 127.0.0.1:$B1; nginx was switched back"
echo "  figures: cancel to switched back: $ms ms"
same "the previous release serves again" "$(get "http://127.0.0.1:$P1/")" "v2"
same "no journal left" "$(ls "$PX/journal")" ""
EOT

test_expect_success 'a change killed midway (journal written, file moved) is put back by the next one' <<'EOT'
cp "$PX/sites/web.conf" "$T/web.before"
cp "$PX/sites/web.conf" "$PX/journal/site-web.prev"
echo "this is not nginx" >"$PX/sites/web.conf"
hook 0 "the next change (of another deployment) recovers first" post_deploy dom
contains "saying what it put back" "$OUT" "a change was interrupted: put back the previous '$PX/sites/web.conf'"
if cmp -s "$PX/sites/web.conf" "$T/web.before"; then ok "web's block is the previous one"; else bad "web's block was not put back"; fi
same "no journal left" "$(ls "$PX/journal")" ""
same "web serves" "$(get "http://127.0.0.1:$P1/")" "v2"
EOT

test_expect_success 'changes of two deployments at once are serialized, both applied' <<'EOT'
upstream web "$B1"
upstream dom "$B2"
"$W" hook run post_deploy web >"$T/par1.out" 2>&1 &
PA=$!
"$W" hook run post_deploy dom >"$T/par2.out" 2>&1 &
PB2=$!
wait "$PA"; ra=$?
wait "$PB2"; rb=$?
same "both succeed" "$ra $rb" "0 0"
same "web answers v1" "$(get "http://127.0.0.1:$P1/")" "v1"
same "dom answers v2" "$(get -H 'Host: app.example.test' "http://127.0.0.1:$HP/")" "v2"
upstream web "$B2"
hook 0 "web back to v2" post_deploy web
EOT

test_expect_success 'delete removes the block' <<'EOT'
hook 0 "delete web" delete web
contains "says so" "$OUT" "removed the server block of 'web'"
same "the file is gone" "$(ls "$PX/sites")" "dom.conf"
same "nothing listens on $P1" "$(code "http://127.0.0.1:$P1/")" "000"
hook 0 "delete again: nothing to remove" delete web
contains "skipped" "$OUT" "skipped: 'web' has no server block"
EOT

test_expect_success 'daemon_start / daemon_stop through hook run' <<'EOT'
M=$(master)
hook 0 "daemon_stop" daemon_stop dom
contains "stops nginx" "$OUT" "nginx (pid $M) stopped in"
for i in $(seq 1200); do alive "$M" || break; sleep 0.05; done
if alive "$M"; then bad "nginx still runs"; else ok "nginx is gone"; fi
hook 0 "daemon_start" daemon_start dom
contains "starts it with the blocks on disk" "$OUT" "with 1 server block(s)"
same "dom is served again" "$(get -H 'Host: app.example.test' "http://127.0.0.1:$HP/")" "v2"
M=$(master)
hook 0 "daemon_stop" daemon_stop dom
for i in $(seq 1200); do alive "$M" || break; sleep 0.05; done
if alive "$M"; then bad "nginx still runs"; else ok "stopped again"; fi
EOT

test_expect_success 'real runs through webopsd'\''s pipeline, under load' <<'EOT'
make_repo "$T/repo"
PR=$(free_port)
expect 0 "create rel --port $PR from a local repository" -- "$W" deployment create --name rel --repo "$T/repo" --port "$PR"
upstream rel "$B1"
start_daemon --listen 127.0.0.1:0 --workers 1 || exit 1
for i in $(seq 1200); do alive "$(master)" && break; sleep 0.05; done
expect 0 "webops deploy rel" -- "$W" deploy rel --follow
contains "the run log has the switch" "$OUT" "now sends port $PR to 127.0.0.1:$B1"
same "rel answers v1" "$(get "http://127.0.0.1:$PR/")" "v1"
rm -f "$T/stop2"
python3 "$SRC/tests/system/proxy_load.py" "http://127.0.0.1:$PR/" 4 "$T/load2.jsonl" "$T/stop2" &
LOADPID=$!
_pids+=("$LOADPID")
sleep 1
upstream rel "$B2"
commit_repo "$T/repo" v2
expect 0 "deploy rel again under load (v2)" -- "$W" deploy rel --follow
contains "switched" "$OUT" "now sends port $PR to 127.0.0.1:$B2: switched in"
T2=$(now)
sleep 1
touch "$T/stop2"
wait "$LOADPID"
read -r N2 F2 W2 <<<"$(python3 - "$T/load2.jsonl" "$T2" <<'EOF'
import json, sys
rs = [json.loads(l) for l in open(sys.argv[1])]
t = float(sys.argv[2])
print(len(rs), sum(1 for r in rs if r["error"] or r["status"] != 200),
      sum(1 for r in rs if r["start"] > t and r["body"] != "v2"))
EOF
)"
echo "  figures: $N2 requests during a real deploy through webopsd"
same "requests lost during the deploy" "$F2" "0"
same "responses after the run ended not from v2" "$W2" "0"
stop_daemon
M=$(master)
for i in $(seq 1200); do alive "$M" || break; sleep 0.05; done
if alive "$M"; then bad "nginx outlived webopsd"; else ok "webopsd stopping stopped nginx"; fi
EOT

test_expect_success 'host mode: an nginx of its own, with an include folder' <<'EOT'
mkdir -p "$HOST/conf.d" "$HOST/tmp"
HP0=$(free_port)
cat >"$HOST/nginx.conf" <<EOF
daemon on;
worker_processes 1;
pid $HOST/nginx.pid;
error_log $HOST/error.log notice;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path $HOST/tmp/body;
    proxy_temp_path $HOST/tmp/proxy;
    fastcgi_temp_path $HOST/tmp/fastcgi;
    uwsgi_temp_path $HOST/tmp/uwsgi;
    scgi_temp_path $HOST/tmp/scgi;
    server { listen 127.0.0.1:$HP0; location / { return 200 "host nginx\n"; } }
    include $HOST/conf.d/*.conf;
}
EOF
expect 0 "the host's nginx starts" -- "$NGINX" -c "$HOST/nginx.conf"
HM=$(cat "$HOST/nginx.pid")
same "it answers" "$(get "http://127.0.0.1:$HP0/")" "host nginx"
export WEBOPS_PROXY_NGINX_MODE=host WEBOPS_PROXY_NGINX_INCLUDE_DIR=$HOST/conf.d WEBOPS_PROXY_NGINX_CONFIG_FILE=$HOST/nginx.conf \
  WEBOPS_PROXY_NGINX_PID_FILE=$HOST/nginx.pid WEBOPS_PROXY_NGINX_ERROR_LOG=$HOST/error.log
PH=$(free_port)
expect 0 "create hweb --port $PH" -- "$W" deployment create --name hweb --repo https://example.com/h.git --port "$PH"
upstream hweb "$B1"
hook 0 "host mode: post_deploy hweb" post_deploy hweb
contains "the host's nginx was reloaded" "$OUT" "nginx (pid $HM) now sends port $PH to 127.0.0.1:$B1: switched in"
same "the block is in the include folder" "$(ls -A "$HOST/conf.d")" "webops-hweb.conf"
lacks "without default_server (the host decides)" "$(cat "$HOST/conf.d/webops-hweb.conf")" "default_server"
same "served through the host's nginx" "$(get "http://127.0.0.1:$PH/")" "v1"
same "the host's own server still answers" "$(get "http://127.0.0.1:$HP0/")" "host nginx"
same "no private nginx was started" "$(alive "$(master)" && echo yes || echo no)" "no"
cp "$HOST/conf.d/webops-hweb.conf" "$T/hweb.good"
upstream hweb "$B2"
expect 1 "host mode: nginx -t on the host's configuration refuses" -- \
  env WEBOPS_PROXY_NGINX_LISTEN_ADDRESS=192.0.2.1 "$W" hook run post_deploy hweb
contains "with nginx's message" "$OUT" "nginx -t refused the new configuration: bind() to 192.0.2.1:$PH failed (99: Cannot assign requested address)"
if cmp -s "$HOST/conf.d/webops-hweb.conf" "$T/hweb.good"; then ok "the previous block was put back"; else bad "the block changed"; fi
same "no temporary file left in the include folder" "$(ls -A "$HOST/conf.d")" "webops-hweb.conf"
same "still v1" "$(get "http://127.0.0.1:$PH/")" "v1"
hook 0 "host mode: switch to v2" post_deploy hweb
same "v2 through the host's nginx" "$(get "http://127.0.0.1:$PH/")" "v2"
hook 0 "host mode: stop" stop hweb
same "503" "$(code "http://127.0.0.1:$PH/")" "503"
hook 0 "host mode: daemon_start skips" daemon_start hweb
contains "saying why" "$OUT" "skipped: mode is host"
hook 0 "host mode: delete" delete hweb
same "the include folder is empty" "$(ls -A "$HOST/conf.d")" ""
same "nothing listens on $PH" "$(code "http://127.0.0.1:$PH/")" "000"
same "the host's nginx runs on" "$(get "http://127.0.0.1:$HP0/")" "host nginx"
kill -QUIT "$HM"
for i in $(seq 1200); do alive "$HM" || break; sleep 0.05; done
if alive "$HM"; then bad "the host's nginx did not stop"; else ok "the host's nginx stopped"; fi
unset WEBOPS_PROXY_NGINX_MODE WEBOPS_PROXY_NGINX_INCLUDE_DIR WEBOPS_PROXY_NGINX_CONFIG_FILE WEBOPS_PROXY_NGINX_PID_FILE WEBOPS_PROXY_NGINX_ERROR_LOG
EOT

finish
