#!/usr/bin/env bash
# HTTPS through proxy-nginx with certificates from a real ACME server, no
# network: Debian's pebble (Let's Encrypt's test server) with a throwaway CA
# for its own listener, pebble-challtestsrv as its DNS (every name is
# 127.0.0.1), lego as the client. The release is a small HTTP server and the
# fakeup test addon publishes it as the upstream (as docker would); hooks run
# with `webops hook run`. Checks: a domain deployment gets a certificate
# issued by pebble's root and answers HTTPS with its content, HTTP answers
# 308 to HTTPS, a redeploy and a forced renewal under a request loop lose no
# request, a domain pebble cannot validate stays on HTTP saying why, tls=off
# asks for nothing. Skipped (77) without pebble, lego or nginx.
# ctest-resources: nginx-load
. "$(dirname "$0")/lib.sh"
test_setup 'the deployment and what it needs' <<'EOT'
. "$(dirname "$0")/pebble.sh"
need_db
need_pebble
export WEBOPS_DATABASE_URL=$(new_db)
export WEBOPS_DATA_DIR=$T/data
BUILD=${WEBOPS_BUILD_DIR:?}
SRC=${WEBOPS_SOURCE_DIR:?}
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY
for v in $(env | grep -o '^WEBOPS_PROXY_NGINX_[A-Z_]*'); do unset "$v"; done
AD=$(addons_dir fakeup)
ln -sfn "$BUILD/addons/proxy-nginx" "$AD/proxy-nginx"
export WEBOPS_ADDONS_PATH=$AD
PX=$T/data/addons/proxy-nginx
UP=$T/up
mkdir -p "$UP"

px_cleanup() {
  local p
  p=$(cat "$PX/nginx.pid" 2>/dev/null) && [ -n "$p" ] &&
    tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q "^nginx: master" && kill -TERM "$p"
}
at_exit 'px_cleanup'

same() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: got '$2', wanted '$3'"; fi; }
hook() { expect "$1" "$2" -- "$W" hook run "${@:3}"; }
backend() {
  local f=$T/backend.$RANDOM$RANDOM.port
  python3 "$SRC/tests/system/proxy_backend.py" "$1" "$f" 2>>"$T/backend.err" &
  _pids+=("$!")
  for _ in $(seq 1200); do [ -s "$f" ] && break; sleep 0.05; done
  BPORT=$(cat "$f" 2>/dev/null)
  [ -n "$BPORT" ] || { echo "backend $1 did not start: $(cat "$T/backend.err")"; exit 1; }
}
upstream() { echo "127.0.0.1:$2" >"$UP/$1.upstream"; }
EOT

test_setup 'pebble, its DNS, a throwaway CA for its own listener' <<'EOT'
HP=$(free_port) HS=$(free_port) CH=$(free_port)
pebble_start "$HP" "$HS" "$CH"
EOT

test_setup 'proxy-nginx pointed at pebble' <<'EOT'
expect 0 "configure proxy-nginx: http_port $HP (pebble's httpPort), https_port $HS, ACME from pebble" -- \
  "$W" addon config proxy-nginx upstream_addon=fakeup listen_address=127.0.0.1 http_port="$HP" https_port="$HS" \
  acme_directory="https://127.0.0.1:$PP/dir" acme_email=admin@example.com acme_ca_bundle="$A/ca.pem" \
  acme_challenge_port="$CH"
expect 0 "fakeup reads $UP" -- "$W" addon config fakeup dir="$UP"
expect 1 "an acme_directory that is not https is refused" -- "$W" addon config proxy-nginx acme_directory=http://x/dir
expect 0 "create site --domain site.webops.test" -- \
  "$W" deployment create --name site --repo https://example.com/s.git --domain site.webops.test
same "tls defaults to auto" "$(json_get "$("$W" deployment show site --json)" "j['addon_fields']['proxy-nginx']['tls']")" "auto"

https() { curl -s --max-time 5 --cacert "$A/root.pem" --resolve "site.webops.test:$HS:127.0.0.1" "$@"; }
serial() {
  openssl s_client -connect "127.0.0.1:$HS" -servername site.webops.test </dev/null 2>/dev/null |
    openssl x509 -noout -serial 2>/dev/null
}
EOT

