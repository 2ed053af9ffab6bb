#!/usr/bin/env bash
# Benchmark: webopsd's HTTP server under wrk (2 threads, 64 connections,
# 10 s after a 2 s warm-up) on GET /api/v1/deployments (bearer token) and on
# the deployments page GET / (session cookie), 100 deployments in the
# database; the HTTP process's peak RSS during the API load. Baseline, same
# run: nginx serving the very same response bodies as static files, measured
# with the same wrk command. Goals: API >= 5,000 req/s, p99 <= 20 ms, RSS <= 40 MB.
# Needs wrk and nginx (exits 0 with a hint when absent), WEBOPS_BIN_DIR
# (scripts/bench sets it; default build/bin), and WEBOPS_TEST_DATABASE_URL or
# a PostgreSQL install to start a private server from.
set -uo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
missing=()
for tool in wrk nginx curl; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench_http: skipped: ${missing[*]} not installed (apt-get install -y wrk nginx-light curl)"
  exit 0
fi

export WEBOPS_BIN_DIR=${WEBOPS_BIN_DIR:-$root/build/bin}
export WEBOPS_BUILD_DIR=${WEBOPS_BUILD_DIR:-$(dirname "$WEBOPS_BIN_DIR")}
. "$root/tests/system/lib.sh"
. "$root/scripts/lib/pg.sh"

WRK_THREADS=2 WRK_CONNS=64 WRK_SECS=10 WARM_SECS=2 NDEPLOY=100
sampler_stop=$T/sampler.stop
pgdir=

# shellcheck disable=SC2317 # called by the EXIT trap
bench_cleanup() {
  touch "$sampler_stop" 2>/dev/null
  _cleanup # webopsd, nginx and the sampler (all in _pids), the database, $T
  pg_stop_private
  [ -n "$pgdir" ] && rm -rf "$pgdir"
}
trap bench_cleanup EXIT

die() { echo "bench_http: $*" >&2; exit 1; }

if [ -z "${WEBOPS_TEST_DATABASE_URL:-}" ]; then
  pgdir=$(mktemp -d /tmp/wo-bench-pg.XXXXXX)
  pg_start_private "$pgdir" || die "cannot start a private PostgreSQL"
fi
WEBOPS_DATABASE_URL=$(new_db) || die "cannot create a database"
export WEBOPS_DATABASE_URL
export WEBOPS_DATA_DIR=$T/data

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# ---- webopsd with 100 deployments ----
start_daemon --listen 127.0.0.1:0 --workers 1 || exit 1
BASE=$(sed -n 's/.*http: listening on \(http:[^ ]*\).*/\1/p' "$T/webopsd.log" | head -1)
[ -n "$BASE" ] || die "webopsd printed no listen line: $(cat "$T/webopsd.log")"
TOKEN=$("$W" token create bench) || die "cannot create a token"
AUTH="Authorization: Bearer $TOKEN"

for i in $(seq "$NDEPLOY"); do
  n=$(printf '%03d' "$i")
  body=$(printf '{"name": "app-%s", "repo_url": "https://example.com/app-%s.git", "port": %d, "env_vars": {"NODE_ENV": "production", "LOG_LEVEL": "info", "WORKERS": "%d", "DATABASE_URL": "postgres://app-%s@db/app"}}' \
    "$n" "$n" $((20000 + i)) $((i % 8 + 1)) "$n")
  code=$(curl -s -o "$T/create.out" -w '%{http_code}' -X POST -H "$AUTH" -H 'Content-Type: application/json' \
    --data-binary "$body" "$BASE/api/v1/deployments")
  [ "$code" = 201 ] || die "creating app-$n answered $code: $(cat "$T/create.out")"
done

# ---- nginx serving the same bytes ----
N=$T/nginx
mkdir -p "$N/www" "$N/tmp"
curl -sf -H "$AUTH" -o "$N/www/api.json" "$BASE/api/v1/deployments" || die "cannot fetch the API body"
api_bytes=$(stat -c %s "$N/www/api.json")

# a session for the page: a user, then POST /login
page_note=
COOKIE=
if printf %s password123 | "$W" user create bench --password-stdin >"$T/user.out" 2>&1; then
  code=$(curl -s -o /dev/null -D "$T/login.hdr" -w '%{http_code}' \
    --data-urlencode user=bench --data-urlencode password=password123 "$BASE/login")
  sid=$(sed -n 's/^[Ss]et-[Cc]ookie: *webops_session=\([^;]*\).*/\1/p' "$T/login.hdr" | tr -d '\r' | head -1)
  if [ -n "$sid" ]; then
    COOKIE="Cookie: webops_session=$sid"
    code=$(curl -s -o "$N/www/page.html" -w '%{http_code}' -H "$COOKIE" "$BASE/")
    [ "$code" = 200 ] || page_note="GET / with the session answered $code"
  else
    page_note="POST /login answered $code without a webops_session cookie (is the web UI built?)"
  fi
