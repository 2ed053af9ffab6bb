#!/usr/bin/env bash
# Benchmark: one full health sweep of 1,000 running deployments, each with a
# health hook (which says where the release answers) and an HTTP probe (GET
# /health on its own port, all served by one local nginx), made by webopsd's
# scheduler; the time from the moment all are due to the
# moment the last check is recorded, median of 3. Baseline, same run: a
# sequential `curl` loop over the same 1,000 URLs. Also the peak RSS of
# webopsd's main process and of its largest child, and the peak PSS of all
# its processes together (PSS shares the pages a fork shares, so it does not
# count the daemon's memory again in every child) during the sweeps.
# Goals: a sweep <= 2 s, >= 20x faster than the loop, RSS <= 40 MB.
# Needs nginx and curl (exits 0 with a hint when absent), WEBOPS_BIN_DIR
# (scripts/bench sets it; default build/bin), and WEBOPS_TEST_DATABASE_URL or
# a PostgreSQL install to start a private server from.
set -uo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
missing=()
for tool in nginx curl psql; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench_health: skipped: ${missing[*]} not installed (apt-get install -y nginx-light curl)"
  exit 0
fi

export WEBOPS_BIN_DIR=${WEBOPS_BIN_DIR:-$root/build/bin}
export WEBOPS_BUILD_DIR=${WEBOPS_BUILD_DIR:-$(dirname "$WEBOPS_BIN_DIR")}
. "$root/tests/system/lib.sh"
. "$root/scripts/lib/pg.sh"

N=${BENCH_HEALTH_DEPLOYMENTS:-1000} ROUNDS=3
sampler_stop=$T/sampler.stop
pgdir=
# shellcheck disable=SC2317 # called by the EXIT trap
bench_cleanup() {
  touch "$sampler_stop" 2>/dev/null
  _cleanup
  pg_stop_private
  [ -n "$pgdir" ] && rm -rf "$pgdir"
}
trap bench_cleanup EXIT
die() { echo "bench_health: $*" >&2; exit 1; }

if [ -z "${WEBOPS_TEST_DATABASE_URL:-}" ]; then
  pgdir=$(mktemp -d /tmp/wo-bench-pg.XXXXXX)
  pg_start_private "$pgdir" || die "cannot start a private PostgreSQL"
fi
WEBOPS_DATABASE_URL=$(new_db) || die "cannot create a database"
export WEBOPS_DATABASE_URL WEBOPS_DATA_DIR=$T/data
# one addon, the test suite's healthtest, standing in for the runtime addon:
# its health hook says where each release answers (127.0.0.1:PORT), and the
# probe goes there and nowhere else; so a sweep is N hook runs (processes)
# and then N probes, as with the docker addon (whose hook also asks the engine)
[ -e "$WEBOPS_BUILD_DIR/tests/addons/healthtest/addon.yaml" ] \
  || die "the healthtest addon is not built in $WEBOPS_BUILD_DIR (build the tests first)"
export WEBOPS_ADDONS_PATH=$(addons_dir healthtest)
q() { psql -qAtX "$WEBOPS_DATABASE_URL" -c "$1"; }

# ---- nginx answering /health on N ports ----
NG=$T/nginx
mkdir -p "$NG/tmp"
temp_paths="client_body_temp_path $NG/tmp/body;"
for m in proxy fastcgi uwsgi scgi; do
  nginx -V 2>&1 | grep -q -- "--without-http_${m}_module" || temp_paths+=" ${m}_temp_path $NG/tmp/$m;"
done
NGINX_PID=
for attempt in 1 2 3 4 5; do
  base=$(( 20000 + (RANDOM % 300) * 100 ))
  {
    echo "daemon off; worker_processes 1; pid $NG/nginx.pid; error_log $NG/error.log;"
    echo "worker_rlimit_nofile 8192; events { worker_connections 4096; }"
    echo "http { access_log off; $temp_paths server {"
    for i in $(seq "$N"); do echo "listen 127.0.0.1:$((base + i));"; done
    echo "location = /health { default_type text/plain; return 200 ok; } } }"
  } >"$NG/nginx.conf"
  nginx -p "$NG" -e "$NG/error.log" -c "$NG/nginx.conf" >"$NG/nginx.out" 2>&1 &
  NGINX_PID=$!
  for _ in $(seq 50); do
    curl -sf -o /dev/null "http://127.0.0.1:$((base + N))/health" && break
    kill -0 "$NGINX_PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$NGINX_PID" 2>/dev/null; then _pids+=("$NGINX_PID"); break; fi
  NGINX_PID=
done
[ -n "$NGINX_PID" ] || die "nginx did not start on $N ports: $(cat "$NG/nginx.out" "$NG/error.log" 2>/dev/null | tail -3)"

# ---- N deployments, interval 60 s so each is checked once per sweep ----
"$W" migrate >/dev/null || die "cannot migrate"
mkdir -p "$T/ht"
"$W" addon config healthtest dir="$T/ht" >/dev/null || die "cannot configure the healthtest addon"
q "INSERT INTO deployments (name, repo_url, port, status, addon_fields, health)
   SELECT 'app-' || i, 'https://example.com/app-' || i || '.git', $base + i, 'stopped',
          '{\"healthtest\": {\"healthtest_mode\": \"ok\"}}'::jsonb,
          '{\"interval_s\": 60, \"timeout_s\": 5, \"retries\": 3, \"start_period_s\": 0, \"restarts_per_hour\": 0,
            \"path\": \"/health\", \"status\": 200, \"body\": \"ok\"}'::jsonb
   FROM generate_series(1, $N) i" >/dev/null || die "cannot create the deployments"

