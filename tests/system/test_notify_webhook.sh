#!/usr/bin/env bash
# The notify-webhook addon end to end: a copy built outside the tree against
# nothing but `pkg-config webops-addon`, then `webops hook run notify` against
# a real HTTP receiver (tests/system/notify_receiver.py): the JSON document byte
# for byte, Slack format, the events filter, retries on 5xx/429 with backoff,
# no retry on 4xx, unreachable URLs, timeouts, redirects, signatures,
# the per-deployment switch and cancellation.
. "$(dirname "$0")/lib.sh"
test_setup 'the deployment and what it needs' <<'EOT'
need_db
export WEBOPS_DATABASE_URL=$(new_db)
export WEBOPS_DATA_DIR=$T/data
BUILD=${WEBOPS_BUILD_DIR:?}
SRC=${WEBOPS_SOURCE_DIR:?}
ADDON=$BUILD/addons/notify-webhook
export WEBOPS_ADDONS_PATH=$ADDON
unset PKG_CONFIG_PATH http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY
for v in $(env | grep -o '^WEBOPS_NOTIFY_WEBHOOK_[A-Z_]*'); do unset "$v"; done
VERSION=$(sed -n 's/^version: *//p' "$SRC/addons/notify-webhook/addon.yaml")
EOT

test_expect_success 'the receiver' <<'EOT'
LOG=$T/recv.log
: >"$LOG"
python3 "$SRC/tests/system/notify_receiver.py" "$LOG" "$T/port" 2>"$T/recv.err" &
RECV_PID=$!
_pids+=("$RECV_PID")
for i in $(seq 1200); do [ -s "$T/port" ] && break; sleep 0.05; done
PORT=$(cat "$T/port" 2>/dev/null)
[ -n "$PORT" ] || { echo "the receiver did not start:"; cat "$T/recv.err"; exit 1; }
U=http://127.0.0.1:$PORT
EOT

