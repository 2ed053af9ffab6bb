#!/usr/bin/env bash
# Secrets at rest: git credentials, webhook secrets and secret addon settings
# reach PostgreSQL only sealed with the key in DATA_DIR/secret.key (a dump
# of the database holds none of them); values stored in plaintext before are
# sealed when webopsd starts; webhooks still verify; a wrong or missing key
# is a clear error and never garbage. Secret settings and the database URL
# are not taken from the command line. URLs are shown redacted.
. "$(dirname "$0")/lib.sh"
test_setup 'the deployment and what it needs' <<'EOT'
need_db
command -v pg_dump >/dev/null || skip_all "pg_dump is not installed (postgresql-client)"

DB=$(new_db)
export WEBOPS_DATABASE_URL=$DB
export WEBOPS_DATA_DIR=$T/data
unset WEBOPS_SECRET_KEY_FILE
EOT

test_expect_success 'an addon with a secret setting, whose hook publishes what it gets' <<'EOT'
mkdir -p "$T/addons/alpha"
cat >"$T/addons/alpha/addon.yaml" <<EOF
name: alpha
version: 1.0.0
library: $WEBOPS_BUILD_DIR/tests/addons/lib/alpha.so
settings_schema:
  api_token:
    type: string
    secret: true
  greeting:
    type: string
hooks:
  health: [ok_show_secret]
EOF
export WEBOPS_ADDONS_PATH=$T/addons
sql() { psql "$DB" -qAtc "$1"; }
dump() { pg_dump --data-only "$DB"; }
EOT

