#!/usr/bin/env bash
# Deploying on `git push`, end to end with the real git client, a real
# webopsd, PostgreSQL and Docker: a --push deployment (a static site the
# docker addon serves) deploys each push over HTTP, shows the build to the
# pusher as `remote:` lines, refuses a commit whose deploy fails (the branch
# stays, the previous version keeps serving), refuses a wrong token, stores
# other branches without deploying them, and serves clones. Then the same
# over SSH through a private sshd (keys added with `webops ssh-key`, forced
# command `webops git-shell`), which refuses anything but git. Also: a
# deployment with an outside repository that receives a push, alternating
# with deploys from its repository. Skipped (77) without Docker (and the SSH
# part without sshd). And scripts/post-receive in a bare repository of
# one's own.
# ctest-resources: docker
. "$(dirname "$0")/lib.sh"
test_setup 'the deployment and what it needs' <<'EOT'
need_db
command -v git >/dev/null || skip_all "git is not installed"

need_docker

export WEBOPS_DATABASE_URL=$(new_db)
export WEBOPS_DATA_DIR=$T/data
export WEBOPS_ADDONS_PATH=${WEBOPS_BUILD_DIR:?}/addons
export WEBOPS_DOCKER_START_GRACE_S=1
export WEBOPS_SSH_AUTHORIZED_KEYS=$T/ssh/authorized_keys
export GIT_TERMINAL_PROMPT=0 GIT_CONFIG_NOSYSTEM=1 HOME=$T/home
mkdir -p "$HOME"
git config --global user.name Test
git config --global user.email test@example.com
git config --global init.defaultBranch main

name="gp$$"
port=$(free_port)
cleanup_docker() { remove_deployment_docker "$name"; }
at_exit 'cleanup_docker'
page() { curl -s --max-time 5 "http://127.0.0.1:$port$1"; }
# wait_page TEXT: the site answers TEXT (the container may need a moment)
wait_page() {
  local i
  for i in $(seq 600); do [ "$(page /)" = "$1" ] && return 0; sleep 0.1; done
  return 1
}
sha() { git -C "$T/work" rev-parse "${1:-HEAD}"; }
EOT

test_expect_success 'a push-only deployment' <<'EOT'
expect 0 "create a --push deployment" -- "$W" deployment create "$name" --push \
  --set use_docker=true --set docker_ports="[\"127.0.0.1:$port:80\"]"
contains "create prints the HTTP remote" "$OUT" "/git/$name.git"
contains "create prints the SSH remote" "$OUT" "ssh://"
show=$("$W" deployment show "$name" --json)
[ "$(json_get "$show" "j['push_only']")" = True ] && ok "push_only is recorded" || bad "push_only: $show"
[ "$(json_get "$show" "j['repo_url']")" = "file://$T/data/git/.staging/$name.git" ] && ok "repo_url is the staging repository" \
  || bad "repo_url: $(json_get "$show" "j['repo_url']")"
hook="$T/data/git/$name.git/hooks/pre-receive"
[ -x "$hook" ] && ok "the hosted repository has its pre-receive hook" || bad "no hook at $hook"
contains "the hook runs webops git-hook" "$(cat "$hook" 2>/dev/null)" "' git-hook '$name'"
expect 2 "--push with --repo is refused" -- "$W" deployment create "${name}x" --push --repo "file://$T/none"

start_daemon --listen 127.0.0.1:0 --workers 1 || exit 1
expect 1 "deploy before anything was pushed says so" -- "$W" deploy "$name" --follow
contains "nothing pushed yet" "$OUT$ERR" "nothing has been pushed to '$name' yet"
BASE=$(sed -n 's/.*http: listening on \(http:[^ ]*\).*/\1/p' "$T/webopsd.log" | head -1)
TOKEN=$("$W" token create pusher)
R="http://push:$TOKEN@${BASE#http://}/git/$name.git"

make_repo "$T/work"
EOT

test_expect_success 'the first push deploys, and the pusher sees the build' <<'EOT'
start=$(date +%s%N)
expect 0 "git push over HTTP deploys" -- git -C "$T/work" push "$R" main
ms=$(( ($(date +%s%N) - start) / 1000000 ))
contains "the build shows as remote: lines" "$ERR" "remote: "
contains "the docker build is in the push output" "$ERR" "Successfully built"
contains "the push ends with the result" "$ERR" "webops: deployed '$name' at $(sha | cut -c1-12)"
wait_page "<h1>v1</h1>" && ok "the site answers v1 (push took ${ms} ms)" || bad "page: '$(page /)'; push: $ERR"
v1=$(sha)
EOT