test_setup 'requests PATH: how many requests the receiver got for PATH' <<'EOT'
requests() { python3 -c "import json,sys; print(sum(1 for l in open(sys.argv[1]) if json.loads(l)['path']==sys.argv[2]))" "$LOG" "$1"; }
# req PATH EXPR [N]: EXPR on the Nth (default: last) request to PATH, r bound to its record
req() {
  python3 -c "
import base64, json, sys
rs = [json.loads(l) for l in open(sys.argv[1]) if json.loads(l)['path'] == sys.argv[2]]
r = rs[int(sys.argv[4])] if rs else None
raw = base64.b64decode(r['body_b64']) if r else b''
print($2)" "$LOG" "$1" "$2" "${3:--1}"
}
same() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: got '$2', wanted '$3'"; fi; }
# urls is a secret setting: given on stdin, never on the command line
cfg() {
  local a rest=()
  for a in "$@"; do
    case "$a" in
      urls=*) printf '%s' "${a#urls=}" | "$W" addon config notify-webhook urls --stdin >/dev/null || bad "addon config urls" ;;
      *) rest+=("$a") ;;
    esac
  done
  [ ${#rest[@]} -eq 0 ] || "$W" addon config notify-webhook "${rest[@]}" >/dev/null || bad "addon config ${rest[*]}"
}
notify() { expect 0 "$1" -- "$W" hook run notify blog --data "$2"; }

expect 0 "create deployment blog" -- "$W" deployment create --name blog --repo https://example.com/blog.git
EOT

test_expect_success 'built outside the tree from the public header alone' <<'EOT'
O=$T/outside/notify-webhook
mkdir -p "$T/outside"
cp -r "$SRC/addons/notify-webhook" "$O"
contains "pkg-config gives only the public include dir" \
  "$(PKG_CONFIG_PATH=$BUILD pkg-config --cflags webops-addon)" "-I$SRC/core/include"
same "that dir holds one header, webops/addon.h" "$(cd "$SRC/core/include" && find . -name '*.h')" "./webops/addon.h"
same "sources include no core/ path and no header but their own and libraries'" \
  "$(grep -h '#include' "$O"/*.c "$O"/*.h | grep -v -E '#include <(errno|stdint|stddef|stdio|stdlib|string|time|arpa/inet|netinet/in|sys/socket|curl/curl|jansson|sodium|webops/addon)\.h>|#include "deliver\.h"')" ""
expect 0 "gcc builds the copy with pkg-config webops-addon libcurl jansson libsodium" -- \
  bash -c "cd '$O' && gcc -std=gnu11 -O2 -Wall -Wextra -Wno-unused-parameter -Werror -o notify-webhook.so hooks.c deliver.c \
    \$(PKG_CONFIG_PATH='$BUILD' pkg-config --cflags --libs webops-addon libcurl jansson libsodium) -Wl,-z,defs"
contains "no libwebops in what it needs" "$(readelf -d "$O/notify-webhook.so" | grep NEEDED | grep -c webops)" "0"
same "exports only the descriptor and the handler" \
  "$(nm -D --defined-only "$O/notify-webhook.so" | awk '{print $3}' | sort | tr '\n' ' ')" "notify_webhook_notify webops_addon_descriptor "
expect 0 "addon check passes on the outside build" -- "$W" addon check "$O"
contains "check reports ABI 1.2, the hook, the field and the settings" "$OUT" \
  "addon 'notify-webhook' $VERSION is valid: addon ABI 1.2, 1 hook, 1 field, 7 settings"
expect 0 "cmake builds the copy as a project of its own" -- \
  bash -c "PKG_CONFIG_PATH='$BUILD' cmake -S '$O' -B '$T/outside/cm' >/dev/null && cmake --build '$T/outside/cm'"
expect 0 "addon check passes on the cmake build" -- "$W" addon check "$T/outside/cm"
expect 0 "addon check passes on the tree's build" -- "$W" addon check "$ADDON"
EOT

test_expect_success 'nothing configured, no event' <<'EOT'
notify "no urls: the hook skips" '{"event": "run.failed", "deployment": "blog", "summary": "s"}'
contains "says why" "$OUT" "skipped: no urls configured (printf '%s' '[\"https://...\"]' | webops addon config notify-webhook urls --stdin)"
expect 2 "urls on the command line are refused: a webhook URL is a secret" -- "$W" addon config notify-webhook urls='["https://hooks.example/T0/B0/x"]'
expect 1 "a URL of another scheme is refused by the schema" -- sh -c "printf '%s' '[\"ftp://127.0.0.1/x\"]' | '$W' addon config notify-webhook urls --stdin"
contains "names the item and says what is allowed" "$ERR" "item 'ftp://127.0.0.1/x' is not allowed: The http:// or https:// URLs"
cfg urls="[\"$U/ok/json\"]"
# the receiver is on this host: refused until the host's operator allows its address
expect 0 "a loopback receiver is refused: the (optional) notify hook fails" -- "$W" hook run notify blog --data '{"event": "run.failed", "deployment": "blog", "summary": "s"}'
contains "...saying why and how to allow it" "$OUT$ERR" "not sent: 127.0.0.1 is a loopback address (the host's operator allows it with 'webops addon config notify-webhook allowed_addresses=[...]')"
[ ! -s "$LOG" ] && ok "...nothing reached the receiver" || bad "the receiver got: $(cat "$LOG")"
cfg urls="[\"http://localhost:${U##*:}/ok/json\"]"
expect 0 "...also through a name that resolves to it" -- "$W" hook run notify blog --data '{"event": "run.failed", "deployment": "blog", "summary": "s"}'
contains "...named by its address" "$OUT$ERR" "is a loopback address"
expect 0 "allowed_addresses is a host setting" -- "$W" addon info notify-webhook --json
[ "$(json_get "$OUT" "[s.get('scope') for s in j['settings'] if s['name'] == 'allowed_addresses'][0]")" = host ] \
  && ok "...scope host" || bad "scope: $OUT"
cfg allowed_addresses='["127.0.0.1"]'
cfg urls="[\"$U/ok/json\"]"
expect 0 "documented list syntax is stored" -- "$W" addon config notify-webhook urls
contains "urls read back masked" "$OUT" "********"
[[ "$OUT" != *"$U/ok/json"* ]] && ok "...never shown" || bad "urls shown: $OUT"
[[ "$(psql "$WEBOPS_DATABASE_URL" -qAtc "SELECT settings::text FROM addons WHERE name = 'notify-webhook'")" != *"/ok/json"* ]] \
  && ok "...and sealed at rest" || bad "urls stored in clear"
expect 0 "no --data: skipped" -- "$W" hook run notify blog
contains "says there is no event" "$OUT" "skipped: the event document has no 'event'"
same "nothing sent" "$(requests /ok/json)" "0"
EOT

test_expect_success 'json format: the document byte for byte' <<'EOT'
DOC='{"event": "health.unhealthy", "deployment": "blog", "at": "2026-11-24T10:00:00Z",
 "summary": "blog is unhealthy: probe GET /health: \"connection refused\" \\ é\t(3 failures)",
 "previous": "healthy", "state": "unhealthy", "reason": "probe GET /health: connection refused",
 "check_id": 812, "restart": "restarting"}'