test_expect_success 'the first deploy gets a certificate' <<'EOT'
backend v1; B1=$BPORT
backend v2; B2=$BPORT
upstream site "$B1"
t0=$(date +%s%N)
hook 0 "post_deploy site" post_deploy site
got_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
contains "it asks pebble for a certificate" "$OUT" "asking for a certificate for site.webops.test from https://127.0.0.1:$PP/dir"
contains "and gets one (the deploy took $got_ms ms)" "$OUT" "got a certificate for site.webops.test in"
contains "nginx serves it over HTTPS" "$OUT" "nginx now serves https://site.webops.test:$HS/"
same "HTTPS answers with the site, the certificate issued by pebble's root" "$(https "https://site.webops.test:$HS/")" "v1"
same "HTTP answers 308" "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: site.webops.test' "http://127.0.0.1:$HP/x?y=1")" "308"
same "... to the same path over HTTPS" \
  "$(curl -s -o /dev/null -w '%{redirect_url}' -H 'Host: site.webops.test' "http://127.0.0.1:$HP/x?y=1")" \
  "https://site.webops.test:$HS/x?y=1"
same "the release is told the request came over https" "$(json_get "$(https "https://site.webops.test:$HS/headers")" "j.get('x-forwarded-proto')")" "https"
contains "HTTP/2 is offered" "$(https -s -o /dev/null -w '%{http_version}' --http2 "https://site.webops.test:$HS/")" "2"
contains "TLS 1.1 is refused" "$(https -s -o /dev/null -w '%{http_code}' --tls-max 1.1 "https://site.webops.test:$HS/" || true)" "000"
contains "the site file has the TLS server" "$(cat "$PX/sites/site.conf")" "listen 127.0.0.1:$HS ssl http2;"
same "the outcome is kept" "$(cat "$PX/acme/status/site.webops.test")" "ok"
if grep -Eq '^ *nameserver +[0-9.]+ *$' /etc/resolv.conf; then
  contains "OCSP stapling is on (the certificate names a responder)" "$(cat "$PX/sites/site.conf")" "ssl_stapling on;"
  contains "... verified against the issuer lego saved" "$(cat "$PX/sites/site.conf")" \
    "ssl_trusted_certificate $PX/acme/certificates/site.webops.test.issuer.crt;"
else
  echo "  (no IPv4 name server in /etc/resolv.conf: OCSP stapling is left off, not checked)"
fi
EOT

test_expect_success 'a redeploy, then a forced renewal, under a request loop over HTTPS' <<'EOT'
# ---- a redeploy, then a forced renewal, under a request loop over HTTPS ----
# (HTTP/1.1: an HTTP/2 connection that lands on a worker retiring at a reload
# gets a GOAWAY, which browsers retry and curl reports as an error; the same
# as a kept-alive connection closed by a switch, see proxy-nginx's README)
loop() { # runs until $T/stop exists; counts answers that are not a release's
  local n=0 badn=0 b
  while [ ! -e "$T/stop" ]; do
    b=$(https -S --http1.1 "https://site.webops.test:$HS/" 2>"$T/loop.err")
    n=$((n + 1))
    [ "$b" = v1 ] || [ "$b" = v2 ] || { badn=$((badn + 1)); echo "$(date +%T.%N) '$b' $(cat "$T/loop.err")" >>"$T/loop.bad"; }
  done
  echo "$n $badn" >"$T/loop.out"
}
rm -f "$T/stop"; loop & LOOP=$!
sleep 1
upstream site "$B2"
hook 0 "redeploy (v2) under the loop" post_deploy site
contains "the certificate is not due" "$OUT" "is not due for renewal"
sleep 1
old_serial=$(serial)
expect 0 "make renewal due (acme_renew_days=89; pebble's certificates last 60 days)" -- \
  "$W" addon config proxy-nginx acme_renew_days=89
