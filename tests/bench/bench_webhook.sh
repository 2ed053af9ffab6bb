#!/usr/bin/env bash
# Benchmark: webhook ingest. The same signed GitHub push deliveries (a real
# push payload's shape, about 7 KB, for a branch that is not deployed, so no
# run starts; each with a delivery id of its own) sent to webopsd's
# POST /hooks/NAME and to Debian's `webhook` (adnanh/webhook, the peer),
# configured with the same secret and a rule on the deployed branch. Rounds
# alternate between the two (these machines are noisy), each round
# of WEBHOOK_N deliveries (default 2,000) over 16 connections after a
# warm-up. webopsd records every accepted delivery durably (the peer records
# nothing); the bench checks afterwards that every delivery of a round is in
# the database. Goals: requests/s ratio webops/peer >= 1.0, p99 ratio <= 1.0.
# Needs webhook (scripts/setup --test installs it; exits 0 with a
# hint when absent), WEBOPS_BIN_DIR (scripts/bench sets it; default
# build/bin) and a PostgreSQL install (a private server with fsync on).
set -uo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
missing=()
for tool in webhook curl python3 openssl; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench_webhook: skipped: ${missing[*]} not installed (apt-get install -y webhook curl python3 openssl)"
  exit 0
fi

export WEBOPS_BIN_DIR=${WEBOPS_BIN_DIR:-$root/build/bin}
export WEBOPS_BUILD_DIR=${WEBOPS_BUILD_DIR:-$(dirname "$WEBOPS_BIN_DIR")}
. "$root/tests/system/lib.sh"
. "$root/scripts/lib/pg.sh"

N=${WEBHOOK_N:-2000} CONNS=${WEBHOOK_CONNS:-16} ROUNDS=${WEBHOOK_ROUNDS:-3} WARM=${WEBHOOK_WARM:-300}
pgdir=

# shellcheck disable=SC2317 # called by the EXIT trap
bench_cleanup() {
  _cleanup # webopsd and the peer (in _pids), the database, $T
  pg_stop_private
  [ -n "$pgdir" ] && rm -rf "$pgdir"
}
trap bench_cleanup EXIT

die() { echo "bench_webhook: $*" >&2; exit 1; }

# always a PostgreSQL of its own: durable means on disk, so fsync is on, as
# in webopsd's own PostgreSQL (the test suite's server runs without it)
pgdir=$(mktemp -d /tmp/wo-bench-pg.XXXXXX)
WEBOPS_PG_FSYNC=on pg_start_private "$pgdir" || die "cannot start a private PostgreSQL"
WEBOPS_DATABASE_URL=$(new_db) || die "cannot create a database"
export WEBOPS_DATABASE_URL
export WEBOPS_DATA_DIR=$T/data

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# ---- webopsd with one deployment of branch main ----
start_daemon --listen 127.0.0.1:0 --workers 1 || exit 1
BASE=$(sed -n 's/.*http: listening on \(http:[^ ]*\).*/\1/p' "$T/webopsd.log" | head -1)
[ -n "$BASE" ] || die "webopsd printed no listen line: $(cat "$T/webopsd.log")"
"$W" deployment create app --repo https://example.com/app.git --branch main >"$T/create.out" 2>&1 ||
  die "cannot create the deployment: $(cat "$T/create.out")"
SECRET=$("$W" deployment webhook app --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["secret"])') ||
  die "cannot read the webhook secret"

# ---- the delivery: a push to 'feature' shaped like GitHub's own ----
python3 - "$T/body.json" <<'EOF'
import json, sys
sha = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
user = {"name": "octocat", "email": "octocat@github.com", "username": "octocat"}
repo = {"id": 186853002, "node_id": "MDEwOlJlcG9zaXRvcnkxODY4NTMwMDI=", "name": "app", "full_name": "octocat/app",
        "private": False, "owner": {"login": "octocat", "id": 21031067, "type": "User", "site_admin": False},
        "html_url": "https://github.com/octocat/app", "description": None, "fork": False,
        "url": "https://github.com/octocat/app", "clone_url": "https://github.com/octocat/app.git",
        "ssh_url": "git@github.com:octocat/app.git", "default_branch": "main", "master_branch": "main",
        "size": 0, "stargazers_count": 0, "watchers_count": 0, "language": None, "has_issues": True,
        "created_at": 1557933565, "updated_at": "2019-05-15T15:19:27Z", "pushed_at": 1557933657}
commits = [{"id": "%040x" % (0xabc000 + i), "tree_id": "%040x" % (0xdef000 + i), "distinct": True,
            "message": "Change number %d of the feature" % i, "timestamp": "2019-05-15T15:20:41Z",
            "url": "https://github.com/octocat/app/commit/%040x" % (0xabc000 + i), "author": user,
            "committer": user, "added": [], "removed": [], "modified": ["README.md", "app/views.py"]}
           for i in range(8)]
