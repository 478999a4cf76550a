#!/usr/bin/env bash
# Makes sure a Docker engine answers, installing and starting one when none does.
# A fresh machine has the docker client only; CI starts with no dockerd running.
set -euo pipefail

log() { printf '[ensure-docker] %s\n' "$*" >&2; }

engine_answers() { timeout 5 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

# gVisor, for `runtime: "runsc"` (hardening.test.js, and the hostile suite's runsc run).
# --network=host: gVisor's sentry uses the host kernel's stack inside the container's own
# network namespace (eth0 on the bridge, so API_URL at host.docker.internal answers).
# Registered plainly (gVisor's own netstack), Debian's runsc 20221219 refuses to start
# any container: it decides "root network namespace" by /proc/sys/net/core/rmem_default
# existing, and newer kernels (6.18 here) show it in every network namespace.
# --network=none would start too, with loopback only: no API_URL.
DAEMON_JSON=/etc/docker/daemon.json
RUNSC_ENTRY='{"path":"/usr/bin/runsc","runtimeArgs":["--network=host"]}'

engine_has_runsc() {
  local runtimes
  runtimes="$(timeout 5 docker info --format '{{json .Runtimes}}' 2>/dev/null)" || return 1
  [[ "$runtimes" == *'"runsc":'* ]]
}

# Adds runtimes.runsc to daemon.json, keeping everything else in it; an existing runsc
# entry is the operator's and stays. Written whole to a temporary file, then renamed.
register_runsc() {
  command -v node >/dev/null 2>&1 || { log "warning: no node to edit $DAEMON_JSON with; runsc not registered"; return 1; }
  mkdir -p "$(dirname "$DAEMON_JSON")"
  DAEMON_JSON="$DAEMON_JSON" RUNSC_ENTRY="$RUNSC_ENTRY" node -e '
    const fs = require("node:fs");
    const file = process.env.DAEMON_JSON;
    let cfg = {};
    try {
      cfg = JSON.parse(fs.readFileSync(file, "utf8"));
    } catch (e) {
      if (e.code !== "ENOENT") {
        console.error(`[ensure-docker] ${file} is not readable JSON (${e.message}); add runsc to its runtimes yourself`);
        process.exit(1);
      }
    }
    cfg.runtimes = cfg.runtimes || {};
    if (cfg.runtimes.runsc) process.exit(0);
    cfg.runtimes.runsc = JSON.parse(process.env.RUNSC_ENTRY);
    fs.writeFileSync(`${file}.mercury-tmp`, JSON.stringify(cfg, null, 2) + "\n", { mode: 0o644 });
    fs.renameSync(`${file}.mercury-tmp`, file);
    console.error(`[ensure-docker] runsc registered in ${file}`);
  '
}

# A reload, not a restart: running containers are untouched. Exclusive engine lock,
# unless the caller owns the engine already (npm test: MERCURY_ENGINE_LOCK_HELD).
reload_engine() {
  local pid; pid="$(cat /var/run/docker.pid)"
  if [ -n "${MERCURY_ENGINE_LOCK_HELD:-}" ]; then
    kill -HUP "$pid"
  else
    flock -w 300 /tmp/mercury-engine.lock kill -HUP "$pid"
  fi
}

# The running engine knows runsc, or is made to when it is the local one and we are root;
# otherwise a warning, never a failure: the engine answers, and the runsc tests fail on
# their own, naming what to register.
ensure_runsc() {
  engine_has_runsc && return 0
  case "${DOCKER_HOST:-unix:///var/run/docker.sock}" in
    unix:///var/run/docker.sock) ;;
    *) log "warning: the engine at DOCKER_HOST has no runsc runtime; the runsc tests will fail"; return 0 ;;
  esac
  if [ "$(id -u)" -ne 0 ]; then
    log "warning: the engine has no runsc runtime and registering it needs root; the runsc tests will fail"
    return 0
  fi
  if ! [ -x /usr/bin/runsc ]; then
    log "installing runsc"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq runsc >/dev/null || { apt-get update -qq && apt-get install -y -qq runsc >/dev/null; } \
      || { log "warning: runsc could not be installed; the runsc tests will fail"; return 0; }
  fi
  register_runsc || return 0
  log "reloading dockerd (SIGHUP) for the runsc runtime"
  reload_engine || { log "warning: could not signal dockerd; the runsc tests will fail"; return 0; }
  for _ in $(seq 1 50); do
    engine_has_runsc && return 0
    sleep 0.2
  done
  log "warning: dockerd did not take up runsc from $DAEMON_JSON (another --config-file?); the runsc tests will fail"
}

if engine_answers; then
  ensure_runsc
  exit 0
fi

need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
[ -x /bin/busybox ] || need+=(busybox-static)
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
[ -x /usr/bin/runsc ] || need+=(runsc)
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
  # Registered before the start: nothing to reload after.
  register_runsc || log "warning: starting dockerd without runsc; the runsc tests will fail"
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
    ensure_runsc
    exit 0
  fi
  sleep 1
done
log "dockerd did not answer within 60 s; its log:"
tail -n 30 /var/log/mercury-dockerd.log >&2 || true
exit 1