test_expect_success 'a second push deploys the new commit' <<'EOT'
commit_repo "$T/work" v2
expect 0 "a second push deploys" -- git -C "$T/work" push "$R" main
wait_page "<h1>v2</h1>" && ok "the site answers v2" || bad "page after v2: '$(page /)'"
v2=$(sha)
runs=$("$W" runs "$name" --json)
[ "$(json_get "$runs" "j[0]['trigger']")" = push ] && ok "the run's trigger is push" || bad "trigger: $(json_get "$runs" "j[0]['trigger']")"
[ "$(json_get "$runs" "j[0]['source_url']")" = "file://$T/data/git/.staging/$name.git" ] && ok "the run records its source_url" \
  || bad "source_url: $(json_get "$runs" "j[0].get('source_url')")"
EOT

test_expect_success 'a commit whose deploy fails is refused; the branch and the site stay at v2' <<'EOT'
printf 'FROM %s\nRUN false\n' "$base" >"$T/work/Dockerfile"
git -C "$T/work" add Dockerfile
git -C "$T/work" commit -qm "broken build"
expect 1 "a failing commit makes git push fail" -- git -C "$T/work" push "$R" main
contains "the push output says the run failed" "$ERR" "remote: webops: run "
contains "the push output names the failing step" "$ERR" "RUN false"
contains "the push output says the push is refused" "$ERR" "the push is refused: 'main' stays at $(echo "$v2" | cut -c1-12)"
contains "git reports the rejection" "$ERR" "pre-receive hook declined"
[ "$(git ls-remote "$R" refs/heads/main | cut -f1)" = "$v2" ] && ok "the server's main is still v2" \
  || bad "server main: $(git ls-remote "$R" refs/heads/main)"
[ "$(git --git-dir="$T/data/git/.staging/$name.git" rev-parse main)" = "$v2" ] && ok "the staging branch is back at v2" \
  || bad "staging main: $(git --git-dir="$T/data/git/.staging/$name.git" rev-parse main)"
[ "$(page /)" = "<h1>v2</h1>" ] && ok "the site still answers v2" || bad "page after broken: '$(page /)'"
git -C "$T/work" reset -q --hard "$v2"
EOT

test_expect_success 'a wrong token is refused' <<'EOT'
expect 128 "a wrong token is refused" -- git -C "$T/work" push "http://push:wo_wrong@${BASE#http://}/git/$name.git" main
contains "git says authentication failed" "$ERR" "Authentication failed"
code=$(curl -s -o /dev/null -w '%{http_code}' "$BASE/git/$name.git/info/refs?service=git-receive-pack")
[ "$code" = 401 ] && ok "no credentials: 401" || bad "no credentials: HTTP $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -u "x:$TOKEN" "$BASE/git/nope.git/info/refs?service=git-upload-pack")
[ "$code" = 404 ] && ok "an unknown repository: 404" || bad "unknown repository: HTTP $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -u "x:$TOKEN" -X POST "$BASE/git/$name.git/git-upload-archive")
[ "$code" = 404 ] && ok "an unknown service: 404" || bad "unknown service: HTTP $code"
EOT

test_expect_success 'another branch is stored, not deployed; deleting main is refused' <<'EOT'
git -C "$T/work" checkout -qb feature
echo feature >"$T/work/feature.txt"
git -C "$T/work" add feature.txt
git -C "$T/work" commit -qm feature
expect 0 "pushing another branch is accepted" -- git -C "$T/work" push "$R" feature
contains "it is stored, not deployed" "$ERR" "branch 'feature' stored; not deployed ('$name' deploys 'main')"
git -C "$T/work" checkout -q main
expect 1 "deleting main is refused" -- git -C "$T/work" push "$R" :main
contains "says why" "$ERR" "deleting branch 'main' is refused"
[ "$(page /)" = "<h1>v2</h1>" ] && ok "still v2" || bad "page: '$(page /)'"
EOT

test_expect_success 'clone from the same URL' <<'EOT'
expect 0 "git clone over HTTP" -- git clone -q "$R" "$T/clone"
[ "$(cat "$T/clone/index.html" 2>/dev/null)" = "<h1>v2</h1>" ] && ok "the clone has main at v2" || bad "clone: $(ls "$T/clone")"
EOT