body = {"ref": "refs/heads/feature", "before": "0" * 39 + "1", "after": sha, "repository": repo,
        "pusher": {"name": "octocat", "email": "octocat@github.com"}, "sender": repo["owner"],
        "created": False, "deleted": False, "forced": False, "base_ref": None,
        "compare": "https://github.com/octocat/app/compare/0000001...6113728f27ae", "commits": commits,
        "head_commit": commits[-1]}
open(sys.argv[1], "w").write(json.dumps(body))
EOF
SIG="sha256=$(openssl dgst -sha256 -hmac "$SECRET" -r <"$T/body.json" | cut -d' ' -f1)"
body_bytes=$(stat -c %s "$T/body.json")

# ---- the peer: same secret, a rule on the deployed branch ----
PEER_PORT=$(free_port)
python3 - "$T/hooks.json" "$SECRET" "$T/peer-runs" <<'EOF'
import json, sys
rule = {"and": [
    {"match": {"type": "payload-hmac-sha256", "secret": sys.argv[2],
               "parameter": {"source": "header", "name": "X-Hub-Signature-256"}}},
    {"match": {"type": "value", "value": "refs/heads/main", "parameter": {"source": "payload", "name": "ref"}}}]}
# the command notes each time it runs (the peer's "deploy")
json.dump([{"id": "app", "execute-command": "/bin/sh", "trigger-rule": rule,
            "pass-arguments-to-command": [{"source": "string", "name": "-c"},
                                          {"source": "string", "name": "echo ran >> " + sys.argv[3]}]}],
          open(sys.argv[1], "w"))
EOF
webhook -hooks "$T/hooks.json" -ip 127.0.0.1 -port "$PEER_PORT" >"$T/peer.log" 2>&1 &
PEER_PID=$!
_pids+=("$PEER_PID")
PEER_URL="http://127.0.0.1:$PEER_PORT/hooks/app"
WO_URL="$BASE/hooks/app"
for _ in $(seq 50); do
  curl -s -o /dev/null "$PEER_URL" && break
  kill -0 "$PEER_PID" 2>/dev/null || die "webhook did not start: $(cat "$T/peer.log")"
  sleep 0.1
done

# both must accept the signed delivery and refuse a badly signed one
check_answers() { # URL: "signed-code bad-code"
  local a b
  a=$(curl -s -o "$T/ans.out" -w '%{http_code}' -H 'Content-Type: application/json' -H 'X-GitHub-Event: push' \
    -H "X-GitHub-Delivery: check-$RANDOM$RANDOM" -H "X-Hub-Signature-256: $SIG" --data-binary @"$T/body.json" "$1")
  b=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -H 'X-GitHub-Event: push' \
    -H "X-GitHub-Delivery: check-$RANDOM$RANDOM" -H "X-Hub-Signature-256: sha256=$(printf '0%.0s' $(seq 64))" \
    --data-binary @"$T/body.json" "$1")
  echo "$a $b"
}
wo_codes=$(check_answers "$WO_URL")
peer_codes=$(check_answers "$PEER_URL")
[ "${wo_codes%% *}" = 202 ] || die "webopsd answered $wo_codes to a signed push of another branch: $(cat "$T/ans.out")"
[ "${peer_codes%% *}" = 200 ] || die "webhook answered $peer_codes to a signed push of another branch"