else
  page_note="cannot create a user: $(cat "$T/user.out")"
fi
[ -n "$page_note" ] && COOKIE=
page_bytes=$( [ -n "$COOKIE" ] && stat -c %s "$N/www/page.html" || echo 0)

# the same security headers as webopsd, so header bytes are alike too
csp="default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
temp_paths="client_body_temp_path $N/tmp/body;"
for m in proxy fastcgi uwsgi scgi; do
  nginx -V 2>&1 | grep -q -- "--without-http_${m}_module" || temp_paths+=" ${m}_temp_path $N/tmp/$m;"
done
NGINX_PORT=$(free_port)
cat >"$N/nginx.conf" <<EOF
daemon off;
worker_processes 2;
pid $N/nginx.pid;
error_log $N/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  $temp_paths
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  types { }
  add_header Content-Security-Policy "$csp";
  add_header X-Frame-Options DENY;
  add_header X-Content-Type-Options nosniff;
  add_header Referrer-Policy same-origin;
  add_header Cache-Control no-store;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $N/www;
    location = /api.json { default_type application/json; }
    location = /page.html { default_type "text/html; charset=utf-8"; }
  }
}
EOF
nginx -p "$N" -e "$N/error.log" -c "$N/nginx.conf" >"$N/nginx.out" 2>&1 &
NGINX_PID=$!
_pids+=("$NGINX_PID")
for _ in $(seq 50); do
  curl -sf -o /dev/null "http://127.0.0.1:$NGINX_PORT/api.json" && break
  kill -0 "$NGINX_PID" 2>/dev/null || die "nginx did not start: $(cat "$N/nginx.out" "$N/error.log")"
  sleep 0.1
done
cmp -s <(curl -sf "http://127.0.0.1:$NGINX_PORT/api.json") "$N/www/api.json" || die "nginx does not serve the API bytes"

# ---- wrk ----
to_ms() { # wrk's "950.00us", "12.3ms", "1.2s", "1.00m" -> milliseconds
  awk -v v="$1" 'BEGIN { n = v + 0; u = v; sub(/^[0-9.]+/, "", u);
    f = u == "us" ? 0.001 : u == "ms" ? 1 : u == "s" ? 1000 : u == "m" ? 60000 : u == "h" ? 3600000 : -1;
    if (f < 0) print "?"; else printf "%.2f\n", n * f }'
}

# run_wrk URL [HEADER]: a warm-up, then the measured run; sets RPS, P99, BAD
run_wrk() {
  local url=$1 hdr=()
  [ -n "${2:-}" ] && hdr=(-H "$2")
  wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d"${WARM_SECS}s" "${hdr[@]}" "$url" >/dev/null 2>&1
  wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d"${WRK_SECS}s" --latency "${hdr[@]}" "$url" >"$T/wrk.out" 2>&1
  RPS=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$T/wrk.out")
  P99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$T/wrk.out")")
  local non2xx errs
  non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$T/wrk.out")
  errs=$(sed -n 's/.*Socket errors: //p' "$T/wrk.out")
  BAD=
  [ -n "$non2xx" ] && BAD+=" non-2xx: $non2xx"
  [ -n "$errs" ] && BAD+=" socket errors: $errs"
  [ -n "$RPS" ] || { echo "bench_http: wrk failed on $url:"; cat "$T/wrk.out"; RPS=0 P99='?'; }
}

# ---- RSS of webopsd's processes while the API is under load ----
rss_kb() { local v; v=$(awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null); echo "${v:-0}"; }
descendants() { local c; for c in $(pgrep -P "$1"); do echo "$c"; descendants "$c"; done; }
# the HTTP process: the daemon's child with the most threads (the pool)
http_pid=$(for c in $(pgrep -P "$DAEMON_PID"); do
  echo "$(awk '/^Threads:/ { print $2 }' "/proc/$c/status" 2>/dev/null || echo 0) $c"; done | sort -rn | head -1 | cut -d' ' -f2)
[ -n "$http_pid" ] || die "cannot find webopsd's HTTP process (children of $DAEMON_PID)"

