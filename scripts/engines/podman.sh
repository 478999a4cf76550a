#!/usr/bin/env bash
# Debian's podman serving its Docker-compatible API on a socket of its own, for the engine tests,
# with its own containers.conf, storage.conf, storage root, run root, temp dir and network config,
# so nothing of a system podman (or of the main Docker engine) is shared.
# Its network backend is named, not left to podman (which picks netavark when it is installed
# and its storage is empty): CNI here; podman-netavark.sh runs a second one with netavark, whose
# internal networks give the host an address (egress refuses them, docs/egress.md).
#   podman.sh start | env | stop
source "$(dirname "$0")/lib.sh"

BACKEND="${PODMAN_NETWORK_BACKEND:-cni}"
case "$BACKEND" in
  # podman's default bridge, on a /24 nothing else here routes.
  cni) D="$ENGINES_DIR/podman"; SUBNET=10.213.8.0/24; HOST_VAR=MERCURY_PODMAN_HOST ;;
  netavark) D="$ENGINES_DIR/podman-netavark"; SUBNET=10.213.9.0/24; HOST_VAR=MERCURY_PODMAN_NETAVARK_HOST ;;
  *) die "unknown PODMAN_NETWORK_BACKEND $BACKEND" ;;
esac
SOCK="$D/podman.sock"
PIDFILE="$D/service.pid"
# podman raises a root container's nofile to 1048576 and nproc to its maximum; runc cannot set a
# limit above the service's own hard limit (nofile 20000 on the test machine), and the container
# fails to start ("error setting rlimits"). Cap both at this shell's hard limits; nproc also at
# pid_max, which the service lowers its own limit to.
hard_limit() { local v; v="$(ulimit -H "$1")"; [ "$v" = unlimited ] && v="$2"; echo "$v"; }
NOFILE_LIMIT="$(hard_limit -n 1048576)"
NPROC_LIMIT="$(hard_limit -u 4194304)"
PID_MAX="$(cat /proc/sys/kernel/pid_max)"
[ "$NPROC_LIMIT" -gt "$PID_MAX" ] && NPROC_LIMIT="$PID_MAX"

print_env() {
  cat <<ENV
export $HOST_VAR=unix://$SOCK
ENV
}

setup() {
  mkdir -p "$D/tmp" "$D/networks"
  cat >"$D/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=$NOFILE_LIMIT:$NOFILE_LIMIT", "nproc=$NPROC_LIMIT:$NPROC_LIMIT"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$D/events.log"
tmp_dir = "$D/tmp"
volume_path = "$D/volumes"

[network]
network_backend = "$BACKEND"
network_config_dir = "$D/networks"
default_subnet = "$SUBNET"
CONF
  cat >"$D/storage.conf" <<CONF
[storage]
driver = "overlay"
graphroot = "$D/storage"
runroot = "$D/run"
CONF
}

# The variables that point podman (service and CLI) at these files.
podman_env() { env CONTAINERS_CONF="$D/containers.conf" CONTAINERS_STORAGE_CONF="$D/storage.conf" "$@"; }

answers() { docker -H "unix://$SOCK" version --format '{{.Server.Version}}'; }

start() {
  command -v podman >/dev/null || die "podman is not installed (apt-get install podman)"
  [ "$BACKEND" = cni ] || [ -x /usr/lib/podman/netavark ] || die "netavark is not installed (apt-get install netavark aardvark-dns)"
  setup
  if pid_alive "$PIDFILE" && answers >/dev/null 2>&1; then
    log "already running (pid $(cat "$PIDFILE"))"
  else
    rm -f "$SOCK"
    log "starting podman system service ($BACKEND) on unix://$SOCK (log: $D/service.log)"
    daemon "$PIDFILE" "$D/service.log" env CONTAINERS_CONF="$D/containers.conf" CONTAINERS_STORAGE_CONF="$D/storage.conf" podman --log-level=warn system service --time=0 "unix://$SOCK"
    wait_until "$START_WAIT_SECS" answers || { tail -n 20 "$D/service.log" >&2; stop; die "podman did not answer"; }
  fi
  ensure_fixture
  copy_image mercury-test-agent:latest -H "unix://$SOCK"
  print_env
}

stop() {
  if [ -S "$SOCK" ] && answers >/dev/null 2>&1; then
    # Containers a failed test left behind would keep conmon processes alive past the service.
    podman_env podman rm -af -t 2 >/dev/null 2>&1 || true
  fi
  stop_pid "$PIDFILE" "podman service"
  rm -f "$SOCK"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  env) print_env ;;
  *) die "usage: $0 start|stop|env" ;;
esac
