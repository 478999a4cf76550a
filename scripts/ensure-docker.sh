#!/usr/bin/env bash
# Makes sure a Docker engine answers, installing and starting one when none does.
# A fresh machine has the docker client only; CI starts with no dockerd running.
set -euo pipefail

log() { printf '[ensure-docker] %s\n' "$*" >&2; }

engine_answers() { timeout 5 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

if engine_answers; then
  exit 0
fi

need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
[ -x /bin/busybox ] || need+=(busybox-static)
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    log "missing ${need[*]} and not root: install them, or start a Docker engine, then retry"
    exit 1
  fi
  log "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

# Only the default local socket is ours to start; a DOCKER_HOST elsewhere must be started by its owner.
case "${DOCKER_HOST:-unix:///var/run/docker.sock}" in
  unix:///var/run/docker.sock) ;;
  *) log "DOCKER_HOST=${DOCKER_HOST} does not answer; start that engine, or unset DOCKER_HOST"; exit 1 ;;
esac

if [ "$(id -u)" -ne 0 ]; then
  log "no engine answers and starting dockerd needs root"
  exit 1
fi

# A dockerd that died with the last session leaves its pid file behind and refuses to start.
if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
  log "removing stale /var/run/docker.pid"
  rm -f /var/run/docker.pid
fi
# The main engine is the one whose pid file is /var/run/docker.pid; other dockerds
# (the engine-matrix tests start their own) have pid files of their own.
if ! { [ -f /var/run/docker.pid ] && kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; }; then
  log "starting dockerd (log: /var/log/mercury-dockerd.log)"
  # setsid: the engine must outlive this script and the npm process that ran it.
  "$(dirname "$0")/detach.sh" dockerd >/var/log/mercury-dockerd.log 2>&1 </dev/null &
  started_here=1
fi

for _ in $(seq 1 60); do
  if engine_answers; then
    # Marks the engine as ours, so the test suite may restart it (engine-restart test).
    [ -n "${started_here:-}" ] && cp /var/run/docker.pid /var/run/mercury-dockerd.owner
    log "engine ready: $(docker version --format '{{.Server.Version}}')"
    exit 0
  fi
  sleep 1
done
log "dockerd did not answer within 60 s; its log:"
tail -n 30 /var/log/mercury-dockerd.log >&2 || true
exit 1
