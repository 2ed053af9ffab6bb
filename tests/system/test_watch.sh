#!/usr/bin/env bash
# Addons' watchers (host table 1.2, a `watch` hook) through a real webopsd and
# PostgreSQL: started with webopsd; what one reports about a deployment is
# recorded with its health events and the deployment is checked at once
# (its interval is 5 minutes); a report about a name that is no deployment
# is logged, not recorded; a watcher that crashes is started again after a
# pause; webopsd's stop stops it.
. "$(dirname "$0")/lib.sh"
test_setup 'the deployment and what it needs' <<'EOT'
need_db
export WEBOPS_DATABASE_URL=$(new_db)
export WEBOPS_DATA_DIR=$T/data
export WEBOPS_ADDONS_PATH=$(addons_dir watchtest healthtest)
q() { psql -qAtX "$WEBOPS_DATABASE_URL" -c "$1"; }
wait_for() { # wait_for SECONDS 'SHELL CONDITION': until it holds (evaluated each time)
  local deadline=$((SECONDS + $1))
  while [ $SECONDS -lt $deadline ]; do eval "$2" && return 0; sleep 0.1; done
  return 1
}
mkdir -p "$T/w" "$T/ht"
make_repo "$T/repo"
expect 0 "configure watchtest" -- "$W" addon config watchtest dir="$T/w"
expect 0 "configure healthtest" -- "$W" addon config healthtest dir="$T/ht"
expect 0 "create site (checked every 5 minutes)" -- "$W" deployment create site --repo "$T/repo" \
  --health-interval 300 --health-timeout 5 --health-start-period 0 --set healthtest_mode=ok

start_daemon --workers 1 || exit 1
grep -q "started the watcher of addon 'watchtest'" "$T/webopsd.log" && ok "webopsd started the watcher" \
  || bad "no watcher: $(grep watch "$T/webopsd.log")"
wait_for 30 'grep -q "^started" "$T/w/watch.log"' && ok "...and it runs" || bad "watch.log: $(cat "$T/w/watch.log" 2>&1)"
expect 0 "deploy site" -- "$W" deploy site --follow
checks() { q "SELECT count(*) FROM health_checks c JOIN deployments d ON d.id = c.deployment_id WHERE d.name = 'site'"; }
wait_for 30 'test "$(checks)" -ge 1' && ok "site had its first check" || bad "no first check"
sleep 1
before=$(checks)
EOT

test_expect_success 'a report: recorded, and a check at once although the interval is 300 s' <<'EOT'
echo "exited with code 137" >"$T/w/report-site"
t0=$(date +%s.%N)
wait_for 20 'test "$(q "SELECT count(*) FROM health_events e JOIN deployments d ON d.id = e.deployment_id WHERE d.name = '\''site'\'' AND kind = '\''reported'\''")" -ge 1' \
  && ok "the report is recorded with site's health events" || bad "not recorded: $(grep watch "$T/webopsd.log" | tail -3)"
expect 0 "...its reason" -- q "SELECT reason FROM health_events WHERE kind = 'reported'"
[ "$OUT" = "watchtest: died: exited with code 137" ] && ok "...reads 'watchtest: died: exited with code 137'" || bad "reason: $OUT"
wait_for 20 'test "$(checks)" -gt "$before"' && ok "site was checked at once ($(python3 -c "print(round($(date +%s.%N) - $t0, 1))") s after the report; interval 300 s)" \
  || bad "no check after the report ($(checks) checks, $before before)"
expect 0 "webops health site --history shows it" -- "$W" health site --history
contains "...as reported by an addon" "$OUT" "reported by an addon"
contains "...with its reason" "$OUT" "exited with code 137"
EOT

test_expect_success 'a name that is no deployment: logged, nothing recorded' <<'EOT'
echo "gone" >"$T/w/report-nosuch"
wait_for 20 'grep -q "watchtest reported '\''died'\'' about '\''nosuch'\'', which is not a deployment" "$T/webopsd.log"' \
  && ok "a report about a name that is no deployment is logged" || bad "log: $(grep watch "$T/webopsd.log" | tail -3)"
[ "$(q "SELECT count(*) FROM health_events WHERE kind = 'reported'")" = 1 ] && ok "...and not recorded" || bad "recorded"
EOT

test_expect_success 'a crash: started again after a pause' <<'EOT'
touch "$T/w/crash"
wait_for 30 'test "$(grep -c "^started" "$T/w/watch.log")" -ge 2' && ok "a crashed watcher is started again" \
  || bad "not restarted: $(cat "$T/w/watch.log"; grep watch "$T/webopsd.log" | tail -3)"
grep -q "the watcher of addon 'watchtest' ended (.*crashed.*); starting it again in 1 s" "$T/webopsd.log" \
  && ok "...saying why and when" || bad "log: $(grep 'watcher of' "$T/webopsd.log")"
echo "second life" >"$T/w/report-site"
wait_for 20 'test "$(q "SELECT count(*) FROM health_events WHERE kind = '\''reported'\''")" = 2' \
  && ok "...and reports again" || bad "no second report"
EOT

test_expect_success 'webopsd'\''s stop stops it (it sees cancelled() and returns)' <<'EOT'
wpid=$(awk '/^started/ { p = $2 } END { print p }' "$T/w/watch.log")
stop_daemon
grep -q "^stopped $wpid" "$T/w/watch.log" && ok "webopsd's stop stopped the watcher (it returned)" \
  || bad "watch.log: $(cat "$T/w/watch.log")"
kill -0 "$wpid" 2>/dev/null && bad "watcher $wpid still runs" || ok "...and nothing of it is left"
EOT
finish
