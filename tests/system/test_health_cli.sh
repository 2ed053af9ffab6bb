#!/usr/bin/env bash
# The read side of health checks through the real CLI, webopsd and
# PostgreSQL: `webops health` (table, one deployment, --history, --json, exit
# status), GET /api/v1/health and /api/v1/deployments/NAME/health, the
# deployments API's health_state (and its cache following a state change),
# and /metrics (API token on the main address; no token and nothing else on
# --metrics-listen), checked with promtool. Health rows are written with psql
# as the scheduler writes them; their next check is a day away, so the
# scheduler leaves them alone.
. "$(dirname "$0")/lib.sh"
test_setup 'the deployment and what it needs' <<'EOT'
need_db

export WEBOPS_DATABASE_URL=$(new_db)
export WEBOPS_DATA_DIR=$T/data
mkdir -p "$T/noaddons"
export WEBOPS_ADDONS_PATH=$T/noaddons
q() { psql "$WEBOPS_DATABASE_URL" -qAtX -v ON_ERROR_STOP=1 "$@"; }
matches() { # matches DESCRIPTION TEXT REGEX (ages move on while the test runs)
  if [[ "$2" =~ $3 ]]; then ok "$1"; else bad "$1: /$3/ not in: $2"; fi
}

expect 0 "migrate" -- "$W" migrate
expect 0 "create blog" -- "$W" deployment create --name blog --repo file:///nowhere --port 18081 --health-path /healthz
expect 0 "create api" -- "$W" deployment create --name api --repo file:///nowhere --port 18082 --health-path /ping --health-status 204
expect 0 "create shop" -- "$W" deployment create --name shop --repo file:///nowhere

expect 0 "no checks yet: webops health" -- "$W" health
contains "...every deployment is listed, unknown" "$OUT" "shop                     pending   unknown"
EOT

test_expect_success 'what the scheduler would have written: blog healthy for two hours, api unhealthy with restarts (two in the last...' <<'EOT'
# what the scheduler would have written: blog healthy for two hours, api
# unhealthy with restarts (two in the last hour, one older) and then given up
q <<'SQL' || bad "psql setup"
UPDATE deployments SET status = 'running' WHERE name IN ('blog', 'api');
UPDATE health_state SET state = 'healthy', since = now() - interval '2 hours', failures = 0, reason = NULL,
       last_check_at = now() - interval '10 seconds', next_check_at = now() + interval '1 day'
 WHERE deployment_id = (SELECT id FROM deployments WHERE name = 'blog');
UPDATE health_state SET state = 'unhealthy', since = now() - interval '20 minutes', failures = 5,
       reason = E'HTTP 503 from /ping\n\x1b[31mred', last_check_at = now() - interval '5 seconds',
       next_check_at = now() + interval '1 day', gave_up = true
 WHERE deployment_id = (SELECT id FROM deployments WHERE name = 'api');
INSERT INTO health_checks (deployment_id, at, ok, counted, latency_ms, failed, reason, cpu_percent, memory_bytes)
SELECT (SELECT id FROM deployments WHERE name = 'api'), now() - i * interval '30 seconds', i > 40, i <> 39,
       10 * i, CASE WHEN i <= 40 THEN 'probe' END,
       CASE WHEN i <= 40 THEN 'HTTP 503 from /ping' END, 12.5, 64 * 1024 * 1024
  FROM generate_series(1, 60) i;
INSERT INTO health_checks (deployment_id, at, ok, latency_ms)
SELECT (SELECT id FROM deployments WHERE name = 'blog'), now() - i * interval '30 seconds', true, 3
  FROM generate_series(1, 30) i;
INSERT INTO health_events (deployment_id, at, kind, previous, state, reason) VALUES
 ((SELECT id FROM deployments WHERE name = 'api'), now() - interval '3 hours', 'restart', NULL, NULL, 'unhealthy'),
 ((SELECT id FROM deployments WHERE name = 'api'), now() - interval '20 minutes', 'state', 'healthy', 'unhealthy', 'HTTP 503 from /ping'),
 ((SELECT id FROM deployments WHERE name = 'api'), now() - interval '19 minutes', 'restart', NULL, NULL, 'unhealthy'),
 ((SELECT id FROM deployments WHERE name = 'api'), now() - interval '15 minutes', 'restart_failed', NULL, NULL, 'addon docker: container exited'),
 ((SELECT id FROM deployments WHERE name = 'api'), now() - interval '10 minutes', 'restart', NULL, NULL, 'unhealthy'),
 ((SELECT id FROM deployments WHERE name = 'api'), now() - interval '5 minutes', 'gave_up', NULL, NULL, '3 restarts in the last hour');
