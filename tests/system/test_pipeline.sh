#!/usr/bin/env bash
# The deploy pipeline end to end: webopsd workers, libgit2 fetch of real
# repositories, hooks of a real test addon, the run queue under load, a
# daemon killed mid-run, and errors in words.
. "$(dirname "$0")/lib.sh"
test_setup 'the deployment and what it needs' <<'EOT'
need_db
export WEBOPS_DATABASE_URL=$(new_db)
export WEBOPS_DATA_DIR=$T/data
export WEBOPS_ADDONS_PATH=$(addons_dir pipetest)
export WEBOPS_PIPETEST_SLEEP_MS=2500
export WEBOPS_SHUTDOWN_GRACE=2
make_repo "$T/repo"

"$W" deployment create --name blog --repo "$T/repo" >/dev/null
"$W" deployment create --name site --repo "file://$T/repo" >/dev/null
start_daemon --workers 2 || exit 1
EOT

test_expect_success 'first deploy clones, prints progress, each hook and success' <<'EOT'
expect 0 "deploy blog --follow" -- "$W" deploy blog --follow
bid=$(json_get "$("$W" deployment show blog --json)" "j['id']")
[ "$(stat -c %a "$WEBOPS_DATA_DIR/builds") $(stat -c %a "$WEBOPS_DATA_DIR/builds/$bid") $(stat -c %a "$WEBOPS_DATA_DIR/builds/$bid/src")" = "700 700 700" ] \
  && ok "checkouts are not readable by other local users (builds/ 0700)" \
  || bad "modes: $(stat -c '%n %a' "$WEBOPS_DATA_DIR/builds" "$WEBOPS_DATA_DIR/builds/$bid" "$WEBOPS_DATA_DIR/builds/$bid/src")"
contains "clones first" "$OUT" "cloning $T/repo"
contains "fetch progress" "$OUT" "receiving objects: 100%"
contains "pre_deploy hook" "$OUT" "pipetest pre_deploy"
contains "post_deploy hook" "$OUT" "pipetest post_deploy"
contains "success" "$OUT" "succeeded"
head1=$(git -C "$T/repo" rev-parse HEAD)
expect 0 "runs --json" -- "$W" runs blog --json
[ "$(json_get "$OUT" "j[0]['commit']['sha']")" = "$head1" ] && ok "run records the commit" || bad "commit not recorded: $OUT"
[ "$(json_get "$OUT" "sorted(j[0]['stage_timings'].keys())")" = "['fetch', 'post_deploy', 'pre_deploy']" ] \
  && ok "run records stage timings" || bad "stage timings: $(json_get "$OUT" "j[0]['stage_timings']")"
[ "$(json_get "$OUT" "j[0]['outputs']['pipetest']['commit']")" = "$head1" ] && ok "hook outputs kept with the run" || bad "outputs: $OUT"
expect 0 "deployment is running" -- "$W" deployment show blog --json
[ "$(json_get "$OUT" "j['status'], j['current_commit']")" = "running $head1" ] && ok "current release remembered" || bad "deployment: $OUT"
EOT

test_expect_success 'a new commit is fetched incrementally' <<'EOT'
commit_repo "$T/repo" v2
head2=$(git -C "$T/repo" rev-parse HEAD)
expect 0 "redeploy" -- "$W" deploy blog --follow
contains "fetches, not clones" "$OUT" "fetching $T/repo"
contains "only the new objects" "$OUT" "fetched 3 new objects"
expect 0 "runs --json" -- "$W" runs blog --json
[ "$(json_get "$OUT" "j[0]['commit']['sha']")" = "$head2" ] && ok "new commit recorded" || bad "new commit not recorded"
EOT

test_expect_success 'deploy an explicit ref (the first commit) through file://' <<'EOT'
expect 0 "deploy --ref" -- "$W" deploy site --ref "$head1" --follow
contains "checks out the ref" "$OUT" "checked out ${head1:0:12}"
EOT

test_expect_success 'errors in words, and the deployment marked failed' <<'EOT'
"$W" deployment create --name nobranch --repo "$T/repo" --branch nope >/dev/null
expect 1 "missing branch fails" -- "$W" deploy nobranch --follow
contains "says the branch is missing" "$OUT" "branch 'nope' not found"
contains "lists the branches that exist" "$OUT" "its branches are main; its default branch is 'main'"
EOT