notify "json: health.unhealthy delivered" "$DOC"
contains "the delivery is logged" "$OUT" "POST $U/ok/json: HTTP 200 in"
contains "ok" "$OUT" "notify: 1 ok, 0 failed"
same "one request" "$(requests /ok/json)" "1"
same "a POST" "$(req /ok/json "r['method']")" "POST"
WANT=$(python3 -c "import json,sys; print(json.dumps(json.loads(sys.argv[1]), sort_keys=True, separators=(',',':'), ensure_ascii=False))" "$DOC")
same "body is the document, compact, byte for byte" "$(req /ok/json "raw.decode('utf-8')")" "$WANT"
same "body parses to the document" "$(python3 -c "
import base64, json, sys
r = [json.loads(l) for l in open(sys.argv[1])][-1]
print(json.loads(base64.b64decode(r['body_b64'])) == json.loads(sys.argv[2]))" "$LOG" "$DOC")" "True"
same "Content-Type" "$(req /ok/json "r['headers']['content-type']")" "application/json"
same "User-Agent carries the version" "$(req /ok/json "r['headers']['user-agent']")" "webops-notify-webhook/$VERSION"
same "X-Webops-Event" "$(req /ok/json "r['headers']['x-webops-event']")" "health.unhealthy"
same "X-Webops-Delivery is 32 hex digits" "$(req /ok/json "len(r['headers']['x-webops-delivery']) == 32 and all(c in '0123456789abcdef' for c in r['headers']['x-webops-delivery'])")" "True"
same "no signature without a secret" "$(req /ok/json "'x-webops-signature' in r['headers']")" "False"
same "no Expect: 100-continue" "$(req /ok/json "'expect' in r['headers']")" "False"
notify "json: deployment and summary filled in when missing" '{"event": "run.succeeded", "run_id": 7}'
same "filled body" "$(req /ok/json "json.loads(raw)")" "{'event': 'run.succeeded', 'run_id': 7, 'deployment': 'blog', 'summary': 'blog: run.succeeded'}"
expect 0 "hook run --json reports the outputs" -- "$W" hook run notify blog --json --data '{"event": "run.failed"}'
same "outputs delivered=1 failed=0" "$(json_get "$OUT" "j['outputs']['notify-webhook']")" "{'delivered': '1', 'failed': '0'}"
EOT

test_expect_success 'slack format' <<'EOT'
cfg urls="$U/ok/slack" format=slack
notify "slack: delivered" '{"event": "run.failed", "deployment": "blog", "summary": "deploy of <blog> & co failed: exit 1"}'
same "body is {\"text\": summary}, &<> escaped for Slack" "$(req /ok/slack "raw.decode()")" '{"text":"deploy of &lt;blog&gt; &amp; co failed: exit 1"}'
cfg format=json
EOT