-- finished runs with their hooks, and the addons' counters
INSERT INTO runs (deployment_id, trigger, status, queued_at, started_at, finished_at, hooks)
SELECT (SELECT id FROM deployments WHERE name = 'blog'), 'cli', 'succeeded', now() - interval '2 hours',
       now() - interval '2 hours', now() - interval '2 hours' + i * interval '20 seconds',
       jsonb_build_array(jsonb_build_object('event', 'pre_deploy', 'ok', true, 'hooks', jsonb_build_array(
         jsonb_build_object('addon', 'docker', 'status', 'ok', 'duration_ms', 4000 * i),
         jsonb_build_object('addon', 'proxy-nginx', 'status', 'skipped', 'duration_ms', 0))))
  FROM generate_series(1, 3) i;
INSERT INTO addons (name, success_count, failure_count, last_duration_ms) VALUES ('docker', 7, 2, 1500)
  ON CONFLICT (name) DO UPDATE SET success_count = 7, failure_count = 2, last_duration_ms = 1500;
SQL
EOT

test_expect_success 'the CLI' <<'EOT'
expect 0 "webops health: 0 even with an unhealthy deployment" -- "$W" health
contains "...a header" "$OUT" "NAME                     STATUS    HEALTH     FOR     FAILS LAST CHECK  RESTARTS REASON"
matches "...blog healthy for two hours" "$OUT" "blog +running +healthy +2h00m +0 +1[0-9]s ago +0 +-"
matches "...api unhealthy, 5 failures, 2 restarts in the last hour" "$OUT" "api +running +unhealthy +20m0[0-9]s +5 +[0-9]+s ago +2 +gave up"
contains "...that it gave up, and why it failed (escaped)" "$OUT" 'gave up restarting; HTTP 503 from /ping\n\x1b[31mred'
[[ "$OUT" != *$'\e'* ]] && ok "...no raw escape character reaches the terminal" || bad "raw ESC in the output"
[ "$(grep -n '^api ' <<<"$OUT" | cut -d: -f1)" -lt "$(grep -n '^blog ' <<<"$OUT" | cut -d: -f1)" ] \
  && ok "...ordered by name" || bad "not ordered by name"

expect 1 "webops health api: exit 1 when unhealthy" -- "$W" health api
contains "...its state and for how long" "$OUT" "health:       unhealthy for 20m0"
contains "...the failure streak" "$OUT" "5 failed check(s) in a row"
contains "...its settings" "$OUT" "every 30s, timeout 5s, unhealthy after 3 failure(s)"
contains "...the probe" "$OUT" "probe:        GET /ping expecting 204"
contains "...restarts in the last hour and giving up" "$OUT" "restarts:     2 in the last hour; gave up restarting"
contains "...the checks with latency, CPU and memory" "$OUT" "fail       10ms   12.5%    64.0MiB  probe: HTTP 503 from /ping"
[ "$(grep -c ' probe: HTTP 503' <<<"$OUT")" = 10 ] && ok "...the last 10 checks" || bad "not 10 checks: $OUT"
contains "...the restarts" "$OUT" "Recent restarts (newest first"
contains "...a failed restart with its reason" "$OUT" "restart failed         addon docker: container exited"
[[ "$OUT" != *"healthy   -> unhealthy"* ]] && ok "...state changes only with --history" || bad "state changes shown without --history"

expect 0 "webops health blog: exit 0 when healthy" -- "$W" health blog
contains "...healthy" "$OUT" "health:       healthy for 2h00m"
contains "...a check without resource usage has no CPU column" "$OUT" "RESULT  LATENCY  REASON"

expect 1 "webops health api --history" -- "$W" health api --history
contains "...the event history" "$OUT" "Events (newest first):"
contains "...a state change" "$OUT" "healthy   -> unhealthy HTTP 503 from /ping"
contains "...giving up" "$OUT" "gave up restarting     3 restarts in the last hour"
[ "$(grep -c 'restarted ' <<<"$OUT")" = 3 ] && ok "...every restart (the one 3 hours ago too)" || bad "restarts in history: $OUT"
[ "$(grep -c ' probe: HTTP 503' <<<"$OUT")" = 40 ] && ok "...and more checks (50: 40 failed)" || bad "history checks"
contains "...a failure in the start period is marked" "$OUT" "fail*"
contains "...and explained" "$OUT" "* failed within the start period: not counted"