# ---- the load: load_webhook, COUNT requests, each its own delivery id ----
LOAD=$WEBOPS_BUILD_DIR/bench/load_webhook
[ -x "$LOAD" ] || die "$LOAD is not built (cmake --build $WEBOPS_BUILD_DIR)"
WO_PORT=${BASE##*:}

# run_load PORT PATH TAG COUNT: sets RPS, P99, DONE, BAD
run_load() {
  "$LOAD" "$1" "$2" "$T/body.json" "$SIG" "$3" "$4" "$CONNS" >"$T/load.out" 2>&1
  local line; line=$(tail -1 "$T/load.out")
  field() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$line"; }
  RPS=$(field rps) P99=$(field p99_ms) DONE=$(field ok)
  BAD=
  [ "$(field other)" != 0 ] && BAD+=" other statuses: $(field other)"
  [ "$(field errors)" != 0 ] && BAD+=" errors: $(field errors)"
  [ -n "$RPS" ] || { echo "bench_webhook: the load failed: $(cat "$T/load.out")"; RPS=0 P99='-' DONE=0; }
}

recorded() { # ROUND: deliveries of that round in the database
  psql -qtAX "$WEBOPS_DATABASE_URL" -c \
    "SELECT count(*) FROM webhook_deliveries WHERE delivery_id LIKE '$1-%' AND verdict = 'ignored'"
}

run_load "$WO_PORT" /hooks/app warm-wo "$WARM"
run_load "$PEER_PORT" /hooks/app warm-peer "$WARM"

row() { printf '  %-8s %-22s %10s %10s %10s  %s\n' "$@"; }
echo "bench_webhook: $N signed GitHub push deliveries ($body_bytes B each) per round over $CONNS connections;"
echo "  loopback, the load driver and both servers share $(nproc) cores; webopsd: ${WEBOPS_HTTP_THREADS:-4} HTTP threads; peer: webhook $(webhook -version | awk '{ print $3 }')"
row round target req/s "p99 ms" recorded ""
wo_rps=() wo_p99=() peer_rps=() peer_p99=() lost=0
for r in $(seq "$ROUNDS"); do
  # which goes first alternates too
  for who in $( [ $((r % 2)) = 1 ] && echo "wo peer" || echo "peer wo"); do
    if [ "$who" = wo ]; then
      tag=r$r-$RANDOM
      run_load "$WO_PORT" /hooks/app "$tag" "$N"
      # a delivery is answered only once it is stored, so this is exact
      rec=$(recorded "$tag")
      [ "$rec" = "$DONE" ] || lost=$((lost + 1))
      wo_rps+=("$RPS") wo_p99+=("$P99")
      row "$r" webops "$RPS" "$P99" "$rec/$DONE" "${BAD# }"
    else
      run_load "$PEER_PORT" /hooks/app "peer-$r" "$N"
      peer_rps+=("$RPS") peer_p99+=("$P99")
      row "$r" "webhook (peer)" "$RPS" "$P99" "-" "${BAD# }"
    fi
  done
done

median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "-" }'; }
goal() { awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN { ok = op == ">=" ? v + 0 >= l : v + 0 <= l; print (v == "-" ? "?" : ok ? "met" : "MISSED") }'; }
rr=$(ratio "$(median "${wo_rps[@]}")" "$(median "${peer_rps[@]}")")
pr=$(ratio "$(median "${wo_p99[@]}")" "$(median "${peer_p99[@]}")")
echo "  medians: webops $(median "${wo_rps[@]}") req/s, p99 $(median "${wo_p99[@]}") ms;" \
  "peer $(median "${peer_rps[@]}") req/s, p99 $(median "${peer_p99[@]}") ms"
echo "  ratio webops/peer: req/s $rr (goal >= 1.0: $(goal "$rr" ">=" 1.0)), p99 $pr (goal <= 1.0: $(goal "$pr" "<=" 1.0))"
[ "$lost" = 0 ] && echo "  every answered delivery was in the database when its round ended" ||
  echo "  DELIVERIES MISSING from the database in $lost round(s)"
if grep -q " error " "$T/webopsd.log"; then
  echo "  webopsd logged errors:"; grep " error " "$T/webopsd.log" | head -5 | sed 's/^/    /'
fi
# ---- the same edge cases to both: what each answers, and whether it deploys ----
deliver() { # URL BODYFILE DELIVERY-ID SIGNED: prints the status
  local sig=()
  [ "$4" = 1 ] && sig=(-H "X-Hub-Signature-256: sha256=$(openssl dgst -sha256 -hmac "$SECRET" -r <"$2" | cut -d' ' -f1)")
  curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -H 'X-GitHub-Event: push' \
    -H "X-GitHub-Delivery: $3" "${sig[@]}" --data-binary @"$2" "$1"
}
runs_wo() { psql -qtAX "$WEBOPS_DATABASE_URL" -c "SELECT count(*) FROM runs"; }
runs_peer() { sleep 0.5; if [ -f "$T/peer-runs" ]; then wc -l <"$T/peer-runs"; else echo 0; fi; }
python3 - "$T" <<'EOF'
import json, sys
base = json.load(open(sys.argv[1] + "/body.json"))
main = dict(base, ref="refs/heads/main")
gone = dict(main, after="0" * 40, deleted=True, commits=[], head_commit=None)
json.dump(main, open(sys.argv[1] + "/main.json", "w"))
json.dump(gone, open(sys.argv[1] + "/gone.json", "w"))
EOF
edge() { # LABEL BODY ID SIGNED
  local w0 p0 wc pc
  w0=$(runs_wo) p0=$(runs_peer)
  wc=$(deliver "$WO_URL" "$T/$2" "$3" "$4") pc=$(deliver "$PEER_URL" "$T/$2" "$3" "$4")
  printf '  %-40s %6s %-8s %6s %s\n' "$1" "$wc" "$( [ "$(runs_wo)" -gt "$w0" ] && echo deploys || echo -)" \
    "$pc" "$( [ "$(runs_peer)" -gt "$p0" ] && echo deploys || echo -)"
}
echo "  edge cases, one delivery each (status, and whether a deploy started):"
printf '  %-40s %15s %15s\n' "" webops "webhook (peer)"
edge "an unsigned push of main" main.json edge-1 0
edge "a signed push of main" main.json edge-2 1
edge "the same delivery again (same id)" main.json edge-2 1
edge "a deletion of main (all-zero after)" gone.json edge-3 1
stop_daemon
exit 0