hook 0 "redeploy: the certificate is renewed" post_deploy site
contains "renewed" "$OUT" "got a certificate for site.webops.test in"
sleep 1
touch "$T/stop"; wait "$LOOP"
read -r loop_n loop_bad <"$T/loop.out"
same "no request failed during the redeploy and the renewal ($loop_n requests over HTTPS)" "$loop_bad" "0"
[ "$loop_bad" = 0 ] || echo "  failed: $(cat "$T/loop.bad")"
[ "$loop_n" -gt 10 ] && ok "the loop ran ($loop_n requests)" || bad "the loop made only $loop_n requests"
new_serial=$(serial)
[ -n "$new_serial" ] && [ "$new_serial" != "$old_serial" ] && ok "a new certificate is served ($old_serial -> $new_serial)" ||
  bad "serial before '$old_serial', after '$new_serial'"
same "HTTPS answers v2" "$(https "https://site.webops.test:$HS/")" "v2"
expect 0 "renewal back to 30 days" -- "$W" addon config proxy-nginx acme_renew_days=30
EOT

test_expect_success 'a domain pebble cannot validate stays on HTTP, saying why' <<'EOT'
# ---- a domain pebble cannot validate stays on HTTP, saying why ----
# its name resolves to 127.0.0.2, where nothing listens
curl -s -o /dev/null -d '{"host":"fail.webops.test","addresses":["127.0.0.2"]}' "http://127.0.0.1:$CM/add-a"
expect 0 "create fail --domain fail.webops.test" -- \
  "$W" deployment create --name fail --repo https://example.com/f.git --domain fail.webops.test
upstream fail "$B1"
hook 0 "post_deploy fail: the deploy stands" post_deploy fail
contains "says the ACME server's problem" "$OUT" "no certificate for fail.webops.test: "
contains "... a connection problem" "$OUT" "urn:ietf:params:acme:error:connection"
contains "... and that the site stays on HTTP" "$OUT" "the site stays on HTTP"
same "HTTP serves it" "$(curl -s -H 'Host: fail.webops.test' "http://127.0.0.1:$HP/")" "v1"
contains "the error is kept" "$(cat "$PX/acme/status/fail.webops.test")" "error: "
same "site still answers HTTPS" "$(https "https://site.webops.test:$HS/")" "v2"
EOT

test_expect_success 'what is known of them: webops tls list, /metrics, the deployment page' <<'EOT'
expect 0 "tls list" -- "$W" tls list
contains "a line for site.webops.test with pebble as its issuer" "$OUT" "site.webops.test"
contains "... the issuer" "$OUT" "Pebble Intermediate CA"
contains "fail.webops.test is listed with its error" "$OUT" "(none: served over HTTP)"
expect 0 "tls list --json" -- "$W" tls list --json
days=$(json_get "$OUT" "[c['days_left'] for c in j if c['domain'] == 'site.webops.test'][0]")
[ "$days" -ge 58 ] && [ "$days" -le 60 ] && ok "site.webops.test: $days days left (pebble: 60-day certificates)" || bad "days_left: $days ($OUT)"
same "... and its expiry" "$(json_get "$OUT" "[c['not_after'][:2] for c in j if c['domain'] == 'site.webops.test'][0]")" "20"
contains "fail.webops.test's last error is the ACME problem" \
  "$(json_get "$OUT" "[c['last_error'] for c in j if c['domain'] == 'fail.webops.test'][0]")" "acme: error"
same "tls list rejects an unknown option" "$("$W" tls list --nope >/dev/null 2>&1; echo $?)" "2"
expect 0 "addon status proxy-nginx" -- "$W" addon status proxy-nginx
contains "... counts the certificates rather than dumping them" "$OUT" "item(s) (--json shows them; so does webops tls list)"
start_daemon --listen 127.0.0.1:0 || exit 1
BASE=$(sed -n 's/.*http: listening on \(http:[^ ]*\).*/\1/p' "$T/webopsd.log" | head -1)
TOKEN=$("$W" token create tls)
M=$(curl -s -H "Authorization: Bearer $TOKEN" "$BASE/metrics")
contains "/metrics has the certificate's expiry" "$M" 'webops_tls_certificate_expiry_seconds{domain="site.webops.test"} '
lacks() { if [[ "$2" == *"$3"* ]]; then bad "$1: '$3' in: $2"; else ok "$1"; fi; }
lacks "... and no line for a domain without one" "$M" 'webops_tls_certificate_expiry_seconds{domain="fail.webops.test"}'
printf %s password123 | "$W" user create tlsadmin --password-stdin --role admin >/dev/null 2>&1 ||
  printf %s password123 | "$W" user create tlsadmin --password-stdin >/dev/null 2>&1