test_expect_success 'the events filter' <<'EOT'
cfg urls="$U/ok/filter" events='["run.failed", "health"]'
notify "events: run.succeeded is not wanted" '{"event": "run.succeeded", "deployment": "blog", "summary": "s"}'
contains "skipped with the reason" "$OUT" "skipped: event 'run.succeeded' is not among the events setting [\"run.failed\",\"health\"]"
same "nothing sent" "$(requests /ok/filter)" "0"
notify "events: run.failed is" '{"event": "run.failed", "deployment": "blog", "summary": "s"}'
notify "events: the prefix health takes health.healthy" '{"event": "health.healthy", "deployment": "blog", "summary": "s"}'
same "two sent" "$(requests /ok/filter)" "2"
cfg events='["run.*"]'
notify "events: run.* takes run.succeeded" '{"event": "run.succeeded", "deployment": "blog", "summary": "s"}'
notify "events: run.* does not take health.healthy" '{"event": "health.healthy", "deployment": "blog", "summary": "s"}'
contains "skipped" "$OUT" "skipped: event 'health.healthy'"
notify "events: run.* does not take a name that only starts with run" '{"event": "runner.x", "deployment": "blog", "summary": "s"}'
contains "skipped" "$OUT" "skipped: event 'runner.x'"
cfg events='*'
notify "events: * takes anything" '{"event": "health.healthy", "deployment": "blog", "summary": "s"}'
same "four sent in all" "$(requests /ok/filter)" "4"
expect 1 "events: a bad item is refused by the schema" -- "$W" addon config notify-webhook events='["Run failed"]'
"$W" addon config notify-webhook --unset events >/dev/null
EOT

test_expect_success 'retries: 500 twice, then 200; backoff 0.5 s then 1 s; one delivery id' <<'EOT'
cfg urls="[\"$U/fail/2/500/r\"]" retries=2
notify "retries after 500 then succeeds" '{"event": "run.failed", "deployment": "blog", "summary": "s"}'
contains "first retry in 500 ms" "$OUT" "POST $U/fail/2/500/r: HTTP 500 (boom) (attempt 1 of 3); retrying in 500 ms"
contains "second retry in 1000 ms" "$OUT" "(attempt 2 of 3); retrying in 1000 ms"
contains "third attempt delivers" "$OUT" "POST $U/fail/2/500/r: HTTP 200 in"
contains "the hook is ok" "$OUT" "notify: 1 ok, 0 failed"
same "three requests" "$(requests /fail/2/500/r)" "3"
same "waits of at least 0.5 s and 1 s" "$(python3 -c "
import json, sys
at = [json.loads(l)['at'] for l in open(sys.argv[1]) if json.loads(l)['path'] == '/fail/2/500/r']
print(at[1] - at[0] >= 0.45 and at[2] - at[1] >= 0.95 and at[2] - at[0] < 5)" "$LOG")" "True"
same "one delivery id for every attempt" "$(python3 -c "
import json, sys
ids = {json.loads(l)['headers']['x-webops-delivery'] for l in open(sys.argv[1]) if json.loads(l)['path'] == '/fail/2/500/r'}
print(len(ids))" "$LOG")" "1"
cfg urls="[\"$U/fail/9/503/x\"]" retries=1
notify "5xx every time: retries run out (optional hook, exit 0)" '{"event": "run.failed", "deployment": "blog", "summary": "s"}'
contains "the hook fails naming the URL, the status and the attempts" "$OUT" \
  "failed: POST $U/fail/9/503/x: HTTP 503 (boom) after 2 attempts"
contains "counted failed" "$OUT" "notify: 0 ok, 1 failed"
same "two requests (retries=1)" "$(requests /fail/9/503/x)" "2"
cfg urls="[\"$U/fail/1/429/t\"]" retries=2
notify "429 is retried" '{"event": "run.failed", "deployment": "blog", "summary": "s"}'
same "two requests" "$(requests /fail/1/429/t)" "2"
contains "ok" "$OUT" "notify: 1 ok"
EOT