test_expect_success 'log_statement=all for this database, and the server'\''s log found by a marker (needs a superuser' <<'EOT'
# log_statement=all for this database, and the server's log found by a
# marker (needs a superuser; otherwise those checks are skipped)
pglog=""
if [ "$(sql "SELECT rolsuper FROM pg_roles WHERE rolname = current_user")" = t ]; then
  sql "ALTER DATABASE $(sql 'SELECT current_database()') SET log_statement = 'all'"
  marker="wo-log-marker-$$-$RANDOM"
  sql "SELECT '$marker'" >/dev/null
  for f in $(sql "SELECT f FROM (SELECT pg_current_logfile() AS f UNION ALL
      SELECT d || '/' || n FROM (SELECT current_setting('data_directory') AS d UNION ALL
        SELECT current_setting('data_directory') || '/log' UNION ALL
        SELECT regexp_replace(current_setting('data_directory'), '/[^/]*$', '')) dirs,
      LATERAL pg_ls_dir(d, true, false) n WHERE n LIKE '%.log') c WHERE f IS NOT NULL"); do
    [[ "$f" == /* ]] || f="$(sql "SELECT current_setting('data_directory')")/$f"
    if [ "$(sql "SELECT position('$marker' IN pg_read_file('$f')) > 0" 2>/dev/null)" = t ]; then pglog=$f; break; fi
  done
fi

make_repo "$T/repo"
expect 0 "create a deployment" -- "$W" deployment create blog --repo https://git.example.com/blog.git --branch main
key=$T/data/secret.key
[ -f "$key" ] && ok "the key was made on first use" || bad "no $key"
[ "$(stat -c '%a %s %u' "$key")" = "600 32 $(id -u)" ] && ok "...32 bytes, mode 0600, ours" \
  || bad "key file: $(stat -c '%a %s %u' "$key")"
EOT

test_expect_success 'nothing readable in the database' <<'EOT'
expect 0 "the webhook secret" -- "$W" deployment webhook blog --json
hook_secret=$(json_get "$OUT" 'j["secret"]')
[[ "$hook_secret" =~ ^[0-9a-f]{64}$ ]] && ok "...reads back in clear" || bad "secret: $hook_secret"
expect 0 "an environment variable" -- "$W" deployment update blog --env DB_PASSWORD=env-SENTINEL-5150
expect 0 "...reads back in clear" -- "$W" deployment show blog --json
[ "$(json_get "$OUT" "j['env_vars']['DB_PASSWORD']")" = env-SENTINEL-5150 ] && ok "...the value" || bad "env: $OUT"
[[ "$(sql "SELECT env_vars->>'DB_PASSWORD' FROM deployments WHERE name='blog'")" == v1:* ]] \
  && ok "the env_vars column holds v1:..." || bad "env_vars column: $(sql "SELECT env_vars FROM deployments WHERE name='blog'")"
expect 0 "an https token from stdin" -- sh -c "printf 'tok-SENTINEL-4711\n' | '$W' deployment credentials blog --token-stdin --user deploy"
expect 0 "a secret setting from stdin" -- sh -c "printf 'set-SENTINEL-0815\n' | '$W' addon config alpha api_token --stdin"
contains "...masked when shown" "$OUT" "api_token"
[[ "$OUT" != *SENTINEL* ]] && ok "...never printed" || bad "printed: $OUT"
d=$(dump)
for s in tok-SENTINEL-4711 set-SENTINEL-0815 env-SENTINEL-5150 "$hook_secret"; do
  [[ "$d" != *"$s"* ]] && ok "pg_dump does not hold ${s:0:12}..." || bad "pg_dump holds $s"
done
[[ "$(sql "SELECT https_token FROM deployment_credentials")" == v1:* ]] && ok "the token column holds v1:..." || bad "token column"
[[ "$(sql "SELECT webhook_secret FROM deployments WHERE name='blog'")" == v1:* ]] && ok "the webhook_secret column holds v1:..." || bad "webhook_secret column"
[[ "$(sql "SELECT settings->>'api_token' FROM addons WHERE name='alpha'")" == v1:* ]] && ok "the setting holds v1:..." || bad "setting column"
[ "$(sql "SELECT count(*) FROM secret_key")" = 1 ] && ok "the key's fingerprint is recorded" || bad "no fingerprint"
check_log() { # check_log SECRET...: none of them is in the statement log
  if [ -z "$pglog" ]; then
    ok "skipped: the statement log checks (not a superuser, or the server's log was not found)"; return
  fi
  local log s
  log=$(sql "SELECT pg_read_file('$pglog')")
  [[ "$log" == *"$marker"* ]] && ok "log_statement=all logs to $pglog" || bad "marker not in $pglog"
  for s in "$@"; do
    [[ "$log" != *"$s"* ]] && ok "the statement log does not hold ${s:0:12}..." || bad "the statement log holds $s"
  done
  [[ "$log" == *"arameters: "*"'v1:"* ]] && ok "...its parameters hold v1:... instead" || bad "no sealed parameter in the log"
}
check_log tok-SENTINEL-4711 set-SENTINEL-0815 env-SENTINEL-5150 "$hook_secret"
EOT

test_expect_success 'the hook gets the value in clear' <<'EOT'
expect 0 "the hook sees the secret setting" -- "$W" hook run health blog --json
contains "...decrypted" "$OUT" '"api_token": "set-SENTINEL-0815"'
EOT

test_expect_success 'secret settings never from argv' <<'EOT'
expect 2 "a secret setting on the command line is refused" -- "$W" addon config alpha api_token=argv-SENTINEL
contains "...saying how instead" "$ERR" "secret setting 'api_token' is read from stdin or a file: webops addon config alpha api_token --stdin"
[[ "$(dump)" != *argv-SENTINEL* ]] && ok "...and nothing was stored" || bad "the argv value was stored"
printf 'file-SENTINEL-42\n' >"$T/tok"
expect 0 "--from-file KEY=PATH" -- "$W" addon config alpha --from-file api_token="$T/tok" greeting=hi
expect 0 "...reaches the hook" -- "$W" hook run health blog --json
contains "...in clear" "$OUT" '"api_token": "file-SENTINEL-42"'
expect 2 "--stdin needs exactly one KEY" -- sh -c "echo x | '$W' addon config alpha --stdin"
expect 1 "--from-file of a missing file" -- "$W" addon config alpha --from-file api_token="$T/none"
contains "...names it" "$ERR" "cannot read setting 'api_token' of addon 'alpha'"
expect 0 "a plain setting still works on argv" -- "$W" addon config alpha greeting=hello
EOT

test_expect_success '--database-url from a file; a password on argv warned about' <<'EOT'
printf '%s\n' "$DB" >"$T/dburl"
chmod 600 "$T/dburl"
expect 0 "--database-url-file" -- env -u WEBOPS_DATABASE_URL "$W" --database-url-file "$T/dburl" deployment list
contains "...reaches the database" "$OUT" "blog"
expect 0 "--database-url with a password warns" -- env -u WEBOPS_DATABASE_URL "$W" --database-url "$DB password=notreal" deployment list
contains "...that ps shows it" "$ERR" "holds a password, which other users can read in the process list"
contains "...and what to use" "$ERR" "--database-url-file"
expect 0 "--database-url without a password does not" -- env -u WEBOPS_DATABASE_URL "$W" --database-url "$DB" deployment list
[ -z "$ERR" ] && ok "...no warning" || bad "warned: $ERR"
expect 1 "a missing --database-url-file" -- "$W" --database-url-file "$T/nothere" deployment list
contains "...is named" "$ERR" "cannot read the database URL"
expect 0 "webops --help shows the file option" -- "$W" --help
contains "...--database-url-file" "$OUT" "--database-url-file FILE"
expect 0 "webopsd --help shows it too" -- "$BIN/webopsd" --help
contains "...--database-url-file" "$OUT" "--database-url-file FILE"
EOT

test_expect_success 'plaintext from before is sealed at startup, and still works' <<'EOT'
old_secret=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
expect 0 "a second deployment" -- "$W" deployment create legacy --repo "file://$T/repo"
sql "UPDATE deployments SET webhook_secret = '$old_secret' WHERE name = 'legacy'"
sql "UPDATE deployment_credentials SET https_token = 'plain-SENTINEL-1' WHERE deployment_id = (SELECT id FROM deployments WHERE name='blog')"
sql "UPDATE addons SET settings = settings || '{\"api_token\": \"plain-SENTINEL-2\"}' WHERE name = 'alpha'"
sql "UPDATE deployments SET env_vars = '{\"OLD\": \"plain-SENTINEL-3\"}' WHERE name = 'legacy'"
expect 0 "a plaintext webhook secret reads as it is" -- "$W" deployment webhook legacy --json
[ "$(json_get "$OUT" 'j["secret"]')" = "$old_secret" ] && ok "...the same secret" || bad "legacy secret: $OUT"
start_daemon --listen 127.0.0.1:0 --workers 1 || exit 1
BASE=$(sed -n 's/.*http: listening on \(http:[^ ]*\).*/\1/p' "$T/webopsd.log" | head -1)
d=$(dump)
[[ "$d" != *plain-SENTINEL-1* && "$d" != *"$old_secret"* && "$d" != *plain-SENTINEL-3* ]] \
  && ok "webopsd sealed the plaintext credentials, webhook secret and environment" || bad "plaintext left after startup"
expect 0 "...the environment still reads in clear" -- "$W" deployment show legacy --json
[ "$(json_get "$OUT" "j['env_vars']['OLD']")" = plain-SENTINEL-3 ] && ok "...the value" || bad "legacy env: $OUT"
expect 0 "the addon registry seals the plaintext setting" -- "$W" hook run health blog --json
contains "...which still reaches the hook" "$OUT" '"api_token": "plain-SENTINEL-2"'
[[ "$(dump)" != *plain-SENTINEL-2* ]] && ok "...and is sealed now" || bad "the plaintext setting is still there"

body='{"zen":"hi","hook_id":1}'
sigof() { python3 -c 'import hmac,hashlib,sys; print(hmac.new(sys.argv[1].encode(), sys.argv[2].encode(), hashlib.sha256).hexdigest())' "$1" "$body"; }
ping() { # ping NAME SECRET: prints the HTTP status of a signed GitHub ping
  curl -s -o "$T/ping.out" -w '%{http_code}' -H 'Content-Type: application/json' -H 'X-GitHub-Event: ping' \
    -H "X-GitHub-Delivery: $RANDOM$RANDOM" -H "X-Hub-Signature-256: sha256=$(sigof "$2")" --data "$body" "$BASE/hooks/$1"
}
[ "$(ping blog "$hook_secret")" = 200 ] && ok "a delivery signed with the sealed secret verifies" || bad "blog ping: $(cat "$T/ping.out")"
[ "$(ping legacy "$old_secret")" = 200 ] && ok "...and with the one sealed at startup" || bad "legacy ping: $(cat "$T/ping.out")"
[ "$(ping blog "$old_secret")" = 401 ] && ok "a wrong signature is still refused" || bad "wrong signature accepted"
EOT

test_expect_success 'a wrong key: clear errors, nothing garbled, nothing overwritten' <<'EOT'
cp "$key" "$T/good.key"
head -c 32 /dev/urandom >"$key"
expect 1 "the webhook secret with another key" -- "$W" deployment webhook blog
contains "...says the key does not match" "$ERR" "cannot decrypt the webhook secret of 'blog': the key in '$key' does not match the one it was stored with"
[[ "$OUT" != *[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]* ]] && ok "...and prints no garbage" || bad "printed: $OUT"
expect 1 "storing a token with another key" -- sh -c "echo t | '$W' deployment credentials blog --token-stdin"
contains "...is refused: keys are not mixed" "$ERR" "does not match the one the secrets in this database were stored with"
expect 0 "a secret setting with another key" -- "$W" addon list
contains "...is ignored with a warning" "$ERR" "cannot decrypt the setting 'api_token' of addon 'alpha': the key in '$key' does not match"
expect 0 "...and hooks do not get garbage" -- "$W" hook run health blog --json
contains "...but no value" "$OUT" '"api_token": "(unset)"'
stop_daemon
start_daemon --listen 127.0.0.1:0 --workers 1 || exit 1
BASE=$(sed -n 's/.*http: listening on \(http:[^ ]*\).*/\1/p' "$T/webopsd.log" | tail -1)
contains "webopsd says at startup that the key does not match" "$(cat "$T/webopsd.log")" "does not match the one the secrets in this database were stored with"
[ "$(ping blog "$hook_secret")" = 500 ] && ok "webopsd cannot verify a delivery with another key" || bad "ping with the wrong key: $(cat "$T/ping.out")"
contains "...and says it cannot read the secret" "$(cat "$T/ping.out")" "the webhook secret cannot be read on this server"
expect 0 "...and the delivery says why" -- "$W" deployment webhooks blog
contains "...in the deliveries" "$OUT" "does not match the one it was stored with"
expect 0 "the deployment still shows with another key" -- "$W" deployment show blog --json
[[ "$(json_get "$OUT" "j['env_vars']['DB_PASSWORD']")" == v1:* ]] && ok "...its undecryptable value as it is stored" \
  || bad "env shown: $OUT"
expect 1 "a deploy with an environment it cannot decrypt fails before fetching" -- timeout 60 "$W" deploy blog --follow
contains "...saying why" "$OUT" "cannot decrypt the environment variable DB_PASSWORD of 'blog'"
EOT

test_expect_success 'a missing key is not replaced by a new one' <<'EOT'
rm -f "$key"
expect 1 "no key at all" -- "$W" deployment webhook blog
contains "...says it is missing and what to do" "$ERR" "is missing: restore it from the backup made with the database"
expect 1 "storing a token without the key" -- sh -c "echo t | '$W' deployment credentials blog --token-stdin"
contains "...says which key is needed" "$ERR" "were encrypted with a key that is not in '$key'"
[ ! -e "$key" ] && ok "...and makes no new key" || bad "a new key was made"
EOT

test_expect_success 'the key restored, or given with WEBOPS_SECRET_KEY_FILE' <<'EOT'
cp "$T/good.key" "$T/elsewhere.key"
chmod 600 "$T/elsewhere.key"
expect 0 "WEBOPS_SECRET_KEY_FILE names the key" -- env WEBOPS_SECRET_KEY_FILE="$T/elsewhere.key" "$W" deployment webhook blog --json
[ "$(json_get "$OUT" 'j["secret"]')" = "$hook_secret" ] && ok "...the secret reads again" || bad "secret with the key file: $OUT"
install -m 600 "$T/good.key" "$key"
stop_daemon
start_daemon --listen 127.0.0.1:0 --workers 1 || exit 1
BASE=$(sed -n 's/.*http: listening on \(http:[^ ]*\).*/\1/p' "$T/webopsd.log" | tail -1)
[ "$(ping blog "$hook_secret")" = 200 ] && ok "the key restored: webhooks verify again" || bad "ping after restore: $(cat "$T/ping.out")"
EOT

test_expect_success 'a URL with a password (stored before they were refused) is shown redacted' <<'EOT'
expect 0 "a deployment with a user in its URL" -- "$W" deployment create old --repo "https://olduser@127.0.0.1:9/x.git"
sql "UPDATE deployments SET repo_url = 'https://olduser:pw-SENTINEL-9@127.0.0.1:9/x.git?token=tk-SENTINEL-9' WHERE name = 'old'"
expect 0 "an API token" -- "$W" token create secrets-test
TOKEN=$OUT
get() { curl -s -H "Authorization: Bearer $TOKEN" "$BASE$1"; }
shown='https://olduser:***@127.0.0.1:9/x.git?token=***'
for path in /api/v1/deployments/old /api/v1/deployments; do
  body=$(get "$path")
  [[ "$body" != *SENTINEL-9* ]] && ok "GET $path: no password or token" || bad "GET $path leaks: $body"
  contains "...the URL redacted" "$body" "$shown"
done
printf '%s\n' 'a long enough password' | "$W" user create carol --password-stdin >/dev/null
curl -s -c "$T/cookies" -o /dev/null --data-urlencode user=carol --data-urlencode 'password=a long enough password' \
  --data-urlencode next=/ "$BASE/login"
page=$(curl -s -b "$T/cookies" "$BASE/deployments/old")
contains "the deployment page (logged in)" "$page" "olduser"
[[ "$page" != *SENTINEL-9* ]] && ok "...shows no password or token, in the record or the edit form" || bad "the page leaks the password"
contains "...the URL redacted" "$page" "https://olduser:***@127.0.0.1:9/x.git?token=***"

stop_daemon
check_log tok-SENTINEL-4711 set-SENTINEL-0815 file-SENTINEL-42 argv-SENTINEL "$hook_secret"
EOT

finish