curl -s -o /dev/null -D "$T/login.hdr" --data-urlencode user=tlsadmin --data-urlencode password=password123 "$BASE/login"
sid=$(sed -n 's/^[Ss]et-[Cc]ookie: *webops_session=\([^;]*\).*/\1/p' "$T/login.hdr" | tr -d '\r' | head -1)
P=$(curl -s -H "Cookie: webops_session=$sid" "$BASE/deployments/site")
contains "the deployment page has the HTTPS line" "$P" "certificate from Pebble Intermediate CA"
P=$(curl -s -H "Cookie: webops_session=$sid" "$BASE/deployments/fail")
contains "... and says why a domain has none" "$P" "no certificate: served over HTTP only"
stop_daemon
EOT

test_expect_success 'webopsd'\''s periodic check renews what is due and retries what failed' <<'EOT'
# ---- webopsd's periodic check renews what is due and retries what failed ----
# (every 5 s here instead of daily, webopsd stopped once it did; fail.webops.test
# now resolves, and its failed attempt is made 7 hours old instead of waiting
# acme_retry_minutes, 6 hours)
curl -s -o /dev/null -d '{"host":"fail.webops.test"}' "http://127.0.0.1:$CM/clear-a"
touch -d '-7 hours' "$PX/acme/status/fail.webops.test"
expect 0 "make site's renewal due" -- "$W" addon config proxy-nginx acme_renew_days=89
# (the previous webopsd stopped nginx with it: this one starts it again)
WEBOPS_RENEW_EVERY_S=5 start_daemon --listen 127.0.0.1:0 || exit 1
old_serial=$(serial)
rm -f "$T/stop"; loop & LOOP=$!
for _ in $(seq 600); do
  [ "$(serial)" != "$old_serial" ] && curl -s -o /dev/null --max-time 2 --cacert "$A/root.pem" \
    --resolve "fail.webops.test:$HS:127.0.0.1" "https://fail.webops.test:$HS/" && break
  sleep 0.1
done
touch "$T/stop"; wait "$LOOP"
read -r loop_n loop_bad <"$T/loop.out"
new_serial=$(serial)
[ -n "$new_serial" ] && [ "$new_serial" != "$old_serial" ] && ok "the periodic check renewed site's certificate" ||
  bad "serial before '$old_serial', after '$new_serial': $(grep renew "$T/webopsd.log" | tail -3)"
same "no request failed meanwhile ($loop_n requests over HTTPS)" "$loop_bad" "0"
[ "$loop_bad" = 0 ] || echo "  failed: $(cat "$T/loop.bad")"
same "fail.webops.test got its certificate on the retry" \
  "$(curl -s --max-time 5 --cacert "$A/root.pem" --resolve "fail.webops.test:$HS:127.0.0.1" "https://fail.webops.test:$HS/")" "v1"
contains "webopsd logs what the check did" "$(cat "$T/webopsd.log")" "renew: proxy-nginx: 2 certificate(s) checked: 2 renewed"
stop_daemon
expect 0 "renewal back to 30 days" -- "$W" addon config proxy-nginx acme_renew_days=30
EOT

test_expect_success 'a certificate close to its end that cannot be renewed is notified' <<'EOT'
# ---- a certificate close to its end that cannot be renewed is notified ----
# old.webops.test has a certificate of 5 days (made here with openssl, as if
# an earlier CA had issued it) and resolves to 127.0.0.2, so no renewal works
curl -s -o /dev/null -d '{"host":"old.webops.test","addresses":["127.0.0.2"]}' "http://127.0.0.1:$CM/add-a"
expect 0 "create old --domain old.webops.test" -- \
  "$W" deployment create --name old --repo https://example.com/o.git --domain old.webops.test
