#!/usr/bin/env bash
# End to end through build/bin/webops with the real test addons: `addon new`
# built out of tree and run, deterministic order, crash/abort/timeout
# containment and enforcement, load errors with file and line, enable and
# disable, settings, --set on deployments, and hook run --json.
. "$(dirname "$0")/lib.sh"
test_setup 'the deployment and what it needs' <<'EOT'
need_db
export WEBOPS_DATABASE_URL=$(new_db)
export WEBOPS_DATA_DIR=$T/data
BUILD=${WEBOPS_BUILD_DIR:?}
SRC=${WEBOPS_SOURCE_DIR:?}
LIB=$BUILD/tests/addons
unset WEBOPS_OK_GREETING WEBOPS_OK_LEVEL PKG_CONFIG_PATH
EOT

test_setup 'mk_addon: an addon folder with its own manifest' <<'EOT'
mk_addon() {
  mkdir -p "$1"
  printf 'name: %s\nversion: 0.0.1\nlibrary: %s\nhooks:\n%s\n' "$2" "$3" "$4" > "$1/addon.yaml"
}

expect 0 "create deployment blog" -- "$W" deployment create --name blog --repo https://example.com/blog.git
EOT

test_expect_success 'addon new, built out of tree, listed and run' <<'EOT'
expect 0 "addon new hello" -- "$W" addon new hello --dir "$T/h/hello"
contains "new says what to do next" "$OUT" "make -C $T/h/hello"
expect 1 "addon new refuses to overwrite" -- "$W" addon new hello --dir "$T/h/hello"
contains "overwrite message" "$ERR" "already exists"
expect 0 "scaffold builds with make (pkg-config webops-addon)" -- make -C "$T/h/hello"
expect 0 "scaffold passes addon check" -- "$W" addon check "$T/h/hello"
contains "check reports valid" "$OUT" "addon 'hello' 0.1.0 is valid: addon ABI 1.2, 3 hooks"
expect 0 "list shows hello" -- env WEBOPS_ADDONS_PATH="$T/h" "$W" addon list
contains "hello enabled" "$OUT" "hello"
contains "hello hooks" "$OUT" "pre_deploy:100 post_deploy:100 health:100"
expect 0 "hook run pre_deploy blog runs hello" -- env WEBOPS_ADDONS_PATH="$T/h" "$W" hook run pre_deploy blog
contains "hello's hook logged" "$OUT" "Hello from hello, deploying blog"
contains "hello's output" "$OUT" "outputs: greeted=blog"
contains "...the program it ran (host->run) logged its output" "$OUT" "$(uname -sr)"
expect 0 "hook run post_deploy blog renders hello's template" -- env WEBOPS_ADDONS_PATH="$T/h" "$W" hook run post_deploy blog
contains "...through host->render" "$OUT" "blog is deployed from"
# the uninstalled pkg-config file of the build tree works for a hand-written build too
expect 0 "pkg-config from the build tree" -- env PKG_CONFIG_PATH="$BUILD" pkg-config --cflags --libs webops-addon
contains "include dir is the source tree" "$OUT" "-I$SRC/core/include"
contains "hidden visibility" "$OUT" "-fvisibility=hidden"
EOT

test_expect_success 'deterministic order: priorities 10, 50, 50, 100 across three addons' <<'EOT'
O=$T/order
mk_addon "$O/alpha" alpha "$LIB/lib/alpha.so" "  pre_deploy:
    - {handler: ok_order, priority: 100}
    - {handler: ok_order, priority: 50}"
mk_addon "$O/gamma" gamma "$LIB/lib/gamma.so" "  pre_deploy:
    - {handler: ok_order, priority: 50}"
mk_addon "$O/beta" beta "$LIB/lib/beta.so" "  pre_deploy:
    - {handler: ok_order, priority: 10}"
first=
for i in 1 2 3 4 5; do
  expect 0 "ordered run $i" -- env WEBOPS_ADDONS_PATH="$O" "$W" hook run pre_deploy blog
  order=$(grep -E '^\[[0-9]/4\]' "$T/out" | tr '\n' ';')
  [ -z "$first" ] && first=$order
  if [ "$order" = "$first" ]; then ok "same order in run $i"; else bad "order changed: $order vs $first"; fi
done
contains "beta (10) first" "$first" "[1/4] beta: ok_order (priority 10, required)"
contains "alpha (50) second: ties by name" "$first" "[2/4] alpha: ok_order (priority 50, required)"
contains "gamma (50) third" "$first" "[3/4] gamma: ok_order (priority 50, required)"
contains "alpha (100) last" "$first" "[4/4] alpha: ok_order (priority 100, required)"
contains "later hooks see earlier outputs" "$OUT" "order: alpha after [alpha,beta,gamma]"
EOT

