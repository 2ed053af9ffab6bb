#!/usr/bin/env bash
# Benchmark: a redeploy under load through the proxy-nginx addon. wrk (2
# threads, 16 connections, 12 s, --latency, each request on a new connection
# as different visitors make them: an nginx reload closes idle kept-alive
# connections, which browsers retry but wrk counts as errors; see
# addons/proxy-nginx/README.md) against a static site served
# through webops' private nginx, twice in the same run: once with no deploy
# happening (the baseline), once with a redeploy of a one-file change
# started 3 s in. Reported: requests, failed requests (socket errors and
# non-2xx answers) and p99 latency of both, and the deploy's duration.
# Goal: zero failed requests during the redeploy; p99 near the baseline's.
# Needs an engine, the stand-in images (scripts/test-images), nginx, wrk,
# WEBOPS_TEST_DATABASE_URL, WEBOPS_BIN_DIR, WEBOPS_BUILD_DIR.
set -uo pipefail
. "$(dirname "$0")/../system/lib.sh"
need_db
need_docker
need_images
for tool in wrk nginx; do
  command -v "$tool" >/dev/null || { echo "bench_redeploy_zero_downtime: skipped: $tool not installed"; exit 0; }
done
export WEBOPS_DATABASE_URL=$(new_db)
export WEBOPS_DATA_DIR=$T/data
export WEBOPS_ADDONS_PATH=${WEBOPS_BUILD_DIR:?}/addons
export WEBOPS_DOCKER_STATIC_BASE_IMAGE=$WEBOPS_TEST_NGINX_IMAGE
export WEBOPS_DOCKER_DRAIN_S=2
name="zb$$"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
cleanup_docker() {
  "$W" deployment delete "$name" --force >/dev/null 2>&1
  remove_deployment_docker "$name"
  stop_private_nginx
}
trap 'cleanup_docker; _cleanup' EXIT

make_repo "$T/repo"
for i in $(seq 50); do echo "asset $i" >"$T/repo/asset$i.txt"; done
git -C "$T/repo" add -A
git -C "$T/repo" -c user.name=Test -c user.email=test@example.com commit -qm assets
"$W" deployment create "$name" --repo "$T/repo" --port "$port" --set use_docker=true >/dev/null
start_daemon --workers 1 || exit 1
"$W" deploy "$name" --follow >"$T/first.log" 2>&1 || { echo "first deploy failed:"; tail -20 "$T/first.log"; exit 1; }
curl -sf "http://127.0.0.1:$port/" >/dev/null || { echo "the site does not answer through nginx"; exit 1; }

# run_wrk: wrk's figures as "requests failed p99_ms"
run_wrk() {
  wrk -t2 -c16 -d12s --latency -H "Connection: close" "http://127.0.0.1:$port/" >"$T/wrk.out" 2>&1
  python3 - "$T/wrk.out" <<'EOF'
import re, sys
t = open(sys.argv[1]).read()
req = int(re.search(r"(\d+) requests in", t).group(1))
failed = 0
m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", t)
if m:
    failed += sum(int(x) for x in m.groups())
m = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
if m:
    failed += int(m.group(1))
m = re.search(r"99%\s+([\d.]+)(us|ms|s)", t)
v, unit = float(m.group(1)), m.group(2)
p99 = v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
print(req, failed, "%.2f" % p99)
EOF
}

read -r b_req b_failed b_p99 <<<"$(run_wrk)"
commit_repo "$T/repo" v2
( sleep 3; t0=$(date +%s%N); "$W" deploy "$name" --follow >"$T/deploy.log" 2>&1; echo "$? $(( ($(date +%s%N) - t0) / 1000000 ))" >"$T/deploy.rc" ) &
deployer=$!
read -r d_req d_failed d_p99 <<<"$(run_wrk)"
wait "$deployer"
read -r drc dms <"$T/deploy.rc"
[ "$drc" = 0 ] || { echo "the redeploy failed:"; tail -20 "$T/deploy.log"; exit 1; }
[ "$(curl -s "http://127.0.0.1:$port/")" = "<h1>v2</h1>" ] || echo "warning: v2 is not served after the deploy"

echo "bench_redeploy_zero_downtime: wrk -t2 -c16 -d12s (new connection per request) through webops' nginx to a static site"
printf '  %-28s %10s %8s %10s\n' "" requests failed "p99 (ms)"
printf '  %-28s %10s %8s %10s\n' "no deploy (baseline)" "$b_req" "$b_failed" "$b_p99"
printf '  %-28s %10s %8s %10s\n' "redeploy during the load" "$d_req" "$d_failed" "$d_p99"
echo "  the redeploy took ${dms} ms (build, start, readiness, switch, ${WEBOPS_DOCKER_DRAIN_S} s drain, retire)"
echo "  p99 ratio (redeploy / baseline): $(python3 -c "print(round($d_p99 / $b_p99, 2) if $b_p99 else '?')")"
[ "$d_failed" = 0 ] && echo "  goal (zero failed requests during the redeploy): met" || echo "  goal (zero failed requests): NOT met"
