#!/usr/bin/env bash
# Benchmark: a burst of run log lines in a real browser. A run page is open
# in headless chromium (playwright-core) while its run prints 10,000 lines
# at once (the pipetest addon, lines mode; WEBOPS_BENCH_LINES to change):
# how long after the server wrote the last line it is in the page, and the
# median and worst delay of a line from the server to the page. Goal: all
# lines in the page within 1 s of their arrival. Baseline, same run, same
# machine: web/app.js as it was before it batched the lines (one append,
# one layout read and one scroll per line), from git history (skipped when
# the source tree has no history), compared on a burst of 2,000 lines
# (WEBOPS_BENCH_BASE_LINES), since it takes minutes over 10,000. Then, with
# the current page, a reader who scrolled up must be left where they are
# while lines arrive.
# Needs WEBOPS_TEST_DATABASE_URL, WEBOPS_BIN_DIR and WEBOPS_BUILD_DIR
# (scripts/bench sets them), chromium and playwright-core (scripts/setup --test).
set -uo pipefail
LINES=${WEBOPS_BENCH_LINES:-10000}
BASE_LINES=${WEBOPS_BENCH_BASE_LINES:-2000}
BASELINE_REV=${WEBOPS_BENCH_BASELINE_REV:-21441bd}
. "$(dirname "$0")/../system/lib.sh"
need_db
src=${WEBOPS_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
e2e=$src/tests/e2e
[ -x /usr/bin/chromium ] && [ -d "$e2e/node_modules/playwright-core" ] ||
  { echo "skipped: chromium or playwright-core is missing (scripts/setup --test)"; exit 77; }
export WEBOPS_ADDONS_PATH=$(addons_dir pipetest)
export WEBOPS_PIPETEST_SLEEP_MS=120000
make_repo "$T/repo"

# measure WEB_DIR [SCROLL_UP]: a fresh database and webopsd serving WEB_DIR;
# a slow run holds the only worker while the page of the loud run is opened,
# and is cancelled once the page listens
measure() {
  export WEBOPS_PIPETEST_LINES_COUNT=$LINES
  export WEBOPS_DATABASE_URL=$(new_db) WEBOPS_DATA_DIR=$T/data-$RANDOM WEBOPS_WEB_DIR=$1
  "$W" deployment create --name slow --repo "$T/repo" --set pipetest_mode=slow >/dev/null
  "$W" deployment create --name loud --repo "$T/repo" --set pipetest_mode=lines >/dev/null
  : >"$T/webopsd.log"
  start_daemon --listen 127.0.0.1:0 --workers 1 || return 1
  local base id out slow
  base=$(sed -n 's/.*http: listening on \(http:[^ ]*\).*/\1/p' "$T/webopsd.log" | head -1)
  slow=$("$W" deploy slow --json | sed -n 's/^  "id": \([0-9]*\),$/\1/p' | head -n1)
  id=$("$W" deploy loud --json | sed -n 's/^  "id": \([0-9]*\),$/\1/p' | head -n1)
  rm -f "$T/ready"
  SETUP_URL=$(cat "$WEBOPS_DATA_DIR/setup-url") BASE=$base RUN_URL="$base/runs/$id" LINES=$LINES \
    SCROLL_UP=${2:-0} READY_FILE=$T/ready node "$e2e/runlog_bench.mjs" >"$T/driver.out" 2>&1 &
  local driver=$!
  for _ in $(seq 600); do [ -e "$T/ready" ] && break; kill -0 $driver 2>/dev/null || break; sleep 0.1; done
  "$W" cancel "$slow" >/dev/null
  wait $driver
  out=$(tail -1 "$T/driver.out")
  case "$out" in "{"*) ;; *) echo "the browser driver failed:" >&2; tail -20 "$T/driver.out" >&2 ;; esac
  stop_daemon
  echo "$out"
}
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2" 2>/dev/null; }

now=$(measure "$src/web")
echo "current web/app.js, $LINES lines: $now"
if git -C "$src" cat-file -e "$BASELINE_REV:web/app.js" 2>/dev/null; then
  mkdir -p "$T/web-base"
  cp -a "$src/web/." "$T/web-base/"
  git -C "$src" show "$BASELINE_REV:web/app.js" >"$T/web-base/app.js"
  full=$LINES
  LINES=$BASE_LINES
  small=$(measure "$src/web")
  was=$(measure "$T/web-base")
  LINES=$full
  echo "current web/app.js, $BASE_LINES lines: $small"
  echo "baseline (app.js of $BASELINE_REV, a line at a time), $BASE_LINES lines: $was"
  python3 - "$small" "$was" <<'PY'
import json, sys
try:
    n, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
except ValueError:
    sys.exit("no ratio: a measurement failed (above)")
for k in ("last_delay_ms", "median_delay_ms", "worst_delay_ms", "page_ms"):
    print("%s: %.0f ms now, %.0f ms before (%.1fx faster)" % (k, n[k], b[k], b[k] / n[k] if n[k] else float("inf")))
PY
fi
up=$(measure "$src/web" 1)
echo "scrolled up while lines arrive: $up"
last=$(field "$now" page_ms)
python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) <= 1000 else 1)' "${last:-99999}" &&
  echo "goal met: all $LINES lines in the page ${last} ms after the last one arrived (within 1 s)" ||
  echo "goal NOT met: the last of $LINES lines in the page ${last} ms after it arrived"
[ "$(field "$up" kept_position)" = True ] && echo "a reader who scrolled up stays where they are" ||
  echo "FAIL: the log moved under a reader who scrolled up ($up)"
