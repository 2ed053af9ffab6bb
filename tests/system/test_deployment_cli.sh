#!/usr/bin/env bash
# End to end through build/bin/webops: deployment CRUD, every validation
# error (exit 1, field named, nothing written), usage errors (exit 2),
# migrate --status and an edited migration.
. "$(dirname "$0")/lib.sh"
test_setup 'the deployment and what it needs' <<'EOT'
need_db
export WEBOPS_DATABASE_URL=$(new_db)
export WEBOPS_DATA_DIR=$T/data

expect 0 "help" -- "$W" --help
contains "help lists deployment" "$OUT" "deployment"
expect 2 "no command is a usage error" -- "$W"
expect 2 "unknown command" -- "$W" frobnicate
expect 0 "deployment --help" -- "$W" deployment --help
contains "deployment help lists create" "$OUT" "create [NAME]"
contains "... and the other subcommands, one line each" "$OUT" "webhooks NAME"

expect 0 "create blog" -- "$W" deployment create --name blog --repo https://example.com/blog.git --branch main --env DEBUG=0
expect 0 "create --json" -- "$W" deployment create --name shop --repo git@example.com:team/shop.git --port 8080 --json
contains "create --json prints the record" "$OUT" '"port": 8080'
expect 0 "create with a positional name" -- "$W" deployment create positional --repo /srv/git/p
expect 2 "two names is a usage error" -- "$W" deployment create one two --repo /srv/git/p
expect 0 "list --json" -- "$W" deployment list --json
contains "list shows blog" "$OUT" '"name": "blog"'
contains "list shows env" "$OUT" '"DEBUG": "0"'
expect 0 "show" -- "$W" deployment show blog
contains "show gives the repo" "$OUT" "https://example.com/blog.git"

count_rows() { psql "$WEBOPS_DATABASE_URL" -qAtc "SELECT count(*) FROM deployments"; }
before=$(count_rows)
check_refused() { # check_refused FIELD ARGS...
  local field=$1; shift
  expect 1 "refused: $*" -- "$W" deployment create "$@"
  contains "message names $field" "$ERR" "$field"
  local now; now=$(count_rows)
  if [ "$now" = "$before" ]; then ok "no row written for: $*"; else bad "a row was written for: $*"; fi
}
check_refused name --name Blog --repo /srv/x
check_refused name --name -x --repo /srv/x
check_refused name --name a_b --repo /srv/x
check_refused name --name ../x --repo /srv/x
check_refused name --name "$(printf 'a%.0s' $(seq 64))" --repo /srv/x
check_refused name --name blog --repo /srv/x
check_refused repo_url --name ok --repo ftp://x
check_refused repo_url --name ok --repo ""
check_refused branch --name ok --repo /srv/x --branch a..b
check_refused branch --name ok --repo /srv/x --branch -x
check_refused port --name ok --repo /srv/x --port 0
check_refused port --name ok --repo /srv/x --port 70000
check_refused port --name ok --repo /srv/x --port 8080
check_refused env --name ok --repo /srv/x --env 1A=x
check_refused env --name ok --repo /srv/x --env A-B=x
check_refused domain --name ok --repo /srv/x --domain under_score.com

expect 2 "missing --repo is a usage error" -- "$W" deployment create --name ok
expect 2 "unknown option is a usage error" -- "$W" deployment create --name ok --repo /x --colour red
EOT

test_expect_success 'values with quotes, %, $, newlines survive' <<'EOT'
val=$'a "q" \'s\' 100% $HOME\nsecond line'
expect 0 "update env with awkward value" -- "$W" deployment update blog --env "MSG=$val" --port 9000
expect 0 "show --json" -- "$W" deployment show blog --json
got=$(json_get "$OUT" "j['env_vars']['MSG']")
if [ "$got" = "$val" ]; then ok "env value stored unchanged"; else bad "env value changed: $got"; fi
[[ "$(psql "$WEBOPS_DATABASE_URL" -qAtc "SELECT env_vars->>'MSG' FROM deployments WHERE name='blog'")" == v1:* ]] \
  && ok "...and sealed at rest" || bad "env value in clear in the database"