test_expect_success 'without --branch, the repository'\''s default branch (its HEAD), not "main"' <<'EOT'
mkdir -p "$T/trunk" && git -C "$T/trunk" init -q -b trunk && echo t >"$T/trunk/index.html"
git -C "$T/trunk" add -A && git -C "$T/trunk" -c user.name=T -c user.email=t@e commit -qm t
git -C "$T/trunk" branch develop
expect 0 "create without --branch" -- "$W" deployment create --name trunky --repo "file://$T/trunk"
contains "says which branch it took" "$OUT" "branch: trunk (the repository's default)"
expect 0 "deploys the default branch" -- "$W" deploy trunky --follow
expect 0 "branch stored" -- "$W" deployment show trunky --json
[ "$(json_get "$OUT" "j['branch']")" = trunk ] && ok "branch is trunk" || bad "branch: $OUT"
"$W" deployment update trunky --branch nope >/dev/null
expect 1 "a missing branch lists them all" -- "$W" deploy trunky --follow
contains "with the default" "$OUT" "its branches are develop, trunk; its default branch is 'trunk'"
"$W" deployment create --name nourl --repo /nonexistent/repo.git >/dev/null
expect 1 "bad url fails" -- "$W" deploy nourl --follow
contains "says the repository is missing" "$OUT" "repository not found"
expect 0 "failed deployment status" -- "$W" deployment show nourl --json
[ "$(json_get "$OUT" "j['status']")" = failed ] && ok "deployment marked failed" || bad "status: $OUT"
EOT

test_expect_success 'a crashing addon fails the run with its message' <<'EOT'
"$W" deployment create --name crashy --repo "$T/repo" --set pipetest_mode=crash >/dev/null
expect 1 "crashing hook fails the run" -- "$W" deploy crashy --follow
contains "names the signal" "$OUT" "SIGSEGV"
contains "names the addon" "$OUT" "pipetest"
"$W" deployment create --name failing --repo "$T/repo" --set pipetest_mode=fail >/dev/null
expect 1 "failing hook fails the run" -- "$W" deploy failing --follow
contains "carries the hook's message" "$OUT" "pipetest was told to fail"
EOT

test_expect_success 'twenty requests within a second coalesce to the newest, with two daemons sharing the queue' <<'EOT'
first_daemon=$DAEMON_PID
start_daemon --workers 2 || exit 1
"$W" deployment create --name many --repo "$T/repo" --set pipetest_mode=slow >/dev/null
export WEBOPS_PIPETEST_SLEEP_MS=300
reqs=()
for i in $(seq 20); do "$W" deploy many >/dev/null & reqs+=($!); done
wait "${reqs[@]}"
for i in $(seq 300); do
  n=$(psql "$WEBOPS_DATABASE_URL" -qAtc "SELECT count(*) FROM runs r JOIN deployments d ON d.id=r.deployment_id WHERE d.name='many' AND r.status IN ('queued','running')")
  [ "$n" = 0 ] && break
  sleep 0.1
done
summary=$(psql "$WEBOPS_DATABASE_URL" -qAtc "SELECT count(*), count(*) FILTER (WHERE r.status='succeeded'), count(*) FILTER (WHERE r.status='superseded'), count(*) FILTER (WHERE r.status NOT IN ('succeeded','superseded')) FROM runs r JOIN deployments d ON d.id=r.deployment_id WHERE d.name='many'")
IFS='|' read -r total succ sup other <<<"$summary"
[ "$total" = 20 ] && ok "none of the 20 requests lost" || bad "runs recorded: $total"
[ "$other" = 0 ] && ok "every run succeeded or was superseded" || bad "other statuses: $summary"
[ "$((succ + sup))" = 20 ] && [ "$sup" -ge 1 ] && ok "requests coalesced ($succ ran, $sup superseded)" || bad "no coalescing: $summary"
overlap=$(psql "$WEBOPS_DATABASE_URL" -qAtc "SELECT count(*) FROM runs a JOIN runs b ON a.deployment_id=b.deployment_id AND a.id<b.id JOIN deployments d ON d.id=a.deployment_id WHERE d.name='many' AND a.started_at IS NOT NULL AND b.started_at IS NOT NULL AND a.started_at < b.finished_at AND b.started_at < a.finished_at")
[ "$overlap" = 0 ] && ok "never two runs at once" || bad "$overlap overlapping runs"
last=$(psql "$WEBOPS_DATABASE_URL" -qAtc "SELECT r.status, r.commit_sha FROM runs r JOIN deployments d ON d.id=r.deployment_id WHERE d.name='many' ORDER BY r.id DESC LIMIT 1")
[ "$last" = "succeeded|$head2" ] && ok "the newest request ran and deployed the newest commit" || bad "newest run: $last"
kill -TERM "$first_daemon"; wait "$first_daemon" 2>/dev/null
EOT