test_expect_success 'a deployment with an outside repository also takes pushes' <<'EOT'
make_repo "$T/outside"
commit_repo "$T/outside" outside-v2
out_sha=$(git -C "$T/outside" rev-parse HEAD)
expect 0 "create a deployment with an outside repository" -- "$W" deployment create "${name}o" --repo "file://$T/outside"
expect 0 "deploy it from its repository" -- "$W" deploy "${name}o" --follow
RO="http://push:$TOKEN@${BASE#http://}/git/${name}o.git"
expect 0 "a push to it deploys the pushed commit" -- git -C "$T/work" push "$RO" main
cur() { json_get "$("$W" deployment show "${name}o" --json)" "j['current_commit']"; }
[ "$(cur)" = "$v2" ] && ok "it runs the pushed commit" || bad "current: $(cur), wanted pushed $v2"
expect 0 "deploy from its repository again" -- "$W" deploy "${name}o" --follow
[ "$(cur)" = "$out_sha" ] && ok "it runs its repository's main again" || bad "current: $(cur), wanted $out_sha"
commit_repo "$T/work" v3-pushed
expect 0 "and a push again" -- git -C "$T/work" push "$RO" main
[ "$(cur)" = "$(sha)" ] && ok "it runs the new pushed commit" || bad "current: $(cur), wanted $(sha)"
git -C "$T/work" reset -q --hard "$v2"
expect 0 "deleting the deployment" -- "$W" deployment delete "${name}o"
[ ! -e "$T/data/git/${name}o.git" ] && [ ! -e "$T/data/git/.staging/${name}o.git" ] \
  && ok "its hosted and staging repositories are removed" || bad "left: $(ls -a "$T/data/git" "$T/data/git/.staging")"
EOT

test_expect_success 'scripts/post-receive in a bare repository webops does not host' <<'EOT'
git init -q --bare "$T/own.git"
ln -s "${WEBOPS_SOURCE_DIR:?}/scripts/post-receive" "$T/own.git/hooks/post-receive"
git -C "$T/own.git" config webops.deployment "${name}p"
git -C "$T/own.git" config webops.command "$W"
expect 0 "create a deployment of that repository" -- "$W" deployment create "${name}p" --repo "file://$T/own.git"
expect 0 "a push to it deploys through post-receive" -- git -C "$T/work" push "$T/own.git" main
contains "the pusher sees the deploy" "$ERR" "remote: run "
pcur=$(json_get "$("$W" deployment show "${name}p" --json)" "j['current_commit']")
[ "$pcur" = "$v2" ] && ok "post-receive deployed the pushed commit" || bad "current: $pcur, wanted $v2; push: $ERR"
expect 0 "another branch is not deployed" -- git -C "$T/work" push "$T/own.git" feature
[ "$(grep -c 'remote: run' "$T/err")" = 0 ] && ok "no run for another branch" || bad "push: $ERR"
"$W" deployment delete "${name}p" >/dev/null 2>&1
EOT

test_expect_success 'SSH' <<'EOT'
ssh_skipped=
sshd_bin=$(command -v sshd || echo /usr/sbin/sshd)
if [ ! -x "$sshd_bin" ] || ! command -v ssh >/dev/null || ! command -v ssh-keygen >/dev/null; then
  echo "skipped: the SSH part (no sshd: apt-get install openssh-server)"
  ssh_skipped=1