expect 0 "unset env" -- "$W" deployment update blog --unset-env MSG --no-port
contains "unset removed the key" "$("$W" deployment show blog --json)" '"DEBUG": "0"'
expect 1 "update with bad port keeps the record" -- "$W" deployment update blog --port 8080
contains "names the other deployment" "$ERR" "shop"
expect 1 "update of a missing deployment" -- "$W" deployment update nope --port 1
contains "says not found" "$ERR" "not found"
expect 0 "delete" -- "$W" deployment delete shop
expect 1 "delete again" -- "$W" deployment delete shop
EOT

test_expect_success 'one option parser (core/cli/opts.c): --opt value and --opt=value alike, one wording for what is not known, help per...' <<'EOT'
# one option parser (core/cli/opts.c): --opt value and --opt=value alike,
# one wording for what is not known, help per subcommand from its table
lacks() { if [[ "$2" == *"$3"* ]]; then bad "$1: '$3' in: $2"; else ok "$1"; fi; }
expect 0 "runs blog --limit=5" -- "$W" runs blog --limit=5
eq_out=$OUT
expect 0 "runs blog --limit 5" -- "$W" runs blog --limit 5
same_out() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: '$2' vs '$3'"; fi; }
same_out "... say the same" "$OUT" "$eq_out"
expect 2 "runs blog --limit=0 is a usage error" -- "$W" runs blog --limit=0
contains "... naming the option and the range" "$ERR" "option '--limit': '0' is not a whole number from 1 to 10000"
for c in "runs blog" "health blog" "deployment show blog" "deployment update blog" "user list" "token list" \
         "addon list" "ssh-key list" "tls list" "releases blog" "deployment webhooks blog"; do
  # shellcheck disable=SC2086
  expect 2 "$c --frobnicate: exit 2" -- "$W" $c --frobnicate
  contains "... with the one wording" "$ERR" "webops: option '--frobnicate' is not known"
  contains "... and where to look" "$ERR" "Try 'webops ${c% blog} --help'."
done
expect 2 "--json=1 on a flag is a usage error" -- "$W" deployment list --json=1
contains "... saying it takes no value" "$ERR" "option '--json' takes no value"
expect 2 "a missing value says what it needs" -- "$W" runs blog --limit
contains "... naming it" "$ERR" "option '--limit' needs a value (N)"
expect 0 "deployment create --help" -- "$W" deployment create --help
contains "... is create's own" "$OUT" "Usage: webops deployment create [OPTIONS] [NAME]"
contains "... with its options" "$OUT" "--health-interval S"
lacks "... and not the whole group" "$OUT" "unshare"
expect 0 "deployment update --help" -- "$W" deployment update --help
contains "... update has --no-port" "$OUT" "--no-port"
lacks "... create has not" "$("$W" deployment create --help)" "--no-port"
expect 2 "--domain and --no-domain together" -- "$W" deployment update blog --domain a.example --no-domain
expect 0 "-- ends the options" -- "$W" deployment show -- blog
expect 0 "completion bash" -- "$W" completion bash
printf '%s\n' "$OUT" >"$T/completion.bash"
complete_words() { # the words bash would offer after: webops WORDS...
  bash -c '. "$1"; shift; COMP_WORDS=(webops "$@"); COMP_CWORD=$(($# )); PATH="$(dirname "$W"):$PATH" _webops
           printf "%s\n" "${COMPREPLY[@]}"' _ "$T/completion.bash" "$@"
}
export W
contains "completion offers the commands" "$(complete_words dep)" "deployment"
contains "... a group's subcommands" "$(complete_words deployment cr)" "create"
contains "... a subcommand's options" "$(complete_words deployment create --he)" "--health-interval"
contains "... a command's options" "$(complete_words runs blog --li)" "--limit"
EOT

test_expect_success 'migrations' <<'EOT'
expect 0 "migrate --status" -- "$W" migrate --status
contains "status lists 0001" "$OUT" "0001_deployments.sql"
contains "status says applied" "$OUT" "applied"
expect 0 "migrate is a no-op" -- "$W" migrate
cp -r "$WEBOPS_SOURCE_DIR/migrations" "$T/migrations"
echo "-- edited" >>"$T/migrations/0001_deployments.sql"
WEBOPS_MIGRATIONS_DIR=$T/migrations expect 1 "edited migration is refused" -- "$W" migrate
contains "names the edited file" "$ERR" "0001_deployments.sql"
WEBOPS_MIGRATIONS_DIR=$T/migrations expect 1 "status flags the edit" -- "$W" migrate --status
contains "status says changed" "$OUT" "changed"
EOT

finish
