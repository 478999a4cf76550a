#!/usr/bin/env bash
# A loopback sshd for the engine tests, on 127.0.0.1:2222 with its own host key and one authorized
# key. Its sessions get DOCKER_HOST pointing at the second engine (tls-dockerd.sh's unix socket), so
# a client's remote `docker system dial-stdio` reaches that engine, not the main one.
#
# Clients use it through an `ssh` wrapper (printed as MERCURY_SSH_BIN: put it first on PATH) that
# adds `-F` with this key and a known_hosts holding this host key, so no ~/.ssh file is touched.
#
#   sshd.sh start | env | stop     (start needs tls-dockerd.sh started first)
source "$(dirname "$0")/lib.sh"

D="$ENGINES_DIR/ssh"
PORT=2222
PIDFILE="$D/sshd.pid"
SECOND_SOCK="$ENGINES_DIR/dockerd/docker.sock"

print_env() {
  cat <<ENV
export MERCURY_SSH_HOST=ssh://root@127.0.0.1:$PORT
export MERCURY_SSH_BIN=$D/bin
ENV
}

setup() {
  mkdir -p "$D/bin"
  [ -s "$D/host_key" ] || ssh-keygen -q -t ed25519 -N '' -C mercury-test-host -f "$D/host_key"
  [ -s "$D/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C mercury-test-client -f "$D/id_ed25519"
  cp "$D/id_ed25519.pub" "$D/authorized_keys"
  chmod 600 "$D/authorized_keys"
  printf '[127.0.0.1]:%s %s\n' "$PORT" "$(cut -d' ' -f1,2 "$D/host_key.pub")" >"$D/known_hosts"
  cat >"$D/sshd_config" <<CONF
ListenAddress 127.0.0.1
Port $PORT
HostKey $D/host_key
PidFile $PIDFILE
AuthorizedKeysFile $D/authorized_keys
AuthenticationMethods publickey
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
# The key files live under /tmp, which StrictModes would refuse.
StrictModes no
SetEnv DOCKER_HOST=unix://$SECOND_SOCK
CONF
  cat >"$D/ssh_config" <<CONF
Host 127.0.0.1
  IdentityFile $D/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $D/known_hosts
  StrictHostKeyChecking yes
  BatchMode yes
CONF
  cat >"$D/bin/ssh" <<WRAP
#!/bin/sh
exec /usr/bin/ssh -F "$D/ssh_config" "\$@"
WRAP
  chmod +x "$D/bin/ssh"
}

answers() { "$D/bin/ssh" -p "$PORT" -l root 127.0.0.1 true; }

start() {
  command -v /usr/sbin/sshd >/dev/null || die "sshd is not installed (apt-get install openssh-server)"
  [ -S "$SECOND_SOCK" ] || die "the second engine is not running: start tls-dockerd.sh first"
  setup
  if pid_alive "$PIDFILE" && answers; then
    log "already running (pid $(cat "$PIDFILE"))"
  else
    # sshd refuses to start without its privilege separation directory.
    mkdir -p /run/sshd
    log "starting sshd on 127.0.0.1:$PORT (log: $D/sshd.log)"
    daemon "$PIDFILE" "$D/sshd.log" /usr/sbin/sshd -D -e -f "$D/sshd_config"
    wait_until "$START_WAIT_SECS" answers || { tail -n 20 "$D/sshd.log" >&2; stop; die "sshd did not answer"; }
  fi
  print_env
}

stop() { stop_pid "$PIDFILE" sshd; }

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  env) print_env ;;
  *) die "usage: $0 start|stop|env" ;;
esac
