#!/usr/bin/env bash
# Benchmark: queue-to-finish latency of a run whose only hooks are no-ops
# (the pipetest addon), p50 and p99 over N runs (default 200), measured from
# the run rows' own timestamps (queued_at -> finished_at). Baseline, same run:
# what a hand-written deployer spends on the same work with the git CLI
# (fetch into a cached clone + checkout + one fork/exec for the hook).
# Needs WEBOPS_TEST_DATABASE_URL, WEBOPS_BIN_DIR and WEBOPS_BUILD_DIR (scripts/bench sets them).
set -uo pipefail
N=${1:-200}
. "$(dirname "$0")/../cli/lib.sh"
need_db
export WEBOPS_DATABASE_URL=$(new_db)
export WEBOPS_DATA_DIR=$T/data
export WEBOPS_ADDONS_PATH=$(addons_dir pipetest)
make_repo "$T/repo"
"$W" deployment create --name lat --repo "$T/repo" >/dev/null
start_daemon --workers 2 || exit 1
"$W" deploy lat --follow >/dev/null || { echo "warm-up deploy failed"; cat "$T/webopsd.log"; exit 1; }

for i in $(seq "$N"); do
  id=$("$W" deploy lat --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  while :; do
    st=$(psql "$WEBOPS_DATABASE_URL" -qAtc "SELECT status FROM runs WHERE id=$id")
    case $st in queued|running) sleep 0.01 ;; succeeded) break ;; *) echo "run $id ended $st"; exit 1 ;; esac
  done
done
read -r p50 p99 mean <<<"$(psql "$WEBOPS_DATABASE_URL" -qAtF' ' -c "SELECT
  round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1),
  round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 1),
  round(avg(ms)::numeric, 1)
  FROM (SELECT extract(epoch FROM finished_at - queued_at) * 1000 AS ms FROM runs WHERE status='succeeded' ORDER BY id DESC LIMIT $N) x")"

# baseline: the git CLI doing the same fetch + checkout, plus one fork/exec
git clone -q --bare "$T/repo" "$T/base.git"
mkdir -p "$T/basesrc"
base=()
for i in $(seq "$N"); do
  t0=$(date +%s%N)
  git -C "$T/base.git" fetch -q "$T/repo" "+refs/heads/main:refs/heads/main"
  git --git-dir="$T/base.git" --work-tree="$T/basesrc" checkout -q -f main -- .
  /bin/true
  t1=$(date +%s%N)
  base+=($(( (t1 - t0) / 1000 )))
done
read -r b50 b99 <<<"$(printf '%s\n' "${base[@]}" | sort -n | awk '{a[NR]=$1} END {i50=int(NR*0.5); if(i50<1)i50=1; i99=int(NR*0.99); if(i99<1)i99=1; printf "%.1f %.1f\n", a[i50]/1000, a[i99]/1000}')"
echo "bench_pipeline_latency: $N runs, no-op hooks, queue-to-finish"
echo "  webops      p50 ${p50} ms   p99 ${p99} ms   mean ${mean} ms"
echo "  git CLI     p50 ${b50} ms   p99 ${b99} ms   (fetch + checkout + fork/exec)"
awk -v a="$p50" -v b="$b50" -v c="$p99" -v d="$b99" 'BEGIN {printf "  ratio       p50 %.2f   p99 %.2f\n", a/b, c/d}'
stop_daemon