else
  S=$T/ssh
  mkdir -p "$S"
  chmod 700 "$S"
  ssh-keygen -q -t ed25519 -N '' -f "$S/host_key"
  ssh-keygen -q -t ed25519 -N '' -C "tester@example" -f "$S/client"
  ssh-keygen -q -t ed25519 -N '' -C "someone@else" -f "$S/other"
  # an operator's lines, one without a final newline: they must survive byte for byte
  { printf '# managed by hand\n'; cat "$S/other.pub"; printf 'command="/bin/false" %s no-newline-at-end' "$(cut -d' ' -f1,2 "$S/other.pub")"; } \
    >"$S/authorized_keys"
  cp "$S/authorized_keys" "$S/authorized_keys.orig"

  expect 1 "a private key is refused" -- "$W" ssh-key add tester --key-file "$S/client"
  contains "says to give the .pub" "$ERR" "give the public key instead, the .pub file"
  echo "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAD6A== truncated" >"$S/bad.pub"
  expect 1 "a damaged key is refused" -- "$W" ssh-key add tester --key-file "$S/bad.pub"
  expect 1 "a bad key name is refused" -- "$W" ssh-key add 'no/slash' --key-file "$S/client.pub"
  expect 0 "ssh-key add" -- "$W" ssh-key add tester --key-file "$S/client.pub"
  fp=$(ssh-keygen -lf "$S/client.pub" | cut -d' ' -f2)
  contains "prints the fingerprint ssh-keygen prints" "$OUT" "$fp"
  expect 0 "ssh-key list" -- "$W" ssh-key list
  contains "lists the key and its fingerprint" "$OUT" "tester"
  contains "with its fingerprint" "$OUT" "$fp"
  expect 1 "the same key twice is refused" -- "$W" ssh-key add tester2 --key-file "$S/client.pub"
  contains "names the key it is already" "$ERR" "already added as 'tester'"
  # without webops' line, the file is the operator's bytes
  if python3 -c 'import sys; a=open(sys.argv[1],"rb").read(); o=open(sys.argv[2],"rb").read()
sys.exit(b"".join(l for l in a.splitlines(True) if not l.rstrip(b"\n").endswith(b" webops:tester")) != o)' \
     "$S/authorized_keys" "$S/authorized_keys.orig"; then
    ok "the operator's lines are untouched after add"
  else bad "authorized_keys changed: $(cat "$S/authorized_keys")"; fi
  ourline=$(grep ' webops:tester$' "$S/authorized_keys")
  contains "our line is restricted to git-shell" "$ourline" "restrict,command=\"$BIN/webops --data-dir $T/data git-shell tester\" ssh-ed25519 "
  [ "$(stat -c %a "$S/authorized_keys")" = 600 ] && ok "authorized_keys is mode 0600" || bad "mode $(stat -c %a "$S/authorized_keys")"

  sshport=$(free_port)
  [ "$(id -u)" -eq 0 ] && [ ! -d /run/sshd ] && mkdir -p /run/sshd && chmod 755 /run/sshd
  cat >"$S/sshd_config" <<EOF
