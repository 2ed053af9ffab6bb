#!/usr/bin/env bash
# One lock per deployment: while a run deploys it, start/stop/restart/delete
# and `webops hook run` refuse, naming the run (409 over HTTP), or wait for
# it with --wait; a run waits for an action in progress; nothing is orphaned.
. "$(dirname "$0")/lib.sh"
test_setup 'the deployment and what it needs' <<'EOT'
need_db
export WEBOPS_DATABASE_URL=$(new_db)
export WEBOPS_DATA_DIR=$T/data
export WEBOPS_ADDONS_PATH=$(addons_dir pipetest)
export WEBOPS_PIPETEST_SLEEP_MS=4000
make_repo "$T/repo"
q() { psql -qAtX "$WEBOPS_DATABASE_URL" -c "$1"; }

"$W" deployment create --name blog --repo "$T/repo" --set pipetest_mode=slow >/dev/null
start_daemon --workers 1 || exit 1
BASE=$(sed -n 's/.*http: listening on \(http:[^ ]*\).*/\1/p' "$T/webopsd.log" | head -1)
TOKEN=$("$W" token create locktest)
EOT

test_expect_success 'a run is deploying blog (its pre_deploy sleeps 4 s)' <<'EOT'
expect 0 "deploy" -- "$W" deploy blog
run=$(q "SELECT max(id) FROM runs")
for i in $(seq 600); do [ "$(q "SELECT stage FROM runs WHERE id = $run")" = pre_deploy ] && break; sleep 0.1; done

expect 1 "delete refuses during the run" -- "$W" deployment delete blog
contains "names the run" "$ERR" "deployment 'blog' is busy: run $run (cli, at pre_deploy"
contains "says what to do" "$ERR" "webops cancel $run"
expect 1 "stop refuses too" -- "$W" deployment stop blog
expect 1 "hook run start refuses too" -- "$W" hook run start blog
contains "hook run names the run" "$ERR" "is busy: run $run"
code=$(curl -s -o "$T/api.out" -w '%{http_code}' -X POST -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/deployments/blog/stop")
[ "$code" = 409 ] && ok "the API answers 409" || bad "API answered $code: $(cat "$T/api.out")"
contains "the API's message names the run" "$(cat "$T/api.out")" "is busy: run $run"
expect 0 "the record is still there" -- "$W" deployment show blog --json
EOT

test_expect_success '--wait waits for the run, then acts' <<'EOT'
t0=$(date +%s%N)
expect 0 "stop --wait 20 waits for the run" -- "$W" deployment stop blog --wait 20
waited=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$(q "SELECT status FROM runs WHERE id = $run")" = succeeded ] && ok "the run finished first ($waited ms)" || bad "run: $(q "SELECT status, error FROM runs WHERE id = $run")"
expect 0 "then stopped" -- "$W" deployment show blog --json
[ "$(json_get "$OUT" "j['status']")" = stopped ] && ok "status stopped" || bad "status: $OUT"
expect 2 "--wait needs seconds" -- "$W" deployment stop blog --wait x
EOT

test_expect_success 'a run waits for an action in progress (held here by a psql session)' <<'EOT'
key=$(q "SELECT x'5745424F00000000'::bigint + id FROM deployments WHERE name = 'blog'")
psql -qAtX "$WEBOPS_DATABASE_URL" -c "SET application_name = 'maintenance'" -c "SELECT pg_advisory_lock($key)" \
  -c "SELECT pg_sleep(120)" >/dev/null 2>&1 &
holder=$!
_pids+=("$holder")
for i in $(seq 600); do
  [ "$(q "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
          WHERE l.locktype = 'advisory' AND l.granted AND a.application_name = 'maintenance'
            AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())")" = 1 ] && break
  sleep 0.1
done
expect 1 "an action refuses while another holds the lock" -- "$W" deployment start blog
contains "names the holder" "$ERR" "deployment 'blog' is busy: 'maintenance' is in progress"
"$W" deployment update blog --set pipetest_mode=none >/dev/null
# the holder keeps the lock until it is ended here: the run must wait for that
before=$(q "SELECT coalesce(max(id), 0) FROM runs")
"$W" deploy blog --follow >"$T/deploy.out" 2>&1 &
deploying=$!
_pids+=("$deploying")
for i in $(seq 600); do [ "$(q "SELECT coalesce(max(id), 0) FROM runs")" -gt "$before" ] && break; sleep 0.1; done
sleep 2
run=$(q "SELECT max(id) FROM runs")
[ "$(q "SELECT status FROM runs WHERE id = $run")" != succeeded ] && kill -0 "$deploying" 2>/dev/null \
  && ok "a deploy waits while another action holds the lock" || bad "the run did not wait: $(cat "$T/deploy.out")"
released=$(q "SELECT clock_timestamp()")
q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'maintenance'
   AND datname = current_database()" >/dev/null
wait "$deploying"
rc=$?
[ "$rc" = 0 ] && [ "$(q "SELECT finished_at > '$released'::timestamptz FROM runs WHERE id = $run")" = t ] \
  && ok "...and runs once the holder has gone" || bad "deploy exit $rc: $(cat "$T/deploy.out")"
wait "$holder" 2>/dev/null
EOT

test_expect_success 'nothing stays locked: actions work again' <<'EOT'
expect 0 "restart works afterwards" -- "$W" deployment restart blog
EOT

test_expect_success 'a delete that stops halfway is resumable: the record stays, marked, and says so' <<'EOT'
"$W" deployment update blog --set pipetest_mode=fail >/dev/null
expect 1 "a delete whose hook fails stops" -- "$W" deployment delete blog
contains "says it stays, marked" "$ERR" "The deployment stays, marked 'deleting'"
contains "says how to finish" "$ERR" "Run 'webops deployment delete blog' again to finish"
expect 0 "the record is marked" -- "$W" deployment show blog --json
[ "$(json_get "$OUT" "j['status']")" = deleting ] && ok "status deleting" || bad "status: $OUT"
"$W" deployment update blog --set pipetest_mode=none >/dev/null
expect 0 "deleting again finishes it" -- "$W" deployment delete blog
expect 1 "gone" -- "$W" deployment show blog
stop_daemon
EOT
finish
