#!/usr/bin/env bash
# Starts Debian's docker-registry on 127.0.0.1:5000 (for the pull tests) unless one answers,
# and pushes the fixture image there as 127.0.0.1:5000/mercury-test-agent:pull.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
log() { printf '[start-registry] %s\n' "$*" >&2; }
pidfile=/tmp/mercury-registry.pid
answers() { timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/5000 && printf "GET /v2/ HTTP/1.0\r\n\r\n" >&3 && head -n 1 <&3' 2>/dev/null | grep -q ' 200 '; }

if ! answers; then
  command -v docker-registry >/dev/null || { log "docker-registry is not installed: run scripts/ensure-docker.sh"; exit 1; }
  log "starting docker-registry on 127.0.0.1:5000 (log: /var/log/mercury-registry.log)"
  "$root/scripts/detach.sh" docker-registry serve "$root/scripts/registry/config.yml" >/var/log/mercury-registry.log 2>&1 </dev/null &
  # Whoever started the tests stops it by this pid (scripts/stop-registry.sh); a registry that was already there is left alone.
  echo $! >"$pidfile"
  for _ in $(seq 1 50); do answers && break; sleep 0.2; done
  answers || { log "registry did not answer"; tail -n 20 /var/log/mercury-registry.log >&2; exit 1; }
fi

DOCKER_BUILDKIT=0 docker build -q -t 127.0.0.1:5000/mercury-test-agent:pull -f "$root/__test__/fixtures/pull.Dockerfile" "$root/__test__/fixtures" >/dev/null 2>&1 \
  || { log "building the pull image failed"; exit 1; }
docker push -q 127.0.0.1:5000/mercury-test-agent:pull >/dev/null
log "pushed 127.0.0.1:5000/mercury-test-agent:pull"
