#!/usr/bin/env bash
# Deploy on a forge's webhook through a real webopsd: deliveries shaped as
# GitHub, GitLab, Gitea and Bitbucket document them, signed with the
# deployment's secret (tests/system/webhooks.py sends them); the CLI's webhook
# commands; rotating the secret.
. "$(dirname "$0")/lib.sh"
test_setup 'the deployment and what it needs' <<'EOT'
need_db

export WEBOPS_DATABASE_URL=$(new_db)
export WEBOPS_DATA_DIR=$T/data
export WEBOPS_ADDONS_PATH=$(addons_dir pipetest)

make_repo "$T/repo"
git -C "$T/repo" checkout -q -b dev
commit_repo "$T/repo" dev-work
git -C "$T/repo" checkout -q main
main_sha=$(git -C "$T/repo" rev-parse main)
dev_sha=$(git -C "$T/repo" rev-parse dev)
commit_repo "$T/repo" v2   # the branch head moves on: a webhook deploys the branch as it is (v2), never older

name=hooked
expect 0 "create prints the webhook URL and secret" -- "$W" deployment create "$name" --repo "file://$T/repo"
contains "...the URL" "$OUT" "/hooks/$name"
contains "...the secret" "$OUT" "secret:"
expect 0 "deployment webhook --json" -- "$W" deployment webhook "$name" --json
secret=$(json_get "$OUT" 'j["secret"]')
url=$(json_get "$OUT" 'j["url"]')
[[ "$secret" =~ ^[0-9a-f]{64}$ ]] && ok "the secret is 256 random bits in hex" || bad "secret looks wrong: $secret"
[[ "$url" == */hooks/$name ]] && ok "the URL ends in /hooks/NAME" || bad "url: $url"
expect 0 "asking again shows the same secret" -- "$W" deployment webhook "$name" --json
[ "$(json_get "$OUT" 'j["secret"]')" = "$secret" ] && ok "...unchanged" || bad "secret changed without --rotate"
expect 1 "an unknown deployment" -- "$W" deployment webhook nosuch
contains "...is named" "$ERR" "'nosuch' not found"

start_daemon --listen 127.0.0.1:0 --workers 1 || exit 1
BASE=$(sed -n 's/.*http: listening on \(http:[^ ]*\).*/\1/p' "$T/webopsd.log" | head -1)
# the addresses the CLI prints are where webopsd listens (it records them), not a default
expect 0 "deployment webhook --json, webopsd running" -- env -u WEBOPS_PUBLIC_URL "$W" deployment webhook "$name" --json
[ "$(json_get "$OUT" 'j["url"]')" = "$BASE/hooks/$name" ] && ok "...its URL is where webopsd listens ($BASE)" \
  || bad "url: $(json_get "$OUT" 'j["url"]') (webopsd: $BASE)"
expect 0 "deployment create prints working remotes" -- env -u WEBOPS_PUBLIC_URL "$W" deployment create "${name}r" \
  --repo "file://$T/repo"
contains "...git remote over HTTP at webopsd's address" "$OUT" "git remote add webops $BASE/git/${name}r.git"
contains "...and over SSH as webopsd's account at this host" "$OUT" "ssh://$(id -un)@$(hostname)/${name}r.git"
expect 0 "an API token" -- "$W" token create hooks
TOKEN=$OUT

W=$W BASE=$BASE TOKEN=$TOKEN NAME=$name SECRET=$secret MAIN_SHA=$main_sha DEV_SHA=$dev_sha REPO=$T/repo \
  HEAD_SHA=$(git -C "$T/repo" rev-parse main) \
  python3 "$(dirname "$0")/webhooks.py"
[ $? -eq 0 ] && ok "deliveries (webhooks.py)" || bad "deliveries (webhooks.py)"

expect 0 "deployment webhooks lists the deliveries" -- "$W" deployment webhooks "$name" --limit 400
contains "...with verdicts" "$OUT" "queued"
contains "...and reasons" "$OUT" "the delivery is not signed"
expect 0 "deployment webhooks --json" -- "$W" deployment webhooks "$name" --json --limit 5
[ "$(json_get "$OUT" 'len(j)')" = 5 ] && ok "--limit is honoured" || bad "--limit"
EOT

test_expect_success 'rotating: the old secret stops working at once' <<'EOT'
expect 0 "rotate the secret" -- "$W" deployment webhook "$name" --rotate --json
new=$(json_get "$OUT" 'j["secret"]')
[ "$new" != "$secret" ] && ok "a new secret" || bad "rotate kept the secret"
body='{"zen":"hi"}'
sigof() { python3 -c 'import hmac,hashlib,sys; print(hmac.new(sys.argv[1].encode(), sys.argv[2].encode(), hashlib.sha256).hexdigest())' "$1" "$body"; }
# (from another address: webhooks.py used up 127.0.0.1's refused deliveries for this minute)
code=$(curl -s --interface 127.0.0.2 -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -H 'X-GitHub-Event: ping' \
  -H "X-Hub-Signature-256: sha256=$(sigof "$secret")" --data "$body" "$BASE/hooks/$name")
[ "$code" = 401 ] && ok "the old secret is refused after --rotate" || bad "old secret: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -H 'X-GitHub-Event: ping' \
  -H "X-Hub-Signature-256: sha256=$(sigof "$new")" --data "$body" "$BASE/hooks/$name")
[ "$code" = 200 ] && ok "the new secret works" || bad "new secret: $code"
EOT

test_expect_success 'the deployment page shows the URL, the deliveries, and the secret on request' <<'EOT'
printf '%s' 'a good password' | "$W" user create ada --password-stdin >/dev/null
jar=$T/cookies
curl -s -c "$jar" -o /dev/null --data 'user=ada&password=a+good+password&next=/' "$BASE/login"
page=$(curl -s -b "$jar" "$BASE/deployments/$name")
contains "the page shows the webhook URL" "$page" "$BASE/hooks/$name"
contains "...the recent deliveries with their reasons" "$page" "does not match"
[[ "$page" != *"$new"* ]] && ok "...but not the secret until asked" || bad "secret shown unasked"
csrf=$(sed -n 's/.*name="_csrf" value="\([^"]*\)".*/\1/p' <<<"$page" | head -1)
shown=$(curl -s -b "$jar" --data "_csrf=$csrf&action=show" "$BASE/deployments/$name/webhook")
contains "'Show the secret' shows it" "$shown" "$new"

stop_daemon
EOT
finish
