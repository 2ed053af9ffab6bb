#!/usr/bin/env bash
# Faults during runs. PostgreSQL restarting in the middle of a deploy: every
# log line is there afterwards and the run's status and the deployment's
# current_commit say what happened (also when the database comes back only
# after the run process gave up waiting: the daemon records the outcome);
# the daemon says "database unreachable" once per outage and how long it
# lasted. A fetch from a server that accepts and never answers: cancellable,
# and failed with "stopped answering" after WEBOPS_FETCH_STALL_S; the
# deployment deploys fine afterwards.
# The restarts are of a PostgreSQL of this test's own (the shared test server
# serves other tests meanwhile).
. "$(dirname "$0")/lib.sh"
test_setup 'the deployment and what it needs' <<'EOT'
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/scripts/lib/pg.sh"
mkdir -p "$T/pg"
pg_start_private "$T/pg" >/dev/null || skip_all "cannot start a private PostgreSQL"
at_exit 'pg_stop_private'

pg_down() { $pg_as "$pg_bin/pg_ctl" -D "$pg_dir/pg" -m fast -w stop >/dev/null; }
pg_up() {
  $pg_as "$pg_bin/pg_ctl" -D "$pg_dir/pg" -l "$pg_dir/pg.log" -w \
    -o "-k $pg_dir -c listen_addresses= -c max_connections=300 -c fsync=off" start >/dev/null
}
q() { psql "$WEBOPS_DATABASE_URL" -qAtc "$1" 2>/dev/null; }
# wait_run ID SECONDS: until the run is neither queued nor running (the
# database may be away meanwhile); prints its status
wait_run() {
  local st="" i
  for i in $(seq $(( $2 * 10 ))); do
    st=$(q "SELECT status FROM runs WHERE id=$1")
    case $st in succeeded|failed|cancelled|superseded) break ;; esac
    sleep 0.1
  done
  echo "$st"
}
wait_stage() { # wait_stage ID STAGE: up to 60 s (a loaded machine is slow to start a run)
  local deadline=$((SECONDS + 60))
  while [ $SECONDS -lt $deadline ]; do [ "$(q "SELECT stage FROM runs WHERE id=$1")" = "$2" ] && return 0; sleep 0.1; done
  return 1
}

export WEBOPS_DATABASE_URL=$(new_db)
export WEBOPS_DATA_DIR=$T/data
export WEBOPS_ADDONS_PATH=$(addons_dir pipetest)
export WEBOPS_LISTEN=off
make_repo "$T/repo"
commit_repo "$T/repo" v2
head=$(git -C "$T/repo" rev-parse HEAD)
EOT

test_expect_success 'PostgreSQL restarts while a hook prints a numbered line every 100 ms (6 s)' <<'EOT'
export WEBOPS_PIPETEST_SLEEP_MS=6000
"$W" deployment create --name ticker --repo "$T/repo" --set pipetest_mode=ticks >/dev/null
start_daemon --workers 2 || exit 1
id=$(json_get "$("$W" deploy ticker --json)" "j['id']")
wait_stage "$id" pre_deploy || bad "run $id never reached pre_deploy"
for i in $(seq 600); do [ "$(q "SELECT count(*) FROM run_logs WHERE run_id=$id AND text LIKE 'tick %'")" -ge 5 ] && break; sleep 0.1; done
pg_down
sleep 3
pg_up
st=$(wait_run "$id" 60)
[ "$st" = succeeded ] && ok "the run succeeded through the restart" || bad "run $id ended '$st': $(q "SELECT error FROM runs WHERE id=$id")"
n=$(q "SELECT count(DISTINCT text) FROM run_logs WHERE run_id=$id AND text ~ '^tick [0-9]+$'")
[ "$n" = 60 ] && ok "all 60 ticks are in the log" || bad "$n of 60 ticks in the log"
gaps=$(q "SELECT max(seq) - count(*) FROM run_logs WHERE run_id=$id")
[ "$gaps" = 0 ] && ok "log numbered without gaps" || bad "$gaps seq numbers missing"
order=$(q "SELECT bool_and(t = s) FROM (SELECT substring(text from 6)::int t, row_number() OVER (ORDER BY seq) s
           FROM run_logs WHERE run_id=$id AND text ~ '^tick [0-9]+$') x")