openssl req -x509 -newkey rsa:2048 -nodes -days 5 -subj "/CN=old.webops.test" \
  -addext "subjectAltName=DNS:old.webops.test" -keyout "$PX/acme/certificates/old.webops.test.key" \
  -out "$PX/acme/certificates/old.webops.test.crt" 2>/dev/null
upstream old "$B1"
hook 0 "post_deploy old: the renewal fails, the deploy stands" post_deploy old
contains "the current certificate is kept" "$OUT" "no certificate for old.webops.test"
contains "... saying so" "$OUT" "the current one is kept"
q() { psql -qAtX "$WEBOPS_DATABASE_URL" -c "$1"; }
WEBOPS_RENEW_EVERY_S=5 start_daemon --listen 127.0.0.1:0 || exit 1
for _ in $(seq 300); do
  [ "$(q "SELECT count(*) FROM notifications WHERE event = 'tls.expiring' AND deployment = 'old'")" -ge 1 ] && break
  sleep 0.1
done
same "the daily check queued one tls.expiring notification for old" \
  "$(q "SELECT count(*) FROM notifications WHERE event = 'tls.expiring' AND deployment = 'old'")" "1"
contains "... naming the domain, the days left and the error" \
  "$(q "SELECT document->>'summary' FROM notifications WHERE event = 'tls.expiring' AND deployment = 'old'")" \
  "old: the certificate of old.webops.test expires in 4 day(s) and cannot be renewed: "
sleep 6
same "... once, not at every check" \
  "$(q "SELECT count(*) FROM notifications WHERE event = 'tls.expiring' AND deployment = 'old'")" "1"
same "no notification for certificates far from their end" \
  "$(q "SELECT count(*) FROM notifications WHERE event = 'tls.expiring' AND deployment <> 'old'")" "0"
stop_daemon
EOT

test_expect_success 'a certificate of one'\''s own (tls custom)' <<'EOT'
# ---- a certificate of one's own (tls custom) ----
# a private CA of this test; own.webops.test's certificate, one for another
# name, a key of another certificate, an encrypted key
C=$T/own; mkdir -p "$C"
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=Own Test Root" -keyout "$C/ca.key" -out "$C/ca.pem" 2>/dev/null
mkcert() { # NAME DOMAIN
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$2" -keyout "$C/$1.key" -out "$C/$1.csr" 2>/dev/null
  printf 'subjectAltName=DNS:%s\n' "$2" >"$C/$1.ext"
  openssl x509 -req -in "$C/$1.csr" -CA "$C/ca.pem" -CAkey "$C/ca.key" -CAcreateserial -days 20 \
    -extfile "$C/$1.ext" -out "$C/$1.crt" 2>/dev/null
}
mkcert own own.webops.test
mkcert other other.example.org
cat "$C/own.crt" "$C/ca.pem" >"$C/own-chain.crt"
openssl pkey -in "$C/own.key" -aes256 -passout pass:secret -out "$C/own-enc.key" 2>/dev/null
expect 0 "create own --domain own.webops.test" -- \
  "$W" deployment create --name own --repo https://example.com/own.git --domain own.webops.test
expect 1 "a certificate for another name is refused" -- "$W" deployment tls own --cert "$C/other.crt" --key "$C/other.key"
contains "... naming the field and the domain" "$ERR" "tls_pem: the certificate is not for own.webops.test"
expect 1 "a key of another certificate is refused" -- "$W" deployment tls own --cert "$C/own.crt" --key "$C/other.key"
contains "... saying so" "$ERR" "the private key does not belong to the certificate"
expect 1 "an encrypted key is refused" -- "$W" deployment tls own --cert "$C/own.crt" --key "$C/own-enc.key"
contains "... saying how to decrypt it" "$ERR" "the private key is encrypted"
expect 1 "a file that is not PEM is refused" -- "$W" deployment tls own --cert /etc/hostname --key "$C/own.key"
contains "... naming it" "$ERR" "is not PEM text"
expect 2 "--cert without --key is a usage error" -- "$W" deployment tls own --cert "$C/own.crt"
same "nothing was stored by the refusals" "$(json_get "$("$W" deployment show own --json)" "j['addon_fields']['proxy-nginx']['tls']")" "auto"
expect 0 "the certificate with its chain and its key are accepted" -- \
  "$W" deployment tls own --cert "$C/own-chain.crt" --key "$C/own.key"
