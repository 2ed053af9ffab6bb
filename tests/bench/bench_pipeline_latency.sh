#!/usr/bin/env bash
# Benchmark: queue-to-finish latency of a run whose only hooks are no-ops
# (the pipetest addon), p50 and p99 over N runs (default 200), measured from
# the run rows' own timestamps (queued_at -> finished_at). Baseline, same
# machine, interleaved with the runs so that both see the same load: what a
# hand-written deployer spends on the same work with the git CLI (fetch into
# a cached clone + checkout + one fork/exec for the hook). Each side is timed
# with the machine otherwise quiet: a pause after each run lets webopsd's
# background work settle first, and the benchmark's own work while a run
# goes on is light (no interpreter started, one open connection to ask).
# Then a build printing 10,000 lines (pipetest_mode=lines; WEBOPS_BENCH_LINES
# to change): how fast the hook prints them alone (webops hook run, output
# thrown away) and inside a run, where every line goes to the run log.
# Needs WEBOPS_TEST_DATABASE_URL, WEBOPS_BIN_DIR and WEBOPS_BUILD_DIR (scripts/bench sets them).
set -uo pipefail
N=${1:-200}
LINES=${WEBOPS_BENCH_LINES:-10000}
. "$(dirname "$0")/../system/lib.sh"
need_db
export WEBOPS_DATABASE_URL=$(new_db)
export WEBOPS_DATA_DIR=$T/data
export WEBOPS_ADDONS_PATH=$(addons_dir pipetest)
export WEBOPS_LISTEN=off
export WEBOPS_PIPETEST_LINES_COUNT=$LINES
make_repo "$T/repo"
"$W" deployment create --name lat --repo "$T/repo" >/dev/null
"$W" deployment create --name loud --repo "$T/repo" --set pipetest_mode=lines >/dev/null
start_daemon --workers 2 || exit 1
"$W" deploy lat --follow >/dev/null || { echo "warm-up deploy failed"; cat "$T/webopsd.log"; exit 1; }

# the run's id is read with sed (a Python started for it would compete with
# the run for the CPU, as would a psql started for every question: the
# status is asked on one connection kept open)
run_id() { sed -n 's/^  "id": \([0-9]*\),$/\1/p' | head -n1; }
coproc PQ { psql "$WEBOPS_DATABASE_URL" -qAtX 2>&1; }
status() { echo "SELECT status FROM runs WHERE id=$1;" >&"${PQ[1]}"; read -r st <&"${PQ[0]}"; echo "$st"; }
git clone -q --bare "$T/repo" "$T/base.git"
mkdir -p "$T/basesrc"
base=()
for i in $(seq "$N"); do
  id=$("$W" deploy lat --json | run_id)
  while :; do
    st=$(status "$id")
    case $st in queued|running) sleep 0.01 ;; succeeded) break ;; *) echo "run $id ended $st"; exit 1 ;; esac
  done
  sleep 0.1
  # baseline: the git CLI doing the same fetch + checkout, plus one fork/exec
  t0=$(date +%s%N)
  git -C "$T/base.git" fetch -q "$T/repo" "+refs/heads/main:refs/heads/main"
  git --git-dir="$T/base.git" --work-tree="$T/basesrc" checkout -q -f main -- .
  /bin/true
  t1=$(date +%s%N)
  base+=($(( (t1 - t0) / 1000 )))
  sleep 0.1
done
read -r p50 p99 mean <<<"$(psql "$WEBOPS_DATABASE_URL" -qAtF' ' -c "SELECT
  round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1),
  round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 1),
  round(avg(ms)::numeric, 1)
  FROM (SELECT extract(epoch FROM finished_at - queued_at) * 1000 AS ms FROM runs
        WHERE status='succeeded' AND deployment_id = (SELECT id FROM deployments WHERE name='lat')
        ORDER BY id DESC LIMIT $N) x")"
read -r b50 b99 <<<"$(printf '%s\n' "${base[@]}" | sort -n | awk '{a[NR]=$1} END {i50=int(NR*0.5); if(i50<1)i50=1; i99=int(NR*0.99); if(i99<1)i99=1; printf "%.1f %.1f\n", a[i50]/1000, a[i99]/1000}')"
echo "bench_pipeline_latency: $N runs, no-op hooks, queue-to-finish"
echo "  webops      p50 ${p50} ms   p99 ${p99} ms   mean ${mean} ms"
echo "  git CLI     p50 ${b50} ms   p99 ${b99} ms   (fetch + checkout + fork/exec)"
awk -v a="$p50" -v b="$b50" -v c="$p99" -v d="$b99" 'BEGIN {printf "  ratio       p50 %.2f   p99 %.2f\n", a/b, c/d}'

# a build printing $LINES lines: the hook's own measure of how long printing
# them took, alone and in a run, taken in turns (median of 9 each: a single
# one varies by half on a busy machine)
printed() { sed -n 's/.*printed [0-9]* lines in \([0-9.]*\) ms.*/\1/p' | tail -n1; }
alone=() inrun=() stage=() stored=()
for i in $(seq 9); do
  alone+=("$("$W" hook run pre_deploy loud 2>&1 | printed)")
  id=$("$W" deploy loud --json | run_id)
  while :; do
    st=$(status "$id")
    case $st in queued|running) sleep 0.01 ;; succeeded) break ;; *) echo "run $id ended $st"; exit 1 ;; esac
  done
  inrun+=("$(psql "$WEBOPS_DATABASE_URL" -qAtc "SELECT text FROM run_logs WHERE run_id=$id AND text LIKE 'printed %'" | printed)")
  stage+=("$(psql "$WEBOPS_DATABASE_URL" -qAtc "SELECT stage_timings->>'pre_deploy' FROM runs WHERE id=$id")")
  stored+=("$(psql "$WEBOPS_DATABASE_URL" -qAtc "SELECT count(*) FROM run_logs WHERE run_id=$id AND text LIKE 'line %'")")
done
med() { printf '%s\n' "$@" | sort -g | sed -n 5p; }
a=$(med "${alone[@]}"); r=$(med "${inrun[@]}"); s=$(med "${stage[@]}")
echo "bench_pipeline_latency: a build printing $LINES lines (median of 9)"
awk -v n="$LINES" -v a="$a" -v r="$r" -v s="$s" -v st="$(med "${stored[@]}")" 'BEGIN {
  printf "  hook alone  %8.1f ms   %9.0f lines/s   (webops hook run, output thrown away)\n", a, n / (a / 1000)
  printf "  in a run    %8.1f ms   %9.0f lines/s   (every line to the run log; pre_deploy %d ms, %d lines stored)\n", r, n / (r / 1000), s, st
  printf "  ratio       %.2f\n", r / a }'
exec {PQ[1]}>&-
stop_daemon