expect 0 "webops health --json" -- "$W" health --json
LIST=$OUT
[ "$(json_get "$OUT" "[(h['deployment'], h['state'], h['restarts_last_hour'], h['gave_up']) for h in j]")" = \
  "[('api', 'unhealthy', 2, True), ('blog', 'healthy', 0, False), ('shop', 'unknown', 0, False)]" ] \
  && ok "...the summaries" || bad "json list: $OUT"
[ "$(json_get "$OUT" "sorted(j[0].keys())")" = "['deployment', 'failures', 'gave_up', 'last_check_at', 'reason', 'restarts_last_hour', 'since', 'state', 'status']" ] \
  && ok "...with history.h's keys" || bad "keys: $(json_get "$OUT" "sorted(j[0].keys())")"
expect 1 "webops health api --json --limit 3: exit 1 too" -- "$W" health api --json --limit 3
[ "$(json_get "$OUT" "(len(j['checks']), len(j['events']), j['checks'][0]['latency_ms'], j['events'][0]['kind'], j['settings']['path'], j['settings']['status'], j['settings']['interval_s'])")" = \
  "(3, 3, 10, 'gave_up', '/ping', 204, 30)" ] && ok "...newest 3 checks and events, settings with defaults" || bad "json get: $OUT"
[ "$(json_get "$OUT" "(j['checks'][0]['cpu_percent'], j['checks'][0]['memory_bytes'], j['checks'][0]['failed'], j['checks'][0]['counted'])")" = \
  "(12.5, 67108864, 'probe', True)" ] && ok "...a check's fields" || bad "check fields: $OUT"
expect 0 "webops health shop --json: unknown is not unhealthy" -- "$W" health shop --json

expect 1 "an unknown deployment" -- "$W" health nope
contains "...says so" "$ERR" "no deployment named 'nope'"
expect 2 "--history needs a NAME" -- "$W" health --history
expect 2 "--limit 0 is refused" -- "$W" health api --limit 0
expect 2 "two names" -- "$W" health api blog
expect 0 "webops health --help" -- "$W" health --help
contains "...documents the exit status" "$OUT" "1 when the deployment is unhealthy"
expect 0 "webops --help" -- "$W" --help
contains "...lists health" "$OUT" "  health "
EOT

test_expect_success 'webopsd: the API and /metrics' <<'EOT'
expect 0 "webopsd --help documents --metrics-listen" -- "$BIN/webopsd" --help
contains "...with its environment variable" "$OUT" "WEBOPS_METRICS_LISTEN"
expect 1 "a bad --metrics-listen address stops webopsd at once" -- "$BIN/webopsd" --listen off --metrics-listen nonsense
contains "...saying why" "$ERR" "--metrics-listen: listen address 'nonsense' is invalid"

start_daemon --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 --workers 1 || exit 1
BASE=$(sed -n 's/.*http: listening on \(http:[^ ]*\).*/\1/p' "$T/webopsd.log" | head -1)
MBASE=$(sed -n 's/.*metrics: serving \/metrics on \(http:[^ ]*\) .*/\1/p' "$T/webopsd.log" | head -1)
[ -n "$BASE" ] && [ -n "$MBASE" ] && [ "$BASE" != "$MBASE" ] && ok "webopsd listens on two addresses ($BASE, $MBASE)" \
  || { bad "listen lines missing"; cat "$T/webopsd.log"; finish; }
expect 0 "token create" -- "$W" token create health-ci
TOKEN=$OUT
AUTH=(-H "Authorization: Bearer $TOKEN")
get() { curl -s -o "$T/body" -w '%{http_code}' "$@"; }

st=$(get "$BASE/api/v1/health")
[ "$st" = 401 ] && ok "GET /api/v1/health without a token: 401" || bad "no token: $st"
st=$(get "${AUTH[@]}" "$BASE/api/v1/health")
[ "$st" = 200 ] && [ "$(json_get "$(cat "$T/body")" "[(h['deployment'], h['state']) for h in j]")" = \
  "$(json_get "$LIST" "[(h['deployment'], h['state']) for h in j]")" ] && ok "GET /api/v1/health: what the CLI shows" \
  || bad "GET /api/v1/health: $st $(cat "$T/body")"
