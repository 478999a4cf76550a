# Shared by the test-engine scripts: where their state lives, logging, waiting, stopping by pid.
# Sourced, not run. Every daemon a script starts writes its pid to $ENGINES_DIR/<name>.pid and is
# stopped by that pid only.
set -euo pipefail

# Short on purpose: unix socket paths are limited to 108 bytes.
ENGINES_DIR="${MERCURY_ENGINES_DIR:-/tmp/mcr-eng}"
# Stop waits this long for a daemon to exit after SIGTERM, then sends SIGKILL.
STOP_GRACE_SECS=20
# A daemon must answer within this long after start.
START_WAIT_SECS=60

log() { printf '[%s] %s\n' "$(basename "$0" .sh)" "$*" >&2; }
die() { log "$*"; exit 1; }

# wait_until <seconds> <command...>: polls until the command succeeds.
wait_until() {
  local secs="$1"; shift
  local end=$((SECONDS + secs))
  while [ "$SECONDS" -lt "$end" ]; do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  return 1
}

# pid_alive <pidfile>: the pid in the file runs.
pid_alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# stop_pid <pidfile> <what>: SIGTERM, wait, SIGKILL; idempotent.
stop_pid() {
  local file="$1" what="$2" pid
  if ! pid_alive "$file"; then rm -f "$file"; return 0; fi
  pid="$(cat "$file")"
  log "stopping $what (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  local end=$((SECONDS + STOP_GRACE_SECS))
  while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$end" ]; do sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then
    log "$what did not stop in ${STOP_GRACE_SECS}s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

# stop_dockerd <state dir> <pidfile> <bridge>: a test dockerd, a start still in flight
# (its launcher's pid file exists only then, or after a failed start), and its bridge.
stop_dockerd() {
  [ -f "$1/launcher.pid" ] && stop_pid "$1/launcher.pid" "dockerd (starting)"
  stop_pid "$2" dockerd
  if ip link show "$3" >/dev/null 2>&1; then
    ip link del "$3"
  fi
}

# daemon <pidfile> <logfile> <command...>: starts a command in its own session, records its pid.
daemon() {
  local pidfile="$1" logfile="$2"; shift 2
  setsid "$@" >"$logfile" 2>&1 </dev/null &
  echo $! >"$pidfile"
}

# engine_lock <command...>: runs the command under the shared engine lock, unless the caller
# already owns the main engine (npm test sets MERCURY_ENGINE_LOCK_HELD: it may itself be run
# under that lock, and waiting on it again would never end).
engine_lock() {
  if [ -n "${MERCURY_ENGINE_LOCK_HELD:-}" ]; then "$@"; else flock /tmp/mercury-engine.lock "$@"; fi
}

# copy_image <image> <docker args for the target engine...>: the main engine's image into another
# engine, unless that engine has the same image (same id) already: the engines' state outlives a run,
# and a tag copied by an earlier run would otherwise keep an old fixture (without newer modes).
# Reading the main engine is under the shared engine lock.
copy_image() {
  local image="$1"; shift
  local want have
  want="$(engine_lock docker image inspect --format '{{.Id}}' "$image")"
  have="$(docker "$@" image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)"
  if [ "$want" = "$have" ]; then return 0; fi
  local tar="$ENGINES_DIR/image.tar"
  engine_lock docker save -o "$tar" "$image"
  docker "$@" load -q -i "$tar" >&2
  rm -f "$tar"
}

# ensure_fixture: the fixture agent image exists on the main engine (built under the lock if not).
ensure_fixture() {
  local root; root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  if ! engine_lock docker image inspect mercury-test-agent:latest >/dev/null 2>&1; then
    log "building the fixture images on the main engine"
    engine_lock "$root/scripts/build-images.sh" test >&2
  fi
}