test_expect_success '4xx is not retried' <<'EOT'
cfg urls="[\"$U/status/404/n\"]" retries=2
notify "404: one attempt" '{"event": "run.failed", "deployment": "blog", "summary": "s"}'
contains "not retried" "$OUT" "HTTP 404 (nope) (attempt 1 of 3); not retried"
contains "message" "$OUT" "failed: POST $U/status/404/n: HTTP 404 (nope) after 1 attempt"
same "one request" "$(requests /status/404/n)" "1"
EOT

test_expect_success 'an unreachable URL fails on its own; the other URL still gets it' <<'EOT'
DEAD=$(free_port)
cfg urls="[\"http://127.0.0.1:$DEAD/hook\", \"$U/ok/indep\"]" retries=2
notify "unreachable + reachable" '{"event": "run.failed", "deployment": "blog", "summary": "s"}'
contains "names the unreachable URL and the cause" "$OUT" "failed: POST http://127.0.0.1:$DEAD/hook: Failed to connect to 127.0.0.1 port $DEAD"
contains "after every attempt" "$OUT" "after 3 attempts"
contains "the other URL is delivered" "$OUT" "POST $U/ok/indep: HTTP 200"
contains "counts" "$OUT" "outputs: delivered=1 failed=1"
same "the reachable URL got one request" "$(requests /ok/indep)" "1"
contains "its message does not blame the good URL" "$(grep 'failed:' "$T/out" | head -1)" "failed: POST http://127.0.0.1:$DEAD/hook"
if grep 'failed: POST' "$T/out" | grep -q '/ok/indep'; then bad "the good URL is named as failed"; else ok "the good URL is not named as failed"; fi
EOT

test_expect_success 'per-request timeout' <<'EOT'
cfg urls="[\"$U/slow/3000/t\"]" retries=0 timeout_ms=300
s0=$(date +%s%N)
notify "a slow receiver times out" '{"event": "run.failed", "deployment": "blog", "summary": "s"}'
ms=$(( ($(date +%s%N) - s0) / 1000000 ))
contains "timeout named" "$OUT" "failed: POST $U/slow/3000/t: Operation timed out after"
if [ "$ms" -lt 2500 ]; then ok "it did not wait for the receiver ($ms ms)"; else bad "took $ms ms"; fi
"$W" addon config notify-webhook --unset timeout_ms >/dev/null
EOT

test_expect_success 'redirects: same scheme followed with the POST kept, another scheme refused' <<'EOT'
cfg urls="[\"$U/redirect//ok/after\"]" retries=2
notify "a redirect to http is followed" '{"event": "run.failed", "deployment": "blog", "summary": "redir"}'
same "the POST and its body arrive after the redirect" "$(req /ok/after "r['method'] + ' ' + json.loads(raw)['summary']")" "POST redir"
cfg urls="[\"$U/redirect/ftp://127.0.0.1:$PORT/x\"]"
notify "a redirect to ftp is not followed" '{"event": "run.failed", "deployment": "blog", "summary": "s"}'
contains "refused, named" "$OUT" "failed: POST $U/redirect/ftp://127.0.0.1:$PORT/x:"
contains "not retried" "$OUT" "after 1 attempt"
same "one request" "$(requests "/redirect/ftp://127.0.0.1:$PORT/x")" "1"
EOT

test_expect_success 'credentials and query strings stay out of logs and messages' <<'EOT'
cfg urls="[\"http://user:pw@127.0.0.1:$PORT/status/401/q?token=abc\"]"
notify "a URL with credentials and a query" '{"event": "run.failed", "deployment": "blog", "summary": "s"}'
contains "shown without them" "$OUT" "failed: POST http://127.0.0.1:$PORT/status/401/q?...: HTTP 401 (nope) after 1 attempt"
if [[ "$OUT" == *pw@* || "$OUT" == *token=abc* ]]; then bad "credentials leaked: $OUT"; else ok "no password or token in the output"; fi
same "but they were sent" "$(req '/status/401/q?token=abc' "r['headers'].get('authorization')")" "Basic dXNlcjpwdw=="
EOT