st=$(get "${AUTH[@]}" "$BASE/api/v1/deployments/api/health")
[ "$st" = 200 ] && [ "$(json_get "$(cat "$T/body")" "(j['state'], len(j['checks']), len(j['events']), j['restarts_last_hour'])")" = \
  "('unhealthy', 50, 6, 2)" ] && ok "GET /api/v1/deployments/api/health: 50 checks by default, every event" \
  || bad "health get: $st $(cat "$T/body")"
st=$(get "${AUTH[@]}" "$BASE/api/v1/deployments/api/health?limit=2")
[ "$st" = 200 ] && [ "$(json_get "$(cat "$T/body")" "(len(j['checks']), len(j['events']))")" = "(2, 2)" ] \
  && ok "...?limit=2" || bad "limit=2: $st"
st=$(get "${AUTH[@]}" "$BASE/api/v1/deployments/api/health?limit=501")
[ "$st" = 400 ] && ok "...?limit=501: 400" || bad "limit=501: $st"
st=$(get "${AUTH[@]}" "$BASE/api/v1/deployments/nope/health")
[ "$st" = 404 ] && contains "...an unknown deployment: 404 naming it" "$(cat "$T/body")" "deployment 'nope' not found" \
  || bad "unknown deployment: $st"

st=$(get "${AUTH[@]}" "$BASE/api/v1/deployments")
[ "$(json_get "$(cat "$T/body")" "{d['name']: d['health_state']['state'] for d in j}")" = \
  "{'api': 'unhealthy', 'blog': 'healthy', 'shop': 'unknown'}" ] && ok "the deployments list carries health_state" \
  || bad "list health_state: $(cat "$T/body")"
st=$(get "${AUTH[@]}" "$BASE/api/v1/deployments/blog")
[ "$(json_get "$(cat "$T/body")" "(j['health_state']['state'], j['health']['path'])")" = "('healthy', '/healthz')" ] \
  && ok "...and one deployment too, next to its health settings" || bad "get health_state: $(cat "$T/body")"
# the list is cached until a change is notified: a state change is one
q -c "UPDATE health_state SET state = 'healthy', since = now(), gave_up = false, failures = 0, reason = NULL
      WHERE deployment_id = (SELECT id FROM deployments WHERE name = 'api')"
seen=""
for i in $(seq 600); do
  get "${AUTH[@]}" "$BASE/api/v1/deployments" >/dev/null
  seen=$(json_get "$(cat "$T/body")" "[d['health_state']['state'] for d in j if d['name'] == 'api'][0]")
  [ "$seen" = healthy ] && break
  sleep 0.1
done
[ "$seen" = healthy ] && ok "a health state change reaches the cached list (after $i request(s))" || bad "cached list kept '$seen'"
expect 0 "webops health api: exit 0 once healthy again" -- "$W" health api
EOT

test_expect_success '/metrics on the main address: an API token' <<'EOT'
st=$(get "$BASE/metrics")
[ "$st" = 401 ] && ok "/metrics on the main address without a token: 401" || bad "main /metrics without token: $st"
st=$(curl -s -o "$T/metrics" -D "$T/headers" -w '%{http_code}' "${AUTH[@]}" "$BASE/metrics")
[ "$st" = 200 ] && ok "...with a token: 200" || bad "main /metrics with token: $st"
contains "...in the text exposition format" "$(cat "$T/headers")" "text/plain; version=0.0.4"
if command -v promtool >/dev/null; then
  promtool check metrics <"$T/metrics" >"$T/promtool" 2>&1 && ok "promtool check metrics: clean" \
    || { bad "promtool check metrics"; cat "$T/promtool"; }
else
  bad "promtool is missing (scripts/setup --test installs the prometheus package)"