# WEBOPS_HEALTH_TIMINGS: each batch logs where its time went (printed below)
WEBOPS_HEALTH_TIMINGS=1 start_daemon --listen off --workers 1 || exit 1

# ---- RSS sampling: the main process, and all of webopsd's processes ----
# one small python process reading /proc every 50 ms (a shell loop forking
# pgrep and awk took as much CPU as the sweep it measured)
sample_rss() {
  python3 - "$DAEMON_PID" "$sampler_stop" "$T/rss" <<'PY'
import os, sys, time
root, stop, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def field(path, name):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(name):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0
peak_main = peak_child = peak_total = 0
while not os.path.exists(stop):
    parent = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/stat") as f:
                    parent[int(p)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    tree, todo = [], [root]
    while todo:
        q = todo.pop()
        tree.append(q)
        todo.extend(c for c, pp in parent.items() if pp == q)
    peak_main = max(peak_main, field(f"/proc/{root}/status", "VmRSS:"))
    total = 0
    for q in tree:
        total += field(f"/proc/{q}/smaps_rollup", "Pss:")
        if q != root:
            peak_child = max(peak_child, field(f"/proc/{q}/status", "VmRSS:"))
    peak_total = max(peak_total, total)
    with open(out, "w") as f:
        f.write(f"{peak_main} {peak_child} {peak_total}\n")
    time.sleep(0.05)
PY
}
rm -f "$sampler_stop"
sample_rss &
_pids+=($!)

# ---- sweeps: all N become due at once (status -> running) ----
sweeps=()
for r in $(seq "$ROUNDS"); do
  q "UPDATE deployments SET status = 'stopped'" >/dev/null
  t0=$(q "SELECT extract(epoch FROM clock_timestamp())")
  q "UPDATE deployments SET status = 'running'" >/dev/null
  done_n=0
  for _ in $(seq 600); do
    done_n=$(q "SELECT count(*) FROM health_state WHERE last_check_at >= to_timestamp($t0)")
    [ "$done_n" -ge "$N" ] && break
    sleep 0.05
  done
  [ "$done_n" -ge "$N" ] || die "round $r: only $done_n of $N checked after 30 s: $(tail -5 "$T/webopsd.log")"
  s=$(q "SELECT round((extract(epoch FROM max(last_check_at)) - $t0)::numeric, 3) FROM health_state")
  okn=$(q "SELECT count(*) FROM health_state WHERE state = 'healthy'")
  echo "sweep $r: $N deployments checked in ${s} s ($okn healthy)"
  [ "$okn" -eq "$N" ] || die "round $r: only $okn of $N healthy: $(q "SELECT reason FROM health_state WHERE state <> 'healthy' LIMIT 3")"
  sweeps+=("$s")
  sleep 1
done
touch "$sampler_stop"
sleep 0.2
read -r rss_main rss_child rss_total <"$T/rss"
best=$(printf '%s\n' "${sweeps[@]}" | sort -n | sed -n "$(( (ROUNDS + 1) / 2 ))p")
checks=$(q "SELECT count(*) FROM health_checks")

# ---- baseline: a sequential curl loop over the same URLs ----
t0=$(date +%s.%N)
fails=0
for i in $(seq "$N"); do
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$((base + i))/health")
  [ "$code" = 200 ] || fails=$((fails + 1))
done
t1=$(date +%s.%N)
loop=$(python3 -c "print(round($t1 - $t0, 3))")
[ "$fails" -eq 0 ] || die "the curl loop saw $fails failures"

ratio=$(python3 -c "print(round($loop / $best, 1))")
echo
echo "bench_health: $N deployments with HTTP probes, $ROUNDS sweeps ($checks checks recorded)"
printf '  %-34s %10s   (all: %s)\n' "webopsd sweep (median of $ROUNDS)" "${best} s" "${sweeps[*]}"
printf '  %-34s %10s\n' "sequential curl loop" "${loop} s"
printf '  %-34s %10s\n' "speed-up (loop / sweep)" "${ratio}x"
printf '  %-34s %10s\n' "RSS webopsd main process (peak)" "$((rss_main / 1024)) MB"
printf '  %-34s %10s\n' "RSS largest child (peak)" "$((rss_child / 1024)) MB"
printf '  %-34s %10s\n' "PSS all webopsd processes (peak)" "$((rss_total / 1024)) MB"
verdict=met
python3 -c "import sys; sys.exit(0 if $best <= 2 and $ratio >= 20 and $rss_main <= 40 * 1024 else 1)" || verdict="NOT met"
echo "  goals (sweep <= 2 s, >= 20x the loop, RSS <= 40 MB): $verdict"
echo "  batches (load, checks, record):"
sed -n 's/.*health: batch of/    batch of/p' "$T/webopsd.log" | tail -4