test_expect_success 'cancel a running run' <<'EOT'
export WEBOPS_PIPETEST_SLEEP_MS=2500
"$W" deployment create --name cancelme --repo "$T/repo" --set pipetest_mode=slow >/dev/null
stop_daemon; start_daemon --workers 2 || exit 1
id=$(json_get "$("$W" deploy cancelme --json)" "j['id']")
for i in $(seq 600); do [ "$(psql "$WEBOPS_DATABASE_URL" -qAtc "SELECT stage FROM runs WHERE id=$id")" = pre_deploy ] && break; sleep 0.1; done
expect 0 "cancel a running run" -- "$W" cancel "$id"
expect 1 "follow the cancelled run" -- timeout 20 "$W" logs cancelme --run "$id" --follow
contains "run is cancelled" "$OUT" "run $id cancelled"
EOT

test_expect_success 'kill -9 of webopsd during a slow hook: the run is failed "interrupted" within 30 s of a restart' <<'EOT'
export WEBOPS_PIPETEST_SLEEP_MS=20000
stop_daemon; start_daemon --workers 2 || exit 1
"$W" deployment create --name slow --repo "$T/repo" --set pipetest_mode=slow >/dev/null
id=$(json_get "$("$W" deploy slow --json)" "j['id']")
for i in $(seq 600); do [ "$(psql "$WEBOPS_DATABASE_URL" -qAtc "SELECT stage FROM runs WHERE id=$id")" = pre_deploy ] && break; sleep 0.1; done
kill -9 "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null
sleep 0.5
left=0
for e in $(grep -l "WEBOPS_DATA_DIR=$T/data" /proc/[0-9]*/environ 2>/dev/null); do
  [ "$(cat "${e%/environ}/comm" 2>/dev/null)" = webopsd ] && left=$((left + 1))
done
[ "$left" = 0 ] && ok "no run or hook process outlives the killed daemon" || bad "$left processes left behind"
t0=$(date +%s)
export WEBOPS_PIPETEST_SLEEP_MS=100
start_daemon --workers 2 || exit 1
for i in $(seq 300); do
  st=$(psql "$WEBOPS_DATABASE_URL" -qAtc "SELECT status || '|' || coalesce(error,'') FROM runs WHERE id=$id")
  [[ "$st" == failed* ]] && break
  sleep 0.1
done
dt=$(( $(date +%s) - t0 ))
contains "killed run failed as interrupted" "$st" "failed|interrupted"
[ "$dt" -le 30 ] && ok "within 30 s ($dt s)" || bad "took $dt s"
expect 0 "a new deploy succeeds" -- timeout 60 "$W" deploy slow --follow
EOT

test_expect_success 'graceful stop hands an unfinished run back to the queue' <<'EOT'
export WEBOPS_PIPETEST_SLEEP_MS=20000
stop_daemon; start_daemon --workers 2 || exit 1
id=$(json_get "$("$W" deploy slow --json)" "j['id']")
for i in $(seq 600); do [ "$(psql "$WEBOPS_DATABASE_URL" -qAtc "SELECT stage FROM runs WHERE id=$id")" = pre_deploy ] && break; sleep 0.1; done
stop_daemon
st=$(psql "$WEBOPS_DATABASE_URL" -qAtc "SELECT status FROM runs WHERE id=$id")
[ "$st" = queued ] && ok "SIGTERM hands the run back after the grace period" || bad "status after SIGTERM: $st"
"$W" cancel "$id" >/dev/null
EOT

test_expect_success 'an HTTPS token: refused without it ("authentication failed"), used with it, never logged' <<'EOT'
start_daemon --workers 2 || exit 1
git clone -q --bare "$T/repo" "$T/srv/app.git"
python3 "$(dirname "$0")/git_http_server.py" "$T/srv" "$T/http.port" deploy s3cr3t-t0ken &
_pids+=($!)
for i in $(seq 600); do [ -s "$T/http.port" ] && break; sleep 0.1; done
url="http://127.0.0.1:$(cat "$T/http.port")/app.git"
"$W" deployment create --name private --repo "$url" >/dev/null
expect 1 "no credentials: fails" -- timeout 60 "$W" deploy private --follow
contains "says authentication failed" "$OUT" "authentication failed"
echo "wrong" | "$W" deployment credentials private --token-stdin --user deploy >/dev/null
expect 1 "wrong token: fails" -- timeout 60 "$W" deploy private --follow
contains "says authentication failed" "$OUT" "authentication failed"
expect 0 "set the token from stdin" -- sh -c "echo s3cr3t-t0ken | '$W' deployment credentials private --token-stdin --user deploy"
contains "describes without the secret" "$OUT" "https token (user deploy)"
[[ "$OUT" != *s3cr3t* ]] && ok "secret not printed" || bad "secret printed"
expect 0 "deploy with the token" -- timeout 60 "$W" deploy private --follow
contains "fetched over http" "$OUT" "succeeded"
all_logs=$(psql "$WEBOPS_DATABASE_URL" -qAtc "SELECT string_agg(text, ' ') FROM run_logs")$(cat "$T/webopsd.log")
[[ "$all_logs" != *s3cr3t* ]] && ok "token never logged" || bad "token found in logs"
contains "the credentials are bound to the repository's host" "$("$W" deployment credentials private)" \
  "for http://127.0.0.1:$(cat "$T/http.port")"