fi
M=$(cat "$T/metrics")
for want in \
  'webops_deployments{status="running"} 2' 'webops_deployments{status="pending"} 1' \
  'webops_deployments_health{state="healthy"} 2' 'webops_deployments_health{state="unknown"} 1' \
  'webops_deployments_health{state="unhealthy"} 0' \
  'webops_runs{status="succeeded"} 3' 'webops_runs{status="queued"} 0' 'webops_queue_depth 0' \
  'webops_run_duration_seconds_bucket{le="10"} 0' 'webops_run_duration_seconds_bucket{le="30"} 1' \
  'webops_run_duration_seconds_bucket{le="60"} 3' 'webops_run_duration_seconds_count 3' 'webops_run_duration_seconds_sum 120' \
  'webops_health_checks_total{result="ok"} 50' 'webops_health_checks_total{result="fail"} 40' \
  'webops_health_check_duration_seconds_bucket{le="0.005"} 30' 'webops_health_check_duration_seconds_bucket{le="0.1"} 40' \
  'webops_health_check_duration_seconds_count 90' \
  'webops_restarts_total 3' \
  'webops_hook_runs_total{addon="docker",result="ok"} 7' 'webops_hook_runs_total{addon="docker",result="failed"} 2' \
  'webops_hook_failures_total{addon="docker"} 2' 'webops_hook_last_duration_seconds{addon="docker"} 1.500' \
  'webops_hook_duration_seconds_bucket{addon="docker",le="5"} 1' 'webops_hook_duration_seconds_bucket{addon="docker",le="10"} 2' \
  'webops_hook_duration_seconds_count{addon="docker"} 3' 'webops_hook_duration_seconds_sum{addon="docker"} 24' \
  '# TYPE webops_run_duration_seconds histogram' '# TYPE webops_restarts_total counter' ; do
  contains "metric: $want" "$M" "$want"
done
[[ "$M" != *'addon="proxy-nginx"'* ]] && ok "skipped hooks have no duration" || bad "a skipped hook was timed"
EOT

test_expect_success 'the metrics-only address: no token, nothing else' <<'EOT'
st=$(curl -s -o "$T/metrics2" -w '%{http_code}' "$MBASE/metrics")
[ "$st" = 200 ] && ok "--metrics-listen: /metrics without a token: 200" || bad "metrics listen: $st"
if command -v promtool >/dev/null; then
  promtool check metrics <"$T/metrics2" >"$T/promtool" 2>&1 && ok "...promtool clean there too" \
    || { bad "promtool on --metrics-listen"; cat "$T/promtool"; }
fi
contains "...the same metrics" "$(cat "$T/metrics2")" 'webops_health_checks_total{result="fail"} 40'
for path in /api/v1/health /api/v1/deployments / /login /metrics/ /healthz; do
  st=$(get "$MBASE$path")
  [ "$st" = 404 ] && ok "--metrics-listen: $path is 404" || bad "--metrics-listen: $path answered $st"
done
st=$(get "${AUTH[@]}" "$MBASE/api/v1/health")
[ "$st" = 404 ] && ok "...even with a token" || bad "metrics listen with token: $st"
st=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$MBASE/metrics")
[ "$st" = 405 ] && ok "...POST /metrics: 405" || bad "POST metrics: $st"
EOT

test_expect_success 'counters follow new rows (the cache lasts a second)' <<'EOT'
q -c "INSERT INTO health_checks (deployment_id, ok, latency_ms, failed, reason)
      SELECT id, false, 7000, 'probe', 'timed out' FROM deployments WHERE name = 'blog'"
q -c "INSERT INTO health_events (deployment_id, kind, reason) SELECT id, 'restart', 'unhealthy' FROM deployments WHERE name = 'blog'"
sleep 1.1
M=$(curl -s "$MBASE/metrics")
contains "a new check is counted" "$M" 'webops_health_checks_total{result="fail"} 41'
contains "...in its bucket" "$M" 'webops_health_check_duration_seconds_bucket{le="5"} 90'
contains "...a new restart too" "$M" 'webops_restarts_total 4'
# pruned checks (rolled up by the scheduler) do not make the counters go down
q -c "DELETE FROM health_checks WHERE at < now() - interval '10 minutes'"
sleep 1.1
M=$(curl -s "$MBASE/metrics")
contains "pruning old checks does not lower the counter" "$M" 'webops_health_checks_total{result="fail"} 41'
EOT

test_expect_success 'scrape time, for the record' <<'EOT'
t0=$(date +%s%N); for i in $(seq 20); do curl -s -o /dev/null "${AUTH[@]}" "$BASE/metrics"; done; t1=$(date +%s%N)
echo "# 20 scrapes of /metrics: $(( (t1 - t0) / 20000 )) us each; $(grep '^webops_metrics_compute_seconds' "$T/metrics")"

stop_daemon
grep -q " error " "$T/webopsd.log" && { echo "# daemon log errors:"; grep " error " "$T/webopsd.log" | head -20; }
EOT
finish
