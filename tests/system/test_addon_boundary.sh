#!/usr/bin/env bash
# Addons stand on the public header alone (issue 18): `cmake --install
# --prefix DIR` writes only under DIR; the bundled docker and proxy-nginx
# addons build out of the tree against that install with nothing but
# `pkg-config webops-addon` (and their libraries) and pass `webops addon
# check`; no bundled module defines or needs a core (wo_) symbol or carries
# a source- or build-tree path; no addon source includes a core header or
# reads WEBOPS_DATA_DIR.
. "$(dirname "$0")/lib.sh"
test_setup 'the deployment and what it needs' <<'EOT'
BUILD=${WEBOPS_BUILD_DIR:?}
SRC=${WEBOPS_SOURCE_DIR:?}
unset PKG_CONFIG_PATH
EOT

test_expect_success 'the install, under its prefix only' <<'EOT'
P=$T/prefix
expect 0 "cmake --install --prefix DIR" -- cmake --install "$BUILD" --prefix "$P"
outside=$(grep -v "^$P/" "$BUILD/install_manifest.txt" || true)
[ -z "$outside" ] && ok "...wrote only under DIR ($(wc -l <"$BUILD/install_manifest.txt") files)" \
  || bad "installed outside the prefix: $(head -3 <<<"$outside")"
pc=$(find "$P" -name webops-addon.pc | head -1)
[ -n "$pc" ] && ok "...with webops-addon.pc (${pc#"$P"/})" || bad "no webops-addon.pc under $P"
for a in docker proxy-nginx notify-webhook; do
  [ -e "$(dirname "$(dirname "$pc")")/webops/addons/$a/$a.so" ] && ok "...and the $a addon" || bad "$a not installed"
done
[ -e "$(dirname "$(dirname "$pc")")/webops/addons/docker/templates/dockerfiles/django.Dockerfile.mustache" ] \
  && ok "...the docker addon with its templates" || bad "docker templates not installed"
EOT

test_expect_success 'out of the tree, against the install' <<'EOT'
for a in docker proxy-nginx; do
  O=$T/oot-$a
  expect 0 "$a builds out of the tree with PKG_CONFIG_PATH=$(dirname "$pc")" -- \
    bash -c "PKG_CONFIG_PATH='$(dirname "$pc")' cmake -S '$SRC/addons/$a' -B '$O' -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null && cmake --build '$O' -j2"
  expect 0 "...and passes webops addon check" -- "$W" addon check "$O"
  contains "...as an ABI 1.2 addon" "$OUT" "addon ABI 1.2"
done
EOT

test_expect_success 'what the modules link and carry' <<'EOT'
for so in "$BUILD/addons/docker/docker.so" "$BUILD/addons/proxy-nginx/proxy-nginx.so" \
  "$BUILD/addons/notify-webhook/notify-webhook.so" "$T/oot-docker/docker.so" "$T/oot-proxy-nginx/proxy-nginx.so"; do
  [ -e "$so" ] || { bad "missing $so"; continue; }
  syms=$(nm "$so" | grep -c ' [A-Za-z] wo_' || true)
  [ "$syms" = 0 ] && ok "${so#"$T"/}: no wo_ symbol defined or needed" || bad "$so: $syms wo_ symbols: $(nm "$so" | grep ' wo_' | head -3)"
  paths=$(strings "$so" | grep -c -F -e "$SRC" -e "$BUILD" || true)
  [ "$paths" = 0 ] && ok "...no source- or build-tree path in it" || bad "$so names $(strings "$so" | grep -F -e "$SRC" -e "$BUILD" | head -2)"
done
EOT

test_expect_success 'what the sources use' <<'EOT'
inc=$(grep -rn '#include "\(util\|template\|store\|db\|addon\|http\|pipeline\)/' "$SRC/addons" --include='*.[ch]' || true)
[ -z "$inc" ] && ok "no addon source includes a core header" || bad "core headers included: $inc"
env_reads=$(grep -rn 'WEBOPS_DATA_DIR\|WEBOPS_SOURCE_DIR' "$SRC/addons" --include='*.[ch]' || true)
[ -z "$env_reads" ] && ok "no addon source reads WEBOPS_DATA_DIR or the source tree's path" || bad "found: $env_reads"
EOT

finish