# a credential goes only to the host it was stored for: not to a changed
# repo_url, not after a redirect, never in clear to another server
python3 "$(dirname "$0")/cred_trap.py" trap "$T/trap.port" "$T/trap.log" &
_pids+=($!)
for i in $(seq 600); do [ -s "$T/trap.port" ] && break; sleep 0.1; done
trap_url="http://127.0.0.1:$(cat "$T/trap.port")"
"$W" deployment update private --repo "$trap_url/app.git" >/dev/null
expect 1 "repo_url moved to another server: the deploy fails" -- timeout 60 "$W" deploy private --follow
contains "says the credentials are not used, and why" "$OUT" \
  "the stored credentials are not used: they were stored for http://127.0.0.1:$(cat "$T/http.port"), and repo_url is now $trap_url"
[ -s "$T/trap.log" ] && ! grep -qv '^-$' "$T/trap.log" && ok "the other server never got a credential ($(wc -l <"$T/trap.log") requests)" \
  || bad "the other server got: $(cat "$T/trap.log" 2>&1)"
python3 "$(dirname "$0")/cred_trap.py" redirect "$T/redir.port" "$trap_url" &
_pids+=($!)
for i in $(seq 600); do [ -s "$T/redir.port" ] && break; sleep 0.1; done
redir_url="http://127.0.0.1:$(cat "$T/redir.port")"
"$W" deployment update private --repo "$redir_url/app.git" >/dev/null
echo s3cr3t-t0ken | "$W" deployment credentials private --token-stdin --user deploy >/dev/null
: >"$T/trap.log"
expect 1 "a redirect to another server: the deploy fails" -- timeout 60 "$W" deploy private --follow
contains "says it did not send them there" "$OUT" "not sending the stored credentials to $trap_url:"
! grep -qv '^-$' "$T/trap.log" && ok "the redirect target never got a credential" || bad "the redirect target got: $(cat "$T/trap.log")"
"$W" deployment update private --repo "$url" >/dev/null
echo s3cr3t-t0ken | "$W" deployment credentials private --token-stdin --user deploy >/dev/null
expect 0 "deployment show hides credentials" -- "$W" deployment show private --json
[[ "$OUT" != *s3cr3t* ]] && ok "token not in the record" || bad "token in the record"
expect 1 "a bad key file is refused" -- "$W" deployment credentials private --ssh-key /etc/hostname
contains "names the field" "$ERR" "ssh_private_key"
expect 0 "clear credentials" -- "$W" deployment credentials private --clear
contains "none left" "$OUT" "none"
stop_daemon
EOT

test_expect_success 'lifecycle: start/stop/delete run the addons'\'' hooks; a failing hook changes nothing without --force' <<'EOT'
expect 0 "stop" -- "$W" deployment stop blog
contains "stop hook ran" "$ERR" "pipetest stop of blog"
[ "$(json_get "$("$W" deployment show blog --json)" "j['status']")" = stopped ] && ok "status stopped" || bad "status after stop"
expect 0 "start" -- "$W" deployment start blog
[ "$(json_get "$("$W" deployment show blog --json)" "j['status']")" = running ] && ok "status running" || bad "status after start"
expect 1 "a failing delete hook keeps the deployment" -- "$W" deployment delete failing
contains "says why" "$ERR" "pipetest refuses to delete"
expect 0 "still there" -- "$W" deployment show failing
expect 0 "delete --force" -- "$W" deployment delete failing --force
expect 1 "gone after --force" -- "$W" deployment show failing
blog_id=$(json_get "$("$W" deployment show blog --json)" "j['id']")
[ -d "$WEBOPS_DATA_DIR/repos/$blog_id.git" ] && ok "cached clone exists" || bad "no cached clone"

expect 0 "logs of the latest run" -- "$W" logs blog
contains "logs show the fetch" "$OUT" "fetched"
expect 2 "deploy needs a name" -- "$W" deploy
expect 1 "deploy of an unknown deployment" -- "$W" deploy nope
contains "says not found" "$ERR" "not found"
expect 0 "delete blog" -- "$W" deployment delete blog
[ ! -d "$WEBOPS_DATA_DIR/repos/$blog_id.git" ] && [ ! -d "$WEBOPS_DATA_DIR/builds/$blog_id" ] && ok "delete removes the clone and source" || bad "clone or source left"
EOT
finish
