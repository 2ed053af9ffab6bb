#!/usr/bin/env bash
# Bad input that used to slip through (issue 13): a password in repo_url
# (refused, and never echoed), an ssh user that reads as an option, env values
# that are not UTF-8 (were silently dropped); and an addon scaffolded against
# a `cmake --install --prefix DIR` install (its webops-addon.pc said
# prefix=/usr/local).
. "$(dirname "$0")/lib.sh"
test_setup 'the deployment and what it needs' <<'EOT'
need_db
export WEBOPS_DATABASE_URL=$(new_db)
export WEBOPS_DATA_DIR=$T/data

expect 1 "a password in an https URL is refused" -- "$W" deployment create pw --repo 'https://ann:hunter2@example.com/x.git'
contains "...saying where a secret goes" "$ERR" "webops deployment credentials"
[[ "$ERR" != *hunter2* ]] && ok "...without echoing the password" || bad "the password was echoed: $ERR"
expect 1 "...also in ssh:// URLs" -- "$W" deployment create pw --repo 'ssh://git:pw@example.com/x.git'
expect 0 "a user name alone is fine" -- "$W" deployment create pw --repo 'https://ann@example.com/x.git'
expect 0 "a port is not a password" -- "$W" deployment create pw2 --repo 'ssh://git@example.com:2222/x.git'
expect 1 "an ssh user that reads as an option is refused" -- "$W" deployment create px \
  --repo 'ssh://-oProxyCommand=calc@example.com/x'
contains "...naming the rule" "$ERR" "must not start with '-'"
expect 1 "...with an update too" -- "$W" deployment update pw --repo 'https://a:b@example.com/x.git'
expect 0 "show" -- "$W" deployment show pw --json
contains "...the stored URL is unchanged" "$OUT" '"repo_url": "https://ann@example.com/x.git"'

bad_utf8=$(printf 'caf\xe9')
expect 1 "an env value that is not UTF-8 is refused at create" -- "$W" deployment create u8 --repo /srv/x --env "GREETING=$bad_utf8"
contains "...naming the variable" "$ERR" "env 'GREETING'"
expect 1 "...and nothing is stored" -- "$W" deployment show u8
expect 1 "...refused at update" -- "$W" deployment update pw --env "GREETING=$bad_utf8"
contains "...naming the variable" "$ERR" "env 'GREETING'"
expect 0 "valid UTF-8 is kept as it is" -- "$W" deployment update pw --env "GREETING=café ☕"
expect 0 "show" -- "$W" deployment show pw --json
[ "$(json_get "$OUT" 'j["env_vars"]["GREETING"]')" = "café ☕" ] && ok "...stored" || bad "stored: $OUT"
EOT

test_expect_success 'an addon built against an install made with --prefix' <<'EOT'
inst=$T/inst
if cmake --install "$WEBOPS_BUILD_DIR" --prefix "$inst" >"$T/install.log" 2>&1; then
  ok "cmake --install --prefix DIR"
  pc=$(find "$inst" -name webops-addon.pc | head -1)
  grep -q '^prefix=${pcfiledir}' "$pc" && ok "the installed .pc is relative to itself" || bad "pc: $(head -3 "$pc")"
  expect 0 "webops addon new" -- "$W" addon new hello --dir "$T/hello"
  if PKG_CONFIG_PATH=$(dirname "$pc") make -C "$T/hello" >"$T/make.log" 2>&1; then
    ok "the scaffolded addon builds against the --prefix install"
  else
    bad "the scaffolded addon does not build:"; cat "$T/make.log"
  fi
  expect 0 "and the host accepts it" -- "$W" addon check "$T/hello"
else
  bad "cmake --install failed"; cat "$T/install.log"
fi
EOT
finish