contains "... served from the next deploy" "$OUT" "'own' is served with this certificate from its next deploy"
same "tls is custom" "$(json_get "$("$W" deployment show own --json)" "j['addon_fields']['proxy-nginx']['tls']")" "custom"
same "the key is shown masked" "$(json_get "$("$W" deployment show own --json)" "j['addon_fields']['proxy-nginx']['tls_pem']")" "********"
stored=$(psql -qAtX "$WEBOPS_DATABASE_URL" -c "SELECT addon_fields->'proxy-nginx'->>'tls_pem' FROM deployments WHERE name = 'own'")
contains "it is stored sealed" "$stored" "v1:"
lacks "... with no PEM in the clear" "$stored" "PRIVATE KEY"
expect 0 "an unrelated update keeps it" -- "$W" deployment update own --set hsts=true
same "... sealed as it was" "$(psql -qAtX "$WEBOPS_DATABASE_URL" -c "SELECT addon_fields->'proxy-nginx'->>'tls_pem' FROM deployments WHERE name = 'own'")" "$stored"
upstream own "$B1"
hook 0 "post_deploy own" post_deploy own
contains "the custom certificate is put in place" "$OUT" "the custom certificate of own.webops.test (issued by Own Test Root"
lacks "... and ACME is not asked" "$OUT" "asking for a certificate for own.webops.test"
same "HTTPS answers with the site, verified against the private CA" \
  "$(curl -s --max-time 5 --cacert "$C/ca.pem" --resolve "own.webops.test:$HS:127.0.0.1" "https://own.webops.test:$HS/")" "v1"
same "the key file is readable by its owner only" "$(stat -c %a "$PX/custom/own.webops.test.key")" "600"
same "HTTP answers 308 there too" "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: own.webops.test' "http://127.0.0.1:$HP/")" "308"
tl=$("$W" tls list --json)
same "tls list shows it as custom, with its issuer" \
  "$(json_get "$tl" "[(c['source'], c['issuer'], c['days_left'] >= 19) for c in j if c['domain'] == 'own.webops.test']")" \
  "[('custom', 'Own Test Root', True)]"
hook 0 "post_deploy own again" post_deploy own
lacks "the same certificate changes nothing" "$OUT" "is in place"
expect 0 "back to ACME: deployment tls own --auto" -- "$W" deployment tls own --auto
hook 0 "post_deploy own" post_deploy own
contains "ACME is asked" "$OUT" "got a certificate for own.webops.test"
[ ! -e "$PX/custom/own.webops.test.key" ] && ok "the custom files are removed" || bad "the custom key is still there"
same "HTTPS now has pebble's certificate" \
  "$(curl -s --max-time 5 --cacert "$A/root.pem" --resolve "own.webops.test:$HS:127.0.0.1" "https://own.webops.test:$HS/")" "v1"
EOT

test_expect_success 'a port and a domain: HTTPS for the domain, plain HTTP on the port' <<'EOT'
BP=$(free_port)
expect 0 "create both --port $BP --domain both.webops.test" -- \
  "$W" deployment create --name both --repo https://example.com/b.git --port "$BP" --domain both.webops.test
upstream both "$B1"
hook 0 "post_deploy both" post_deploy both
contains "it gets a certificate for its domain" "$OUT" "got a certificate for both.webops.test"
same "HTTPS answers for the domain" \
  "$(curl -s --max-time 5 --cacert "$A/root.pem" --resolve "both.webops.test:$HS:127.0.0.1" "https://both.webops.test:$HS/")" "v1"
same "its port still answers over plain HTTP" "$(curl -s --max-time 5 "http://127.0.0.1:$BP/")" "v1"
same "the domain on http_port answers 308 to HTTPS" \
  "$(curl -s -o /dev/null -w '%{redirect_url}' -H 'Host: both.webops.test' "http://127.0.0.1:$HP/a")" "https://both.webops.test:$HS/a"
EOT

