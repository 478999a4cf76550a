#!/usr/bin/env bash
# A rootless dockerd for the egress tests on rootless Docker: Debian's dockerd-rootless.sh
# (rootlesskit + slirp4netns: dockerd, its containerd and bridges live in a user and network
# namespace of their own), run by an unprivileged user made for it, with its own socket, data and
# exec roots. It never touches the main engine (/var/run/docker.sock, docker0, its data root).
#
#   rootless-dockerd.sh start    starts it (if not running), prints the env the tests need
#   rootless-dockerd.sh env      prints that env
#   rootless-dockerd.sh stop     stops it by pid (rootlesskit's: it takes dockerd, containerd
#                                and slirp4netns with it); idempotent
#   rootless-dockerd.sh remove   stop, then remove its data, its user and that user's subuid/subgid ranges
#
# MERCURY_ROOTLESS_HOST_LOOPBACK=1 at start: host.docker.internal reaches this machine's loopback
# (rootlesskit without --disable-host-loopback, dockerd --host-gateway-ip=10.0.2.2, slirp4netns'
# address for the host's 127.0.0.1). Without it (upstream's default) host.docker.internal is the
# engine's own docker0 inside rootlesskit's namespace: a server on the host is out of reach, and the
# tests' servers must listen in that namespace (nsenter --net=$MERCURY_ROOTLESS_NETNS).
#
# The user's containers' files are the user's: a runner driving this engine runs as that user
# (MERCURY_ROOTLESS_USER), as Mercury does with a rootless engine, or the engine cannot bind its folders.
# State: $MERCURY_ENGINES_DIR (default /tmp/mcr-eng)/rootless.
source "$(dirname "$0")/lib.sh"

RL_USER=mercury-rootless
RL_HOME=/var/lib/mercury-rootless
D="$ENGINES_DIR/rootless"
RUN="$D/run" # the user's XDG_RUNTIME_DIR: rootlesskit's state, dockerd's socket and pid file
SOCK="$RUN/docker.sock"
PIDFILE="$D/rootlesskit.pid"
# The user's subordinate ids: the container's uids 1..65535 map there (as dockerd-rootless-setuptool.sh expects).
SUB_COUNT=65536
SUB_FIRST=231072
# /dev/net/tun is 0600 root here (rootlesskit makes slirp4netns' tap device through it as the
# user): an ACL entry for the user alone, removed at stop. This file says start added it.
TUN_MARK="$D/tun-acl"
# slirp4netns' address for the host's loopback (rootlesskit's default 10.0.2.0/24 network).
SLIRP_HOST=10.0.2.2
# What host.docker.internal is in the running engine: "loopback" or "engine" (see above).
MODE_FILE="$D/mode"

print_env() {
  local pid=""
  [ -s "$RUN/dockerd.pid" ] && pid="$(cat "$RUN/dockerd.pid")"
  cat <<ENV
export MERCURY_ROOTLESS_HOST=unix://$SOCK
export MERCURY_ROOTLESS_USER=$RL_USER
export MERCURY_ROOTLESS_NETNS=/proc/$pid/ns/net
export MERCURY_ROOTLESS_GATEWAY_MODE=$(cat "$MODE_FILE" 2>/dev/null)
ENV
}

install_packages() {
  local need=()
  command -v rootlesskit >/dev/null || need+=(rootlesskit)
  command -v slirp4netns >/dev/null || need+=(slirp4netns)
  command -v newuidmap >/dev/null || need+=(uidmap)
  command -v setfacl >/dev/null || need+=(acl)
  [ "${#need[@]}" -eq 0 ] && return 0
  log "installing ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
}

# sub_range <file>: the user's line, or a free range after every other one appended to the file.
sub_range() {
  grep -q "^$RL_USER:" "$1" && return 0
  local first
  first="$(awk -F: -v min="$SUB_FIRST" 'BEGIN { m = min } { e = $2 + $3; if (e > m) m = e } END { print m }' /etc/subuid /etc/subgid)"
  echo "$RL_USER:$first:$SUB_COUNT" >>"$1"
}

make_user() {
  if ! id "$RL_USER" >/dev/null 2>&1; then
    log "making the user $RL_USER (home $RL_HOME)"
    useradd --system --create-home --home-dir "$RL_HOME" --shell /usr/sbin/nologin "$RL_USER"
  fi
  touch /etc/subuid /etc/subgid
  sub_range /etc/subuid
  sub_range /etc/subgid
}

