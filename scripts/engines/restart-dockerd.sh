#!/usr/bin/env bash
# A dockerd of the engine-restart test's own (__test__/engine-restart.test.js), which stops it under a
# run in flight and starts it again. The test never restarts the main engine: that would end every
# other user's agents, and it would depend on how that engine was started (systemd, dockerd &, this
# project's scripts). Like tls-dockerd.sh's: its own data and exec roots, pid file, unix socket,
# containerd and bridge; no --bridge=none, no --default-address-pool, no iptables (the chains are the
# main engine's), and another process name (mcr-dockerd-r, a link to dockerd).
#
#   restart-dockerd.sh start <image>   starts it unless it runs, loads the image from the main engine,
#                                      prints its endpoint (unix://...)
#   restart-dockerd.sh stop            stops it by pid, removes its bridge; idempotent
# State: $MERCURY_ENGINES_DIR (default /tmp/mcr-eng)/restart.
source "$(dirname "$0")/lib.sh"

D="$ENGINES_DIR/restart"
PIDFILE="$D/dockerd.pid"
SOCK="$D/docker.sock"
BRIDGE=mcr-br1
# A /24 nothing on this machine routes (docker0 is 172.17/16, tls-dockerd.sh's is 10.213.7/24).
BRIDGE_ADDR=10.213.8.1/24

answers() { docker -H "unix://$SOCK" version --format '{{.Server.Version}}'; }

make_bridge() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
    ip addr add "$BRIDGE_ADDR" dev "$BRIDGE"
  fi
  ip link set "$BRIDGE" up
}

start() {
  local image="${1:?usage: $0 start <image>}"
  [ "$(id -u)" -eq 0 ] || die "starting a dockerd needs root"
  command -v dockerd >/dev/null || die "dockerd is not installed (scripts/ensure-docker.sh installs it)"
  command -v ip >/dev/null || die "ip is not installed (iproute2; scripts/test.sh installs it)"
  mkdir -p "$D/bin"
  if pid_alive "$PIDFILE" && answers >/dev/null 2>&1; then
    log "already running (pid $(cat "$PIDFILE"))"
  else
    make_bridge
    log "starting dockerd on unix://$SOCK (log: $D/dockerd.log)"
    ln -sf "$(command -v dockerd)" "$D/bin/mcr-dockerd-r"
    daemon "$D/launcher.pid" "$D/dockerd.log" "$D/bin/mcr-dockerd-r" \
      --data-root "$D/data" --exec-root "$D/exec" --pidfile "$PIDFILE" -H "unix://$SOCK" \
      --bridge "$BRIDGE" --iptables=false --ip-masq=false --cgroup-parent /mcr-eng-restart \
      --log-level warn
    if ! wait_until "$START_WAIT_SECS" answers; then
      tail -n 30 "$D/dockerd.log" >&2
      stop
      die "dockerd did not answer within ${START_WAIT_SECS}s"
    fi
    rm -f "$D/launcher.pid"
  fi
  copy_image "$image" -H "unix://$SOCK"
  echo "unix://$SOCK"
}

stop() { stop_dockerd "$D" "$PIDFILE" "$BRIDGE"; }

case "${1:-}" in
  start) shift; start "$@" ;;
  stop) stop ;;
  pidfile) echo "$PIDFILE" ;;
  *) die "usage: $0 start <image>|stop|pidfile" ;;
esac