[ "$order" = t ] && ok "ticks in order" || bad "ticks out of order"
contains "the log says how long the database was away" \
  "$(q "SELECT string_agg(text, ' ') FROM run_logs WHERE run_id=$id")" "the database was unreachable for"
[ "$(q "SELECT current_commit FROM deployments WHERE name='ticker'")" = "$head" ] \
  && ok "current_commit is the deployed commit" || bad "current_commit: $(q "SELECT current_commit FROM deployments WHERE name='ticker'")"
[ "$(q "SELECT status FROM deployments WHERE name='ticker'")" = running ] && ok "deployment running" || bad "deployment status"
[ "$(q "SELECT outputs->'pipetest'->>'commit' FROM runs WHERE id=$id")" = "$head" ] \
  && ok "post_deploy's output recorded" || bad "outputs: $(q "SELECT outputs FROM runs WHERE id=$id")"
sleep 1
log=$(cat "$T/webopsd.log")
[ "$(grep -c 'database unreachable' <<<"$log")" = 1 ] && ok "'database unreachable' said once" \
  || bad "'database unreachable' said $(grep -c 'database unreachable' <<<"$log") times"
[ "$(grep -c 'database reachable again after [0-9.]* s' <<<"$log")" = 1 ] && ok "the end of the outage said once, with its length" \
  || bad "end of the outage: $(grep 'database reachable' <<<"$log")"
[[ "$log" != *"cannot write log"* ]] && ok "no log line lost" || bad "cannot write log: $log"
[ "$(q "SELECT count(*) FROM runs WHERE error LIKE 'interrupted%'")" = 0 ] && ok "nothing reaped as interrupted" \
  || bad "interrupted: $(q "SELECT id, error FROM runs WHERE error LIKE 'interrupted%'")"
expect 0 "the next deploy works" -- timeout 60 "$W" deploy ticker --follow
stop_daemon
EOT

test_expect_success 'the database is back only after the run process stopped waiting for' <<'EOT'
# 2. the database is back only after the run process stopped waiting for
#    it: the daemon records what happened, saying when it could
#    (the hook runs 4 s: long enough, on a loaded machine, for the test to
#    see it started and stop the database while it goes on)
export WEBOPS_PIPETEST_SLEEP_MS=4000 WEBOPS_RUN_DB_WAIT_S=2
start_daemon --workers 2 || exit 1
id=$(json_get "$("$W" deploy ticker --json)" "j['id']")
wait_stage "$id" pre_deploy || bad "run $id never reached pre_deploy"
pg_down
for i in $(seq 600); do grep -q "run $id of 'ticker' succeeded.*could not be recorded" "$T/webopsd.log" && break; sleep 0.1; done
grep -q "run $id of 'ticker' succeeded.*could not be recorded" "$T/webopsd.log" \
  && ok "the daemon's log says what is known meanwhile" || bad "nothing in the daemon's log: $(tail -5 "$T/webopsd.log")"
pg_up
st=$(wait_run "$id" 30)
[ "$st" = succeeded ] && ok "recorded late as succeeded" || bad "run $id: '$st'"
for i in $(seq 600); do [ -n "$(q "SELECT error FROM runs WHERE id=$id")" ] && break; sleep 0.1; done
contains "the run says it was recorded late" "$(q "SELECT error FROM runs WHERE id=$id")" "could not be recorded until"
n=$(q "SELECT count(DISTINCT text) FROM run_logs WHERE run_id=$id AND text ~ '^tick [0-9]+$'")
[ "$n" = 40 ] && ok "all 40 ticks are in the log" || bad "$n of 40 ticks in the log"
[ "$(q "SELECT max(seq) - count(*) FROM run_logs WHERE run_id=$id")" = 0 ] && ok "no gaps" || bad "gaps in the log"
[ "$(q "SELECT current_run_id FROM deployments WHERE name='ticker'")" = "$id" ] && ok "the deployment follows" \
  || bad "current_run_id $(q "SELECT current_run_id FROM deployments WHERE name='ticker'")"