test_expect_success 'webopsd itself behind the same proxy (ui_domain)' <<'EOT'
expect 1 "a ui_domain that is not a host name is refused" -- "$W" addon config proxy-nginx 'ui_domain=a b;'
expect 0 "ui_domain=ui.webops.test" -- "$W" addon config proxy-nginx ui_domain=ui.webops.test
: >"$T/webopsd.log"
start_daemon --listen 127.0.0.1:0 || exit 1
BASE=$(sed -n 's/.*http: listening on \(http:[^ ]*\).*/\1/p' "$T/webopsd.log" | head -1)
L=$(cat "$T/webopsd.log")
contains "webopsd's site is published when it starts" "$L" "nginx sends ui.webops.test on port $HP to webopsd at ${BASE#http://}"
contains "... with a certificate from ACME" "$L" "got a certificate for ui.webops.test"
ui() { curl -s --max-time 5 --cacert "$A/root.pem" --resolve "ui.webops.test:$HS:127.0.0.1" "$@"; }
same "the login page answers over HTTPS (pebble's certificate)" "$(ui -o /dev/null -w '%{http_code}' "https://ui.webops.test:$HS/login")" "200"
same "HTTP answers 308 to it" "$(curl -s -o /dev/null -w '%{redirect_url}' -H 'Host: ui.webops.test' "http://127.0.0.1:$HP/login")" \
  "https://ui.webops.test:$HS/login"
ui -o /dev/null -D "$T/ui-login.hdr" -H "Origin: https://ui.webops.test:$HS" -H 'X-Real-IP: 203.0.113.9' --data-urlencode user=tlsadmin \
  --data-urlencode password=password123 "https://ui.webops.test:$HS/login"
contains "a login through it gets a Secure session cookie" "$(grep -i '^set-cookie: webops_session=' "$T/ui-login.hdr")" "; Secure"
usid=$(sed -n 's/^[Ss]et-[Cc]ookie: *webops_session=\([^;]*\).*/\1/p' "$T/ui-login.hdr" | tr -d '\r' | head -1)
same "... which works there" "$(ui -o /dev/null -w '%{http_code}' -H "Cookie: webops_session=$usid" "https://ui.webops.test:$HS/deployments/site")" "200"
curl -s -o /dev/null -D "$T/direct.hdr" -H 'X-Forwarded-Proto: https' -H 'X-Webops-Proxy: 00ff' -H 'X-Real-IP: 203.0.113.9' \
  --data-urlencode user=tlsadmin --data-urlencode password=password123 "$BASE/login"
lacks "straight to webopsd, forged X-Forwarded-Proto: no Secure cookie" "$(grep -i '^set-cookie: webops_session=' "$T/direct.hdr")" "Secure"
contains "... (but a session all the same)" "$(cat "$T/direct.hdr")" "webops_session="
same "a client's own X-Real-IP is believed neither through the proxy nor straight" \
  "$(psql -qAtX "$WEBOPS_DATABASE_URL" -c "SELECT count(*) FROM sessions WHERE address = '203.0.113.9'")" "0"
same "the site file is nginx's own to read" "$(stat -c %a "$PX/sites/_webopsd.conf")" "600"
stop_daemon
expect 0 "--unset ui_domain" -- "$W" addon config proxy-nginx --unset ui_domain
start_daemon --listen 127.0.0.1:0 || exit 1
contains "webopsd's site is removed at the next start" "$(cat "$T/webopsd.log")" "webopsd's own site is removed"
same "... and the domain answers no more" "$(ui -o /dev/null -w '%{http_code}' "https://ui.webops.test:$HS/login" || true)" "000"
stop_daemon
EOT

test_expect_success 'tls=off asks for nothing' <<'EOT'
expect 0 "create plain --domain plain.webops.test, tls=off" -- \
  "$W" deployment create --name plain --repo https://example.com/p.git --domain plain.webops.test --set tls=off
upstream plain "$B1"
hook 0 "post_deploy plain" post_deploy plain
lacks "no certificate asked for" "$OUT" "certificate"
same "HTTP serves it, no redirect" "$(curl -s -H 'Host: plain.webops.test' "http://127.0.0.1:$HP/")" "v1"
expect 1 "tls accepts auto or off" -- "$W" deployment update plain --set tls=maybe
EOT

finish
