# Sourced by the TLS tests: Let's Encrypt's ACME test server, no network.
# need_pebble skips (77) without nginx, pebble, lego or openssl. pebble_start
# HTTP_PORT [PORT...] (the caller's ports, not bound yet: never picked here)
# makes a throwaway CA and a localhost certificate for pebble's own listener, starts pebble-challtestsrv as its DNS (every name is 127.0.0.1)
# and pebble, which validates HTTP-01 challenges on HTTP_PORT (where
# proxy-nginx listens), and fetches pebble's issuing root. It sets A (its
# folder: ca.pem is what the ACME client trusts, root.pem what HTTPS clients
# trust), PP (pebble's port: https://127.0.0.1:$PP/dir) and CM
# (challtestsrv's management port: /add-a, /clear-a). Certificates last 60 days
# and name an OCSP responder (where nothing answers).

need_pebble() {
  local p
  for p in /usr/sbin/nginx pebble pebble-challtestsrv lego openssl; do
    command -v "$p" >/dev/null ||
      skip_all "$p is not installed (apt-get install nginx-light pebble lego openssl)"
  done
}

pebble_start() {
  local http_port=$1 pm dns
  shift
  # ports the caller chose but has not bound yet (https_port...) and those
  # taken here are not picked again
  local taken=" $http_port $* "
  _free() {
    local p
    while :; do
      p=$(free_port)
      [[ "$taken" == *" $p "* ]] || break
    done
    echo "$p" # (run in a subshell: the caller adds it to taken)
  }
  A=$T/acme
  mkdir -p "$A"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$A/ca.key" -out "$A/ca.pem" -days 2 -subj "/CN=webops test CA" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout "$A/pebble.key" -out "$A/pebble.csr" -subj "/CN=localhost" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$A/ext"
  openssl x509 -req -in "$A/pebble.csr" -CA "$A/ca.pem" -CAkey "$A/ca.key" -CAcreateserial -out "$A/pebble.pem" \
    -days 2 -extfile "$A/ext" 2>/dev/null

  PP=$(_free); taken+="$PP "; pm=$(_free); taken+="$pm "; dns=$(_free); taken+="$dns "; CM=$(_free); taken+="$CM "
  local tls ocsp
  tls=$(_free); taken+="$tls "; ocsp=$(_free)
  cat >"$A/pebble.json" <<JSON
{"pebble": {"listenAddress": "127.0.0.1:$PP", "managementListenAddress": "127.0.0.1:$pm",
  "certificate": "$A/pebble.pem", "privateKey": "$A/pebble.key", "httpPort": $http_port, "tlsPort": $tls,
  "ocspResponderURL": "http://127.0.0.1:$ocsp/ocsp", "externalAccountBindingRequired": false,
  "certificateValidityPeriod": 5184000}}
JSON
  pebble-challtestsrv -dns01 "127.0.0.1:$dns" -http01 '' -https01 '' -tlsalpn01 '' -management "127.0.0.1:$CM" \
    -defaultIPv4 127.0.0.1 -defaultIPv6 '' >"$A/challtestsrv.log" 2>&1 &
  _pids+=("$!")
  PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 pebble -config "$A/pebble.json" -dnsserver "127.0.0.1:$dns" \
    >"$A/pebble.log" 2>&1 &
  _pids+=("$!")
  local _i
  for _i in $(seq 100); do curl -s --cacert "$A/ca.pem" -o /dev/null "https://127.0.0.1:$PP/dir" && break; sleep 0.1; done
  if curl -s --cacert "$A/ca.pem" -o "$A/root.pem" "https://127.0.0.1:$pm/roots/0" && grep -q "BEGIN CERTIFICATE" "$A/root.pem"; then
    ok "pebble runs; its issuing root fetched"
  else
    bad "pebble did not start: $(cat "$A/pebble.log")"
    finish
  fi
}
