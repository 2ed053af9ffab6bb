#!/usr/bin/env bash
# scripts/docker-env stop stops only the engine the caller started: a run that
# found an engine running (started by another run) must leave it alone. The
# "engine" here is a sleep standing in for someone else's dockerd.
. "$(dirname "$0")/lib.sh"

test_setup 'the deployment and what it needs' <<'EOT'
run=$T/run
mkdir -p "$run"
setsid sleep 300 </dev/null >/dev/null 2>&1 &
other=$!
_pids+=("$other")
echo "$other" >"$run/started-by-webops"
denv=$WEBOPS_SOURCE_DIR/scripts/docker-env

WEBOPS_DOCKER_RUN_DIR=$run "$denv" stop
kill -0 "$other" 2>/dev/null && ok "stop without a pid leaves another run's engine running" || bad "stop killed it"
WEBOPS_DOCKER_RUN_DIR=$run "$denv" stop 999999
kill -0 "$other" 2>/dev/null && ok "stop with another pid leaves it running" || bad "stop 999999 killed it"
[ -f "$run/started-by-webops" ] && ok "...and keeps its record" || bad "the record was removed"
WEBOPS_DOCKER_RUN_DIR=$run "$denv" stop "$other"
sleep 0.2
kill -0 "$other" 2>/dev/null && bad "stop PID did not stop the engine it names" || ok "stop PID stops the engine that run started"
[ ! -f "$run/started-by-webops" ] && ok "...and forgets it" || bad "record kept"
EOT
finish