stop_daemon
unset WEBOPS_RUN_DB_WAIT_S
EOT

test_expect_success 'a server that accepts and never answers' <<'EOT'
python3 - "$T/stall.port" <<'EOF' &
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0))
s.listen(16)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
held = []
while True:
    c, _ = s.accept()
    held.append(c)  # read nothing, say nothing
EOF
_pids+=($!)
for i in $(seq 600); do [ -s "$T/stall.port" ] && break; sleep 0.1; done
url="http://127.0.0.1:$(cat "$T/stall.port")/x.git"
"$W" deployment create --name stuck --repo "$url" >/dev/null
start_daemon --workers 2 || exit 1
id=$(json_get "$("$W" deploy stuck --json)" "j['id']")
wait_stage "$id" fetch || bad "run $id never reached fetch"
sleep 1
t0=$(date +%s%N)
expect 0 "cancel the stalled fetch" -- "$W" cancel "$id"
st=$(wait_run "$id" 20)
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$st" = cancelled ] && ok "cancelled" || bad "run $id ended '$st'"
[ "$ms" -lt 10000 ] && ok "promptly ($ms ms)" || bad "took $ms ms"
stop_daemon

export WEBOPS_FETCH_STALL_S=2
start_daemon --workers 2 || exit 1
t0=$(date +%s)
expect 1 "a fetch that stalls fails" -- timeout 60 "$W" deploy stuck --follow
dt=$(( $(date +%s) - t0 ))
contains "says the repository stopped answering" "$OUT" "the repository at '$url' stopped answering (no data for 2 s)"
[ "$dt" -le 20 ] && ok "soon after the stall timeout ($dt s)" || bad "took $dt s"
[ "$(q "SELECT count(*) FROM runs r JOIN deployments d ON d.id = r.deployment_id WHERE d.name='stuck' AND r.status='running'")" = 0 ] \
  && ok "nothing left running" || bad "a run is still running"
expect 0 "point it at a good repository" -- "$W" deployment update stuck --repo "$T/repo"
expect 0 "the deployment deploys fine afterwards" -- timeout 60 "$W" deploy stuck --follow
contains "at the repository's commit" "$OUT" "is at ${head:0:12}"
stop_daemon
unset WEBOPS_FETCH_STALL_S
EOT

test_expect_success 'what a repository may cost the host: a small repository holding a blob of zeros that expands a thousandfold is...' <<'EOT'
# what a repository may cost the host: a small repository holding a blob of
# zeros that expands a thousandfold is refused before anything is written;
# one larger than the fetch limit stops mid-transfer; a checkout beyond the
# fetch child's memory fails with an error, not the machine's memory
make_repo "$T/bomb"
head -c $((96 << 20)) /dev/zero >"$T/bomb/zeros.bin"
git -C "$T/bomb" add zeros.bin
git -C "$T/bomb" -c user.name=Test -c user.email=test@example.com commit -qm zeros
packed=$(du -sk "$T/bomb/.git/objects" | cut -f1)
"$W" deployment create --name bomb --repo "$T/bomb" >/dev/null
bomb_id=$(q "SELECT id FROM deployments WHERE name = 'bomb'")
export WEBOPS_CHECKOUT_MAX_MB=64
start_daemon --workers 1 || exit 1
expect 1 "a checkout beyond WEBOPS_CHECKOUT_MAX_MB is refused (${packed} KiB of objects)" -- timeout 120 "$W" deploy bomb --follow
contains "...saying what it would write and the limit" "$OUT" "would write 96.0 MiB in 2 file(s), more than 64.0 MiB, the limit of a checkout (WEBOPS_CHECKOUT_MAX_MB on the host); nothing was written"
[ ! -e "$T/data/builds/$bomb_id/src/zeros.bin" ] && ok "...and nothing was written" || bad "zeros.bin was checked out"
stop_daemon
unset WEBOPS_CHECKOUT_MAX_MB