test_expect_success 'crash, abort and timeout containment' <<'EOT'
C=$T/crash
ln -s "$LIB/crash" "$C-req"
mkdir -p "$C"; ln -s "$LIB/crash" "$C/crash"
mk_addon "$C/delta" delta "$LIB/lib/delta.so" "  pre_deploy:
    - {handler: ok_order, priority: 100}"
expect 1 "a crashing required hook fails the run" -- env WEBOPS_ADDONS_PATH="$C" "$W" hook run pre_deploy blog
contains "names addon, hook, handler and signal" "$OUT" "addon 'crash' hook 'pre_deploy' (handler 'crash_pre_deploy') crashed: killed by SIGSEGV"
contains "stderr repeats it" "$ERR" "pre_deploy failed: addon 'crash' hook 'pre_deploy'"
contains "the next hook is not run" "$OUT" "not run: an earlier required hook failed"
rm "$C/crash"
mk_addon "$C/crash" crash "$LIB/crash/crash.so" "  pre_deploy:
    - {handler: crash_pre_deploy, priority: 80, enforcement: optional}"
expect 0 "an optional crashing hook does not fail the run" -- env WEBOPS_ADDONS_PATH="$C" "$W" hook run pre_deploy blog
contains "crash reported" "$OUT" "killed by SIGSEGV"
contains "the next hook still runs" "$OUT" "order: delta after []"
contains "summary" "$OUT" "pre_deploy: 1 ok, 1 failed, 0 skipped, 0 not run"
A=$T/abort; mkdir -p "$A"; ln -s "$LIB/abort" "$A/abort"
expect 0 "abort (optional) is contained" -- env WEBOPS_ADDONS_PATH="$A" "$W" hook run pre_deploy blog
contains "SIGABRT named" "$OUT" "killed by SIGABRT"
H=$T/hang; mkdir -p "$H"; ln -s "$LIB/hang" "$H/hang"
start=$(date +%s%N)
expect 1 "a hanging hook times out" -- env WEBOPS_ADDONS_PATH="$H" "$W" hook run pre_deploy blog
ms=$(( ($(date +%s%N) - start) / 1000000 ))
contains "timeout named" "$OUT" "addon 'hang' hook 'pre_deploy' (handler 'hang_pre_deploy') timed out after 500 ms"
if [ "$ms" -lt 1500 ]; then ok "reported within 1.5 s ($ms ms)"; else bad "took $ms ms"; fi
# the hook forked a child that pauses forever: the whole process group must be gone
sleep 0.2
if pgrep -f "$W hook run pre_deploy blog" >/dev/null; then bad "the hanging hook left processes"; else ok "no process left behind"; fi
EOT

