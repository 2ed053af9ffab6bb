#!/usr/bin/env bash
# HTTPS end to end, as a user gets it: webopsd with the docker and
# proxy-nginx addons, proxy-nginx's HTTP port set to pebble's httpPort, and a
# static site created with the domain site.webops.test and deployed with
# `webops deploy`. Checks: HTTPS answers with the site and a certificate
# issued by pebble's root, HTTP answers 308 to HTTPS, `webops tls list --json`
# shows the domain and its expiry, and a redeploy under a loop of HTTPS
# requests loses none. Skipped (77) without Docker, its stand-in images,
# pebble, lego or nginx.
# ctest-resources: docker nginx-load
. "$(dirname "$0")/lib.sh"
test_setup 'the deployment and what it needs' <<'EOT'
. "$(dirname "$0")/pebble.sh"
need_db
need_docker
need_images
need_pebble

export WEBOPS_DATABASE_URL=$(new_db)
export WEBOPS_DATA_DIR=$T/data
export WEBOPS_ADDONS_PATH=${WEBOPS_BUILD_DIR:?}/addons
export WEBOPS_DOCKER_STATIC_BASE_IMAGE=$nginximg
export WEBOPS_DOCKER_DRAIN_S=2
export WEBOPS_DOCKER_START_TIMEOUT_S=20
export WEBOPS_SHUTDOWN_GRACE=2
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY
for v in $(env | grep -o '^WEBOPS_PROXY_NGINX_[A-Z_]*'); do unset "$v"; done
same() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: got '$2', wanted '$3'"; fi; }
site="tls$$"
at_exit 'touch "$T/stop"; remove_deployment_docker "$site"; stop_private_nginx'

HP=$(free_port) HS=$(free_port) CH=$(free_port)
pebble_start "$HP" "$HS" "$CH"
expect 0 "proxy-nginx: HTTP on pebble's httpPort $HP, HTTPS on $HS, ACME from pebble" -- \
  "$W" addon config proxy-nginx listen_address=127.0.0.1 http_port="$HP" https_port="$HS" \
  acme_directory="https://127.0.0.1:$PP/dir" acme_email=admin@example.com acme_ca_bundle="$A/ca.pem" \
  acme_challenge_port="$CH"
start_daemon --workers 1 || exit 1

make_repo "$T/site"
expect 0 "create a static site with domain site.webops.test" -- \
  "$W" deployment create "$site" --repo "$T/site" --domain site.webops.test --set use_docker=true
t0=$(date +%s%N)
expect 0 "webops deploy" -- "$W" deploy "$site" --follow
contains "the run log says the certificate came" "$OUT" "got a certificate for site.webops.test"
https() { curl -s --max-time 5 --cacert "$A/root.pem" --resolve "site.webops.test:$HS:127.0.0.1" "$@"; }
body=
for _ in $(seq 600); do body=$(https "https://site.webops.test:$HS/") && [ "$body" = "<h1>v1</h1>" ] && break; sleep 0.1; done
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
same "HTTPS answers with the site, its certificate issued by pebble's root ($ms ms after the deploy began)" "$body" "<h1>v1</h1>"
same "HTTP answers 308" "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: site.webops.test' "http://127.0.0.1:$HP/")" "308"
same "... to HTTPS" "$(curl -s -o /dev/null -w '%{redirect_url}' -H 'Host: site.webops.test' "http://127.0.0.1:$HP/")" \
  "https://site.webops.test:$HS/"
expect 0 "tls list --json" -- "$W" tls list --json
same "it shows the domain with its expiry" \
  "$(json_get "$OUT" "[bool(c['not_after']) and c['days_left'] >= 58 for c in j if c['domain'] == 'site.webops.test']")" "[True]"
EOT

test_expect_success 'a redeploy under a loop of HTTPS requests (HTTP/1.1: an HTTP/2 connection that lands on a worker retiring at a...' <<'EOT'
# a redeploy under a loop of HTTPS requests
# (HTTP/1.1: an HTTP/2 connection that lands on a worker retiring at a reload
# gets a GOAWAY, which browsers retry and curl reports as an error; the same
# as a kept-alive connection closed by a switch, see proxy-nginx's README)
loop() {
  local n=0 badn=0 b
  while [ ! -e "$T/stop" ]; do
    b=$(https -S --http1.1 "https://site.webops.test:$HS/" 2>"$T/loop.err")
    n=$((n + 1))
    [ "$b" = "<h1>v1</h1>" ] || [ "$b" = "<h1>v2</h1>" ] ||
      { badn=$((badn + 1)); echo "'$b' $(cat "$T/loop.err")" >>"$T/loop.bad"; }
  done
  echo "$n $badn" >"$T/loop.out"
}
rm -f "$T/stop"; loop & LOOP=$!
sleep 1
commit_repo "$T/site" v2
expect 0 "redeploy v2 under the loop" -- "$W" deploy "$site" --follow
sleep 1
touch "$T/stop"; wait "$LOOP"
read -r loop_n loop_bad <"$T/loop.out"
same "no HTTPS request failed during the redeploy ($loop_n requests)" "$loop_bad" "0"
[ "$loop_bad" = 0 ] || echo "  failed: $(head -5 "$T/loop.bad")"
same "HTTPS answers v2" "$(https "https://site.webops.test:$HS/")" "<h1>v2</h1>"
EOT

finish