head -c $((3 << 20)) /dev/urandom >"$T/bomb/noise.bin"
git -C "$T/bomb" add noise.bin
git -C "$T/bomb" -c user.name=Test -c user.email=test@example.com commit -qm noise
"$W" deployment create --name noisy --repo "$T/bomb" >/dev/null
export WEBOPS_FETCH_MAX_MB=2
start_daemon --workers 1 || exit 1
expect 1 "a fetch beyond WEBOPS_FETCH_MAX_MB stops" -- timeout 120 "$W" deploy noisy --follow
contains "...saying so" "$OUT" "sent more than 2.0 MiB, the limit of a fetch (WEBOPS_FETCH_MAX_MB on the host); nothing was checked out"
stop_daemon
unset WEBOPS_FETCH_MAX_MB
EOT

test_expect_success 'the fetch child'\''s address space: what the run process maps already, plus 48 MiB, which the 96 MiB blob does not fit in' <<'EOT'
# the fetch child's address space: what the run process maps already, plus
# 48 MiB, which the 96 MiB blob does not fit in
start_daemon --workers 1 || exit 1
vm=$(awk '/^VmSize:/ { print int($2 / 1024) }' "/proc/$DAEMON_PID/status")
export WEBOPS_FETCH_MEMORY_MB=$((vm + 48))
stop_daemon
start_daemon --workers 1 || exit 1
expect 1 "a checkout beyond WEBOPS_FETCH_MEMORY_MB fails" -- timeout 120 "$W" deploy bomb --follow
contains "...naming the memory limit" "$OUT" "WEBOPS_FETCH_MEMORY_MB on the host"
stop_daemon
unset WEBOPS_FETCH_MEMORY_MB
start_daemon --workers 1 || exit 1
expect 0 "...the 96 MiB checkout" -- timeout 120 "$W" deploy bomb --follow
[ "$(stat -c %s "$T/data/builds/$bomb_id/src/zeros.bin" 2>/dev/null)" = $((96 << 20)) ] && ok "...written whole" || bad "zeros.bin: $(ls -l "$T/data/builds/$bomb_id/src/" 2>&1)"
stop_daemon
EOT

test_expect_success 'a run that is no longer this worker'\''s (handed back and claimed by another daemon) stops itself and its hooks, and...' <<'EOT'
# a run that is no longer this worker's (handed back and claimed by another
# daemon) stops itself and its hooks, and records nothing
export WEBOPS_PIPETEST_SLEEP_MS=20000
"$W" deployment create --name owned --repo "$T/repo" --set pipetest_mode=slow >/dev/null
start_daemon --workers 1 || exit 1
expect 0 "a slow deploy" -- "$W" deploy owned
run=$(q "SELECT max(id) FROM runs")
for i in $(seq 600); do [ "$(q "SELECT stage FROM runs WHERE id = $run")" = pre_deploy ] && break; sleep 0.1; done
q "UPDATE runs SET worker = 'elsewhere:1:00000000' WHERE id = $run"
t0=$(date +%s%N)
for i in $(seq 600); do grep -q "run $run of 'owned' stopped without recording its end" "$T/webopsd.log" && break; sleep 0.1; done
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
grep -q "run $run of 'owned' stopped without recording its end: the run now belongs to worker elsewhere:1:00000000" \
  "$T/webopsd.log" && ok "the run process stopped itself in ${ms} ms, saying why" || bad "did not stop: $(tail -5 "$T/webopsd.log")"
[ "$(q "SELECT status || ' ' || coalesce(worker, '') FROM runs WHERE id = $run")" = "running elsewhere:1:00000000" ] \
  && ok "and recorded nothing over the other worker's run" || bad "run: $(q "SELECT status, worker, error FROM runs WHERE id = $run")"
q "UPDATE runs SET status = 'failed', finished_at = now(), error = 'test' WHERE id = $run"
stop_daemon
EOT
finish