# sample every 0.25 s until told to stop (bounded: 30 s at most); the peaks go
# to $T/rss as "http_kb total_kb nprocs"
sample_rss() {
  local peak_http=0 peak_total=0 nprocs=0 i p total n h
  for i in $(seq 120); do
    [ -e "$sampler_stop" ] && break
    total=0 n=0
    for p in "$DAEMON_PID" $(descendants "$DAEMON_PID"); do
      total=$((total + $(rss_kb "$p"))); n=$((n + 1))
    done
    h=$(rss_kb "$http_pid")
    [ "$h" -gt "$peak_http" ] && peak_http=$h
    [ "$total" -gt "$peak_total" ] && { peak_total=$total; nprocs=$n; }
    echo "$peak_http $peak_total $nprocs" >"$T/rss"
    sleep 0.25
  done
}

API_URL="$BASE/api/v1/deployments"
rm -f "$sampler_stop"
sample_rss &
SAMPLER_PID=$!
_pids+=("$SAMPLER_PID")
run_wrk "$API_URL" "$AUTH"; W_API_RPS=$RPS W_API_P99=$P99 W_API_BAD=$BAD
touch "$sampler_stop"
wait "$SAMPLER_PID" 2>/dev/null
read -r rss_http rss_total rss_n <"$T/rss"
idle_http=$(rss_kb "$http_pid")
run_wrk "http://127.0.0.1:$NGINX_PORT/api.json" "$AUTH"; N_API_RPS=$RPS N_API_P99=$P99 N_API_BAD=$BAD

if [ -n "$COOKIE" ]; then
  run_wrk "$BASE/" "$COOKIE"; W_PAGE_RPS=$RPS W_PAGE_P99=$P99 W_PAGE_BAD=$BAD
  run_wrk "http://127.0.0.1:$NGINX_PORT/page.html" "$COOKIE"; N_PAGE_RPS=$RPS N_PAGE_P99=$P99 N_PAGE_BAD=$BAD
fi

# ---- report ----
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "-" }'; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
goal() { # goal VALUE OP LIMIT -> "met" / "MISSED"
  awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN { ok = op == ">=" ? v + 0 >= l : v + 0 <= l; print (v == "?" ? "?" : ok ? "met" : "MISSED") }'
}
row() { printf '  %-34s %10s %10s  %s\n' "$@"; }

echo "bench_http: $NDEPLOY deployments; wrk -t$WRK_THREADS -c$WRK_CONNS -d${WRK_SECS}s --latency after a ${WARM_SECS}s warm-up;"
echo "  loopback, wrk and the servers share $(nproc) cores; webopsd: ${WEBOPS_HTTP_THREADS:-4} HTTP threads, nginx: 2 workers"
row "target" "req/s" "p99 ms" ""
row "webops GET /api/v1/deployments" "$W_API_RPS" "$W_API_P99" "${W_API_BAD# }"
row "nginx  same bytes ($api_bytes B)" "$N_API_RPS" "$N_API_P99" "${N_API_BAD# }"
row "ratio  webops/nginx" "$(ratio "$W_API_RPS" "$N_API_RPS")" "$(ratio "$W_API_P99" "$N_API_P99")" ""
if [ -n "$COOKIE" ]; then
  row "webops GET / (page, session)" "$W_PAGE_RPS" "$W_PAGE_P99" "${W_PAGE_BAD# }"
  row "nginx  same bytes ($page_bytes B)" "$N_PAGE_RPS" "$N_PAGE_P99" "${N_PAGE_BAD# }"
  row "ratio  webops/nginx" "$(ratio "$W_PAGE_RPS" "$N_PAGE_RPS")" "$(ratio "$W_PAGE_P99" "$N_PAGE_P99")" ""
else
  echo "  page: skipped: $page_note"
fi
echo "  RSS during the API load: HTTP process (pid $http_pid) peak $(mb "$rss_http") MB (after: $(mb "$idle_http") MB);" \
  "all webopsd processes ($rss_n) peak $(mb "$rss_total") MB (PostgreSQL backends not counted)"
echo "  goals: API >= 5000 req/s: $(goal "$W_API_RPS" ">=" 5000); API p99 <= 20 ms: $(goal "$W_API_P99" "<=" 20);" \
  "RSS <= 40 MB: HTTP process $(goal "$(mb "$rss_http")" "<=" 40), all processes $(goal "$(mb "$rss_total")" "<=" 40)"
if grep -q " error " "$T/webopsd.log"; then
  echo "  webopsd logged errors:"; grep " error " "$T/webopsd.log" | head -5 | sed 's/^/    /'
fi
stop_daemon
exit 0
