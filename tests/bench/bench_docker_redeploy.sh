#!/usr/bin/env bash
# Benchmark: redeploy of a static site after a one-file change, from the
# commit to the new page being served, N times (default 5): webops end to end
# (webops deploy --follow through webopsd: libgit2 fetch, generated Dockerfile,
# streamed build, replace with rollback; start_grace_s=1) against the docker
# CLI doing the same work in the same run (git clone --depth 1, docker build,
# docker rm -f, docker run). Needs an engine and the base image
# (scripts/docker-env), WEBOPS_TEST_DATABASE_URL, WEBOPS_BIN_DIR, WEBOPS_BUILD_DIR.
set -uo pipefail
N=${1:-5}
. "$(dirname "$0")/../system/lib.sh"
need_db
host=${DOCKER_HOST:-unix:///var/run/docker.sock}
sock=${host#unix://}
if ! curl -sf --max-time 3 --unix-socket "$sock" http://localhost/_ping >/dev/null 2>&1 || ! command -v docker >/dev/null; then
  echo "skipped: no Docker engine or docker CLI (run scripts/docker-env)"; exit 77
fi
base=${WEBOPS_TEST_BASE_IMAGE:-webops-test/busybox:latest}
export DOCKER_HOST=$host
export WEBOPS_DATABASE_URL=$(new_db)
export WEBOPS_DATA_DIR=$T/data
export WEBOPS_ADDONS_PATH=${WEBOPS_BUILD_DIR:?}/addons
export WEBOPS_DOCKER_STATIC_BASE_IMAGE=$base
export WEBOPS_DOCKER_UNITS_DIR=$T/units
export WEBOPS_DOCKER_SYSTEMD_ENABLE=false
export WEBOPS_DOCKER_START_GRACE_S=1
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
p1=$(free_port); p2=$(free_port)
name="bench$$"
cleanup_docker() {
  "$W" hook run delete "$name" >/dev/null 2>&1
  docker rm -f "baseline-$name" >/dev/null 2>&1
  docker rmi -f "baseline/$name:latest" >/dev/null 2>&1
}
trap 'cleanup_docker; _cleanup' EXIT
ms() { echo $(( $(date +%s%N) / 1000000 )); }
wait_page() { # wait_page PORT TEXT: until the page shows TEXT (10 s at most)
  local i
  for i in $(seq 1000); do
    [ "$(curl -s --max-time 1 "http://127.0.0.1:$1/")" = "$2" ] && return 0
    sleep 0.01
  done
  return 1
}

make_repo "$T/repo"
for i in $(seq 50); do echo "asset $i" >"$T/repo/asset$i.txt"; done
git -C "$T/repo" add -A
git -C "$T/repo" -c user.name=Test -c user.email=test@example.com commit -qm assets
"$W" deployment create --name "$name" --repo "file://$T/repo" --set use_docker=true \
  --set docker_ports="[\"127.0.0.1:$p1:80\"]" >/dev/null
start_daemon --workers 1 || exit 1
"$W" deploy "$name" --follow >"$T/warm.log" 2>&1 || { echo "warm-up deploy failed"; cat "$T/warm.log"; exit 1; }

# the baseline's Dockerfile: what webops generated for this site
cat >"$T/Dockerfile.baseline" <<EOF
FROM $base
COPY ./ /www/
ENV PORT=80
CMD ["/bin/sh", "-c", "exec busybox httpd -f -v -p \"\${PORT}\" -h /www"]
EOF
baseline() {
  rm -rf "$T/bl"
  git clone -q --depth 1 "file://$T/repo" "$T/bl" &&
    cp "$T/Dockerfile.baseline" "$T/bl/Dockerfile" &&
    docker build -q -t "baseline/$name:latest" "$T/bl" >/dev/null 2>&1 &&
    docker rm -f "baseline-$name" >/dev/null 2>&1
  docker run -d --init --name "baseline-$name" -p "127.0.0.1:$p2:80" "baseline/$name:latest" >/dev/null
}
baseline || { echo "baseline warm-up failed"; exit 1; }

w=() b=()
for i in $(seq "$N"); do
  commit_repo "$T/repo" "w$i"
  t0=$(ms)
  "$W" deploy "$name" --follow >"$T/run.log" 2>&1 || { echo "deploy $i failed"; cat "$T/run.log"; exit 1; }
  wait_page "$p1" "<h1>w$i</h1>" || { echo "webops page $i not served"; exit 1; }
  w+=($(( $(ms) - t0 )))

  t0=$(ms)
  baseline || { echo "baseline $i failed"; exit 1; }
  wait_page "$p2" "<h1>w$i</h1>" || { echo "baseline page $i not served"; exit 1; }
  b+=($(( $(ms) - t0 )))
done
med() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
wm=$(med "${w[@]}"); bm=$(med "${b[@]}")
echo "bench_docker_redeploy: $N redeploys of a static site (52 files) after a one-file change, commit to new page served"
echo "  webops      median ${wm} ms   all: ${w[*]}   (includes start_grace_s=1 s of proof that the new container stays up)"
echo "  docker CLI  median ${bm} ms   all: ${b[*]}   (git clone --depth 1, docker build, docker rm -f, docker run)"
awk -v a="$wm" -v b="$bm" -v g=1000 'BEGIN {printf "  ratio       %.2f   (%.2f without the 1 s grace period)\n", a/b, (a-g)/b}'
stop_daemon