tun_access() {
  if [ "$(stat -c %a /dev/net/tun)" = 666 ] || getfacl -p /dev/net/tun 2>/dev/null | grep -q "^user:$RL_USER:rw"; then return 0; fi
  setfacl -m "u:$RL_USER:rw" /dev/net/tun
  touch "$TUN_MARK"
}

answers() { docker -H "unix://$SOCK" version --format '{{.Server.Version}}'; }

start() {
  [ "$(id -u)" -eq 0 ] || die "needs root (a user, subuid ranges, /dev/net/tun access)"
  [ -x /usr/share/docker.io/contrib/dockerd-rootless.sh ] || die "no dockerd-rootless.sh (Debian's docker.io ships it)"
  install_packages
  make_user
  mkdir -p "$D"
  chmod 755 "$D"
  local mode=engine
  [ "${MERCURY_ROOTLESS_HOST_LOOPBACK:-}" = 1 ] && mode=loopback
  if pid_alive "$PIDFILE" && answers >/dev/null 2>&1 && [ "$(cat "$MODE_FILE" 2>/dev/null)" = "$mode" ]; then
    log "already running (rootlesskit pid $(cat "$PIDFILE"), host.docker.internal: $mode)"
  else
    stop_quietly
    tun_access
    install -d -o "$RL_USER" -g "$RL_USER" -m 700 "$RUN" "$D/data" "$D/exec"
    local kit_flags="" gateway=()
    if [ "$mode" = loopback ]; then
      kit_flags="--disable-host-loopback=false"
      gateway=(--host-gateway-ip "$SLIRP_HOST")
    fi
    log "starting a rootless dockerd as $RL_USER on unix://$SOCK, host.docker.internal: $mode (log: $D/dockerd.log)"
    echo "$mode" >"$MODE_FILE"
    # setsid execs setpriv, which execs the script, which execs rootlesskit: the pid is rootlesskit's.
    (cd / && daemon "$PIDFILE" "$D/dockerd.log" setpriv --reuid="$RL_USER" --regid="$RL_USER" --init-groups \
      env -i HOME="$RL_HOME" USER="$RL_USER" PATH=/usr/sbin:/usr/bin:/sbin:/bin XDG_RUNTIME_DIR="$RUN" \
      DOCKERD_ROOTLESS_ROOTLESSKIT_FLAGS="$kit_flags" \
      /usr/share/docker.io/contrib/dockerd-rootless.sh \
      --data-root "$D/data" --exec-root "$D/exec" -H "unix://$SOCK" --pidfile "$RUN/dockerd.pid" "${gateway[@]}")
    if ! wait_until "$START_WAIT_SECS" answers; then
      grep -v '^+' "$D/dockerd.log" | tail -n 30 >&2
      stop
      die "the rootless dockerd did not answer within ${START_WAIT_SECS}s"
    fi
  fi
  # No image is copied from the main engine (that would take its lock): scripts/test-rootless-egress.sh
  # builds the fixture it tests with on this engine.
  print_env
}

stop_quietly() {
  stop_pid "$PIDFILE" "rootlesskit (and its dockerd, containerd, slirp4netns)"
  local left
  if id "$RL_USER" >/dev/null 2>&1 && left="$(pgrep -u "$RL_USER" -l)"; then
    log "still running as $RL_USER (not stopped here: not started by this pid file): $left"
  fi
}

stop() {
  stop_quietly
  rm -f "$MODE_FILE"
  if [ -f "$TUN_MARK" ]; then
    setfacl -x "u:$RL_USER" /dev/net/tun 2>/dev/null || true
    rm -f "$TUN_MARK"
  fi
}

remove() {
  stop
  rm -rf "$D"
  if id "$RL_USER" >/dev/null 2>&1; then
    log "removing the user $RL_USER and its subuid/subgid ranges"
    userdel -r "$RL_USER" 2>/dev/null || userdel "$RL_USER"
  fi
  sed -i "/^$RL_USER:/d" /etc/subuid /etc/subgid
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  remove) remove ;;
  env) print_env ;;
  *) die "usage: $0 start|stop|remove|env" ;;
esac
