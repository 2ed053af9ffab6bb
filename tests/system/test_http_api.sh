#!/usr/bin/env bash
# The JSON API through a real webopsd and PostgreSQL: every route of
# openapi.json, its errors, auth (no token, revoked token), body limits, the
# live log stream and its resumption (tests/system/http_api.py does the talking).
. "$(dirname "$0")/lib.sh"
test_setup 'the deployment and what it needs' <<'EOT'
need_db

export WEBOPS_DATABASE_URL=$(new_db)
export WEBOPS_DATA_DIR=$T/data
export WEBOPS_ADDONS_PATH=$(addons_dir pipetest):$WEBOPS_BUILD_DIR/addons
# the bundled addons are here for their host settings (refused over HTTP);
# disabled, they run nothing
for a in docker proxy-nginx notify-webhook; do "$W" addon disable "$a" >/dev/null; done

make_repo "$T/repo"
# a short header deadline, for the trickling client in http_api.py
export WEBOPS_HTTP_HEADER_TIMEOUT_S=3
start_daemon --listen 127.0.0.1:0 --workers 1 || exit 1
BASE=$(sed -n 's/.*http: listening on \(http:[^ ]*\).*/\1/p' "$T/webopsd.log" | head -1)
[ -n "$BASE" ] && ok "webopsd listens ($BASE)" || { bad "no listen line"; cat "$T/webopsd.log"; finish; }
contains "a setup link is printed when there is no user" "$(cat "$T/webopsd.log")" "$BASE/setup/"
[ -f "$T/data/setup-url" ] && [ "$(stat -c %a "$T/data/setup-url")" = 600 ] && ok "the setup link is in DATA_DIR/setup-url (0600)" \
  || bad "setup-url file missing or not 0600"

expect 0 "token create prints the token" -- "$W" token create ci --expires 30
TOKEN=$OUT
[[ "$TOKEN" =~ ^wo_[A-Za-z0-9_-]{43}$ ]] && ok "the token is wo_ + 43 url-safe characters" || bad "token looks wrong: $TOKEN"
expect 0 "a second token" -- "$W" token create old
REVOKED=$OUT
expect 0 "token list" -- "$W" token list --json
contains "the list never shows a token" "$OUT" '"name": "ci"'
[[ "$OUT" != *"$TOKEN"* ]] && ok "the stored token is not in the list" || bad "token leaked in list"
expect 0 "token revoke" -- "$W" token revoke old
expect 1 "revoking it twice says so" -- "$W" token revoke old
contains "...naming it" "$ERR" "token 'old' not found"
expect 1 "a taken token name" -- "$W" token create ci
contains "...says it is taken" "$ERR" "already taken"
expect 2 "a password on the command line is refused" -- "$W" user create bob --password x
EOT

test_expect_success 'the secret is stored only as a hash' <<'EOT'
psql "$WEBOPS_DATABASE_URL" -qAtc "SELECT count(*) FROM api_tokens WHERE encode(token_hash, 'escape') LIKE '%${TOKEN:3:20}%'" >"$T/leak"
[ "$(cat "$T/leak")" = 0 ] && ok "only a hash of the token is stored" || bad "token stored in clear"

printf '%s' 'correct horse battery' | "$W" user create alice --password-stdin >/dev/null
printf '%s\n' 'another good password' | "$W" user create bob --password-stdin >/dev/null
expect 1 "a short password is refused" -- sh -c "printf short | '$W' user create dave --password-stdin"
contains "...saying how long" "$ERR" "at least 8"
[ ! -f "$T/data/setup-url" ] && ok "creating a user retires the setup link file" || bad "setup-url still there"

mkdir -p "$T/trunk" && git -C "$T/trunk" init -q -b trunk && echo t >"$T/trunk/t" && git -C "$T/trunk" add t \
  && git -C "$T/trunk" -c user.name=T -c user.email=t@example.com commit -qm t
W=$W BASE=$BASE TOKEN=$TOKEN REVOKED_TOKEN=$REVOKED REPO="file://$T/repo" TRUNK_REPO="file://$T/trunk" python3 "$(dirname "$0")/http_api.py"
[ $? -eq 0 ] && ok "API checks (http_api.py)" || bad "API checks (http_api.py) failed"

stop_daemon
grep -q "ERROR\|error http" "$T/webopsd.log" && { echo "# daemon log errors:"; grep "error" "$T/webopsd.log" | head -20; }
EOT
finish