Port $sshport
ListenAddress 127.0.0.1
HostKey $S/host_key
PidFile $S/sshd.pid
AuthorizedKeysFile $S/authorized_keys
UsePAM no
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
SetEnv "WEBOPS_DATABASE_URL=$WEBOPS_DATABASE_URL" "PATH=$PATH"
EOF
  "$sshd_bin" -D -f "$S/sshd_config" -E "$S/sshd.log" &
  _pids+=("$!")
  for i in $(seq 600); do
    python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$sshport),0.2)" 2>/dev/null && break
    sleep 0.1
  done
  user=$(id -un)
  export GIT_SSH_COMMAND="ssh -F /dev/null -i $S/client -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
  RS="ssh://$user@127.0.0.1:$sshport/$name.git"

  commit_repo "$T/work" v3
  expect 0 "git push over SSH deploys" -- git -C "$T/work" push "$RS" main
  contains "the build shows as remote: lines over SSH" "$ERR" "remote: "
  contains "the pusher's key is named" "$ERR" "pushed by SSH key 'tester'"
  wait_page "<h1>v3</h1>" && ok "the site answers v3" || { bad "page: '$(page /)'; push: $ERR"; tail -5 "$S/sshd.log"; }
  commit_repo "$T/work" v4
  expect 0 "a second SSH push deploys" -- git -C "$T/work" push "$RS" main
  wait_page "<h1>v4</h1>" && ok "the site answers v4" || bad "page: '$(page /)'"
  v4=$(sha)
  printf 'FROM %s\nRUN false\n' "$base" >"$T/work/Dockerfile"
  git -C "$T/work" add Dockerfile
  git -C "$T/work" commit -qm "broken again"
  expect 1 "a failing commit is refused over SSH" -- git -C "$T/work" push "$RS" main
  contains "says the push is refused" "$ERR" "the push is refused"
  [ "$(git ls-remote "$RS" refs/heads/main | cut -f1)" = "$v4" ] && ok "main is still v4 (ls-remote over SSH)" \
    || bad "server main: $(git ls-remote "$RS" refs/heads/main)"
  [ "$(page /)" = "<h1>v4</h1>" ] && ok "the site still answers v4" || bad "page: '$(page /)'"
  git -C "$T/work" reset -q --hard "$v4"

  # the pusher's connection drops (ssh killed) at the first build line: the
  # run is cancelled, the branch does not move and v4 keeps serving
  printf 'FROM %s\nRUN echo slow-build-begins && sleep 60\n' "$base" >"$T/work/Dockerfile"
  git -C "$T/work" add Dockerfile
  git -C "$T/work" commit -qm "slow build"
  git -C "$T/work" push "$RS" main >"$T/drop.out" 2>&1 &
  push_pid=$!
  for _ in $(seq 600); do grep -q "slow-build-begins" "$T/drop.out" && break; sleep 0.1; done
  grep -q "slow-build-begins" "$T/drop.out" && ok "the slow build shows in the push output" || bad "push output: $(cat "$T/drop.out")"
  dropped_at=$(date +%s%N)
  pkill -KILL -f -- "-i $S/client .*git-receive-pack" && ok "the ssh client is killed (the connection drops)" ||
    bad "no ssh client to kill"
  wait "$push_pid" 2>/dev/null
  drop_run=$(json_get "$("$W" runs "$name" --json)" "j[0]['id']")
  drop_status=
  for _ in $(seq 300); do
    drop_status=$(json_get "$("$W" runs "$name" --json)" "j[0]['status']")
    [ "$drop_status" = cancelled ] && break
    sleep 0.1
  done
  [ "$drop_status" = cancelled ] && ok "the run of the dropped push is cancelled ($(( ($(date +%s%N) - dropped_at) / 1000000 )) ms after the drop)" ||
    bad "run $drop_run is '$drop_status'; push output: $(cat "$T/drop.out")"
  for _ in $(seq 100); do pgrep -f -- "git-hook $name" >/dev/null || break; sleep 0.1; done
  pgrep -f -- "git-hook $name" >/dev/null && bad "webops git-hook still runs: $(pgrep -af -- "git-hook $name")" ||
    ok "no git-hook or receive-pack is left running"
  [ "$(git ls-remote "$RS" refs/heads/main | cut -f1)" = "$v4" ] && ok "main did not move: still v4" \
    || bad "server main: $(git ls-remote "$RS" refs/heads/main)"
  [ "$(git --git-dir="$T/data/git/.staging/$name.git" rev-parse main)" = "$v4" ] && ok "the staging branch is back at v4" \
    || bad "staging main: $(git --git-dir="$T/data/git/.staging/$name.git" rev-parse main)"
  [ "$(page /)" = "<h1>v4</h1>" ] && ok "the site still answers v4" || bad "page: '$(page /)'"
  git -C "$T/work" reset -q --hard "$v4"
  expect 0 "git clone over SSH" -- git clone -q "$RS" "$T/clone-ssh"

  sshc() { $GIT_SSH_COMMAND -p "$sshport" "$user@127.0.0.1" "$@" </dev/null; }
  expect 1 "ssh 'ls /' is refused" -- sshc 'ls /'
  contains "says what is allowed" "$ERR" "is not allowed: this SSH key may only run git push and git fetch"
  expect 1 "an interactive login is refused" -- sshc
  expect 1 "shell metacharacters are refused" -- sshc "git-receive-pack '$name.git'; touch $T/pwned"
  [ ! -e "$T/pwned" ] && ok "nothing ran" || bad "the command ran"
  expect 1 "extra arguments are refused" -- sshc "git-upload-pack '$name.git' extra"
  expect 1 "a path outside is refused" -- sshc "git-upload-pack '../etc/passwd'"
  expect 1 "an unknown deployment is refused" -- sshc "git-upload-pack 'nope.git'"
  contains "says there is no such deployment" "$ERR" "there is no deployment 'nope'"

  expect 0 "ssh-key remove" -- "$W" ssh-key remove tester
  cmp -s "$S/authorized_keys" "$S/authorized_keys.orig" && ok "authorized_keys is back to the operator's bytes" \
    || bad "authorized_keys after remove: $(diff "$S/authorized_keys" "$S/authorized_keys.orig")"
  expect 128 "the removed key cannot push" -- git -C "$T/work" ls-remote "$RS"
fi

stop_daemon
if [ "$_fail" -eq 0 ] && [ -n "$ssh_skipped" ]; then
  echo "$_count passed, 0 failed (the SSH part was skipped)"
  exit 77
fi
EOT
finish
