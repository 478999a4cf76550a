#!/usr/bin/env bash
# Stops the docker-registry that scripts/start-registry.sh started, by its pid; nothing else.
set -euo pipefail
pidfile=/tmp/mercury-registry.pid
[ -f "$pidfile" ] || exit 0
pid="$(cat "$pidfile")"
if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = docker-registry ]; then
  kill "$pid"
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  echo "[stop-registry] stopped docker-registry ($pid)" >&2
fi
rm -f "$pidfile"