test_expect_success 'signature' <<'EOT'
cfg urls="[\"$U/ok/signed\"]"
expect 2 "the secret is refused on the command line" -- "$W" addon config notify-webhook secret=s3cr3t-key
contains "...and read from stdin instead" "$ERR" "webops addon config notify-webhook secret --stdin"
expect 0 "the secret from stdin" -- sh -c "echo s3cr3t-key | '$W' addon config notify-webhook secret --stdin"
expect 0 "the secret is masked in addon config" -- "$W" addon config notify-webhook
if [[ "$OUT" == *s3cr3t-key* ]]; then bad "secret shown: $OUT"; else ok "secret not shown"; fi
notify "signed delivery" '{"event": "run.failed", "deployment": "blog", "summary": "signed"}'
same "X-Webops-Signature is sha256=HMAC-SHA256(secret, body)" "$(req /ok/signed "r['headers']['x-webops-signature'] == 'sha256=' + __import__('hmac').new(b's3cr3t-key', raw, 'sha256').hexdigest()")" "True"
"$W" addon config notify-webhook --unset secret >/dev/null
EOT

test_expect_success 'the environment overrides settings' <<'EOT'
expect 0 "WEBOPS_NOTIFY_WEBHOOK_URLS" -- env WEBOPS_NOTIFY_WEBHOOK_URLS="$U/ok/env1,$U/ok/env2" \
  "$W" hook run notify blog --data '{"event": "run.failed", "deployment": "blog", "summary": "s"}'
same "both env URLs got it" "$(requests /ok/env1)$(requests /ok/env2)" "11"
EOT

test_expect_success 'the per-deployment switch' <<'EOT'
cfg urls="[\"$U/ok/switch\"]"
expect 0 "turn notify_webhook off for blog" -- "$W" deployment update blog --set notify_webhook=false
notify "off: skipped" '{"event": "run.failed", "deployment": "blog", "summary": "s"}'
contains "says so" "$OUT" "skipped: notify_webhook is off for this deployment"
same "nothing sent" "$(requests /ok/switch)" "0"
expect 0 "back on" -- "$W" deployment update blog --set notify_webhook=true
notify "on: sent" '{"event": "run.failed", "deployment": "blog", "summary": "s"}'
same "sent" "$(requests /ok/switch)" "1"
EOT

test_expect_success 'the outside build delivers too' <<'EOT'
expect 0 "hook run with the outside build" -- env WEBOPS_ADDONS_PATH="$T/outside" \
  "$W" hook run notify blog --data '{"event": "run.failed", "deployment": "blog", "summary": "outside"}'
same "delivered" "$(req /ok/switch "json.loads(raw)['summary']")" "outside"
EOT

test_expect_success 'cancellation stops the wait' <<'EOT'
cfg urls="[\"$U/slow/15000/c\"]" timeout_ms=20000 retries=0
"$W" hook run notify blog --data '{"event": "run.failed", "deployment": "blog", "summary": "s"}' >"$T/cancel.out" 2>&1 &
CLI_PID=$!
for i in $(seq 1200); do [ "$(requests /slow/15000/c)" = 1 ] && break; sleep 0.05; done
s0=$(date +%s%N)
kill -INT "$CLI_PID"
wait "$CLI_PID"
ms=$(( ($(date +%s%N) - s0) / 1000000 ))
if [ "$ms" -lt 3000 ]; then ok "cancelled within $ms ms"; else bad "cancel took $ms ms"; fi
contains "the hook says it was cancelled" "$(cat "$T/cancel.out")" "failed: cancelled with 1 of 1 URL not delivered to"

kill "$RECV_PID"
wait "$RECV_PID" 2>/dev/null
EOT
finish