test_expect_success 'wrong ABI and broken manifests, next to addons that load' <<'EOT'
B=$T/broken; mkdir -p "$B"
for a in ok wrongabi nohandler; do ln -s "$LIB/$a" "$B/$a"; done
for d in "$SRC"/tests/addons/broken/*/; do ln -s "$d" "$B/$(basename "$d")"; done
expect 0 "list with broken addons" -- env WEBOPS_ADDONS_PATH="$B" "$W" addon list
contains "ok still loads" "$OUT" "ok                   1.2.3      enabled"
contains "wrong ABI names both versions" "$OUT" "built for addon ABI 2.0 but this webops provides ABI 1.2"
contains "missing handler symbol, file and line" "$OUT" "nohandler/addon.yaml': line 9: hooks.post_deploy: handler 'nohandler_missing' is not exported"
contains "missing name" "$OUT" "missing_name/addon.yaml': line 1: missing 'name'"
contains "unknown event" "$OUT" "unknown_event/addon.yaml': line 6: hooks: unknown event 'pre_deploi'"
contains "priority not an integer" "$OUT" "bad_priority/addon.yaml': line 8: hooks.pre_deploy[0].priority: expected an integer, got 'high'"
contains "library not found" "$OUT" "library_missing/addon.yaml': line 4: library 'build/nothere.so' not found"
contains "duplicate name" "$OUT" "dup_b/addon.yaml': duplicate addon name 'dupe'"
contains "bad YAML" "$OUT" "bad_yaml/addon.yaml': line 4: invalid YAML"
contains "bad field" "$OUT" "bad_field/addon.yaml': line 6: deployment_fields.colour.type: unknown type 'colour'"
expect 0 "hook run with broken addons around" -- env WEBOPS_ADDONS_PATH="$B" "$W" hook run pre_deploy blog
contains "ok's hook runs" "$OUT" "[1/2] ok: ok_pre_deploy"
contains "broken addons are named on stderr" "$ERR" "addon 'wrongabi' is not loaded"
expect 1 "addon check refuses wrongabi" -- "$W" addon check "$LIB/wrongabi"
contains "check names both versions" "$OUT" "ABI 2.0 but this webops provides ABI 1.2"
expect 0 "list --json" -- env WEBOPS_ADDONS_PATH="$B" "$W" addon list --json
contains "json has states" "$OUT" '"state": "error"'
EOT

test_expect_success 'disable and enable' <<'EOT'
export WEBOPS_ADDONS_PATH="$B"
expect 0 "disable ok" -- "$W" addon disable ok
expect 0 "hook run with ok disabled" -- "$W" hook run health blog
contains "no hook ran" "$OUT" "health for deployment 'blog': 0 hooks"
expect 0 "list shows disabled" -- "$W" addon list
contains "ok disabled" "$OUT" "ok                   1.2.3      disabled"
expect 1 "fields of a disabled addon are hidden" -- "$W" deployment update blog --set use_docker=true
contains "unknown field" "$ERR" "unknown field 'use_docker'"
expect 0 "enable ok" -- "$W" addon enable ok
expect 0 "hook run with ok enabled again" -- "$W" hook run health blog
contains "ok's hook is back" "$OUT" "[1/1] ok: ok_health"
expect 1 "enable an unknown addon" -- "$W" addon enable nosuch
contains "names it" "$ERR" "no addon named 'nosuch'"
EOT

test_expect_success 'fields, settings, info, json' <<'EOT'
expect 0 "create with addon fields" -- "$W" deployment create --name shop --repo https://example.com/shop.git --set use_docker=true --set ports='["8080:80"]' --json
contains "bool stored" "$OUT" '"use_docker": true'
contains "list stored" "$OUT" '"8080:80"'
contains "defaults filled on create" "$OUT" '"replicas": 1'
expect 1 "a bad field value is refused" -- "$W" deployment create --name shop2 --repo https://example.com/shop.git --set ports=8080
contains "names the field and rule" "$ERR" "invalid value for field 'ports' (addon 'ok', list): item '8080' does not match the pattern"
expect 1 "int out of range" -- "$W" deployment update shop --set replicas=99
contains "range named" "$ERR" "99 is above the maximum 10"
expect 0 "update a field" -- "$W" deployment update shop --set mode=fast --set labels=a=1,b=2
expect 0 "hook run uses the fields" -- "$W" hook run pre_deploy shop --commit deadbeef --run-id 7
contains "fields reach the hook" "$OUT" "use_docker=1 replicas=1 mode=fast"
contains "commit and run id reach the hook" "$OUT" "at commit 'deadbeef' run '7'"
contains "condition met: docker-only hook runs" "$OUT" "docker-only hook ran"
expect 0 "conditions skip" -- "$W" hook run pre_deploy blog
contains "skipped with the reason" "$OUT" "skipped: condition use_docker == true not met (it is false)"

expect 0 "addon config shows defaults" -- "$W" addon config ok
contains "greeting default" "$OUT" "greeting             string  = hello  (default)"
expect 0 "addon config sets" -- "$W" addon config ok greeting=bonjour level=2
expect 1 "addon config validates" -- "$W" addon config ok level=7
contains "validation message" "$ERR" "7 is above the maximum 5"
expect 1 "addon config unknown key" -- "$W" addon config ok colour=red
expect 0 "addon config KEY prints the value" -- "$W" addon config ok greeting
contains "stored value" "$OUT" "bonjour"
expect 0 "environment overrides for one process" -- env WEBOPS_OK_GREETING=salut "$W" addon config ok greeting
contains "env value" "$OUT" "salut"
expect 0 "hooks read the effective setting" -- env WEBOPS_OK_GREETING=salut "$W" hook run pre_deploy blog
contains "effective setting in the hook" "$OUT" "greeting setting: salut"
expect 0 "addon config --unset" -- "$W" addon config ok --unset greeting
expect 0 "addon info" -- "$W" addon info ok
contains "info shows hooks with priorities" "$OUT" "pre_deploy   priority 50"
contains "info shows fields" "$OUT" "use_docker           bool    default false"
contains "info shows metrics" "$OUT" "metrics:"
contains "info shows state" "$OUT" "state:        enabled, loaded"
expect 0 "hook run --json" -- "$W" hook run post_deploy shop --json
contains "json status" "$OUT" '"status": "ok"'
contains "json outputs" "$OUT" '"url": "http://localhost:8080/"'
expect 2 "unknown event is a usage error" -- "$W" hook run deploy blog
expect 1 "unknown deployment" -- "$W" hook run health nosuch
contains "names the deployment" "$ERR" "no deployment named 'nosuch'"
expect 0 "WebOps alias accepted" -- "$W" hook run service_health_check blog
EOT

finish
