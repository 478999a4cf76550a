#!/usr/bin/env bash
# A second dockerd for the engine tests: TLS-verified on tcp://127.0.0.1:2376 with its own CA, plus a
# unix socket (for the ssh test's remote side), with its own data/exec roots, pid file, containerd
# and bridge. It never touches the main engine's bridge: no --bridge=none, no --default-address-pool
# (dockerd 20.10 then deletes docker0), and no iptables (the chains are shared with the main engine).
# It runs under another process name (mcr-dockerd, a symlink to dockerd): scripts/ensure-docker.sh
# decides whether the main engine runs with `pgrep -x dockerd`, and a second process named dockerd
# made it skip restarting the main engine after the engine-restart test stopped it.
#
#   tls-dockerd.sh start   starts it (if not running), prints the env the tests need
#   tls-dockerd.sh env     prints that env
#   tls-dockerd.sh stop    stops it by pid, removes its bridge; idempotent
# State: $MERCURY_ENGINES_DIR (default /tmp/mcr-eng)/dockerd and .../tls.
source "$(dirname "$0")/lib.sh"

D="$ENGINES_DIR/dockerd"
TLS="$ENGINES_DIR/tls"
CFG="$ENGINES_DIR/tls-config"
PIDFILE="$D/dockerd.pid"
SOCK="$D/docker.sock"
PORT=2376
BRIDGE=mcr-br0
# A /24 nothing on this machine routes (docker0 is 172.17/16, podman's is 10.88/16).
BRIDGE_ADDR=10.213.7.1/24
CONTEXT=mercury-tls
# Test certificates: never used elsewhere. Made afresh once fewer than CERT_MIN_LEFT_SECS of
# their CERT_DAYS are left, so a machine that first ran the tests a month ago still passes, and a
# certificate never expires during the run that uses it (a whole `npm test` is well under a day).
CERT_DAYS=30
CERT_MIN_LEFT_SECS=$((2 * 24 * 3600))

print_env() {
  cat <<ENV
export MERCURY_TLS_HOST=tcp://127.0.0.1:$PORT
export MERCURY_TLS_CERT_PATH=$TLS/client
export MERCURY_TLS_CONFIG=$CFG
export MERCURY_TLS_CONTEXT=$CONTEXT
export MERCURY_SECOND_SOCKET=unix://$SOCK
ENV
}

# certs_fresh: every certificate is there and valid for at least CERT_MIN_LEFT_SECS more.
certs_fresh() {
  [ -s "$TLS/client/key.pem" ] || return 1
  local c
  for c in "$TLS/ca.pem" "$TLS/server-cert.pem" "$TLS/client/cert.pem"; do
    openssl x509 -checkend "$CERT_MIN_LEFT_SECS" -noout -in "$c" >/dev/null 2>&1 || return 1
  done
}

make_certs() {
  certs_fresh && return 0
  # A dockerd still serving the old certificates would refuse the new client's: it goes first.
  if pid_alive "$PIDFILE"; then
    log "certificates near expiry: restarting dockerd with new ones"
    stop
  fi
  log "making a CA, a server and a client certificate in $TLS"
  # The docker context keeps its own copy of the client's certificates: it is made again too.
  rm -rf "$TLS" "$CFG"; mkdir -p "$TLS/client"
  local o="$TLS"
  openssl ecparam -name prime256v1 -genkey -noout -out "$o/ca-key.pem"
  openssl req -x509 -new -key "$o/ca-key.pem" -sha256 -days "$CERT_DAYS" -subj "/CN=mercury-test-ca" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$o/ca.pem"
  leaf() { # <name> <extensions>
    openssl ecparam -name prime256v1 -genkey -noout -out "$o/$1-key.pem"
    openssl req -new -key "$o/$1-key.pem" -subj "/CN=$1" -out "$o/$1.csr"
    printf '%s\n' "$2" >"$o/$1.ext"
    openssl x509 -req -in "$o/$1.csr" -CA "$o/ca.pem" -CAkey "$o/ca-key.pem" -CAcreateserial -sha256 \
      -days "$CERT_DAYS" -extfile "$o/$1.ext" -out "$o/$1-cert.pem" 2>/dev/null
  }
  leaf server "$(printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost')"
  leaf client "$(printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth')"
  cp "$o/ca.pem" "$o/client/ca.pem"
  mv "$o/client-cert.pem" "$o/client/cert.pem"
  mv "$o/client-key.pem" "$o/client/key.pem"
  chmod 600 "$o"/*-key.pem "$o/client/key.pem"
}

make_bridge() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
    ip addr add "$BRIDGE_ADDR" dev "$BRIDGE"
  fi
  ip link set "$BRIDGE" up
}

make_context() {
  mkdir -p "$CFG"
  if ! docker --config "$CFG" context inspect "$CONTEXT" >/dev/null 2>&1; then
    docker --config "$CFG" context create "$CONTEXT" \
      --docker "host=tcp://127.0.0.1:$PORT,ca=$TLS/client/ca.pem,cert=$TLS/client/cert.pem,key=$TLS/client/key.pem" >/dev/null
  fi
  docker --config "$CFG" context use "$CONTEXT" >/dev/null
}

answers() { docker -H "unix://$SOCK" version --format '{{.Server.Version}}'; }

start() {
  command -v dockerd >/dev/null || die "dockerd is not installed (scripts/ensure-docker.sh installs it)"
  mkdir -p "$D"
  make_certs
  if pid_alive "$PIDFILE" && answers >/dev/null 2>&1; then
    log "already running (pid $(cat "$PIDFILE"))"
  else
    make_bridge
    log "starting dockerd on tcp://127.0.0.1:$PORT (TLS) and unix://$SOCK (log: $D/dockerd.log)"
    mkdir -p "$D/bin"
    ln -sf "$(command -v dockerd)" "$D/bin/mcr-dockerd"
    daemon "$D/launcher.pid" "$D/dockerd.log" "$D/bin/mcr-dockerd" \
      --data-root "$D/data" --exec-root "$D/exec" --pidfile "$PIDFILE" \
      -H "unix://$SOCK" -H "tcp://127.0.0.1:$PORT" \
      --tlsverify --tlscacert "$TLS/ca.pem" --tlscert "$TLS/server-cert.pem" --tlskey "$TLS/server-key.pem" \
      --bridge "$BRIDGE" --iptables=false --ip-masq=false --cgroup-parent /mcr-eng-dockerd \
      --log-level warn
    # dockerd writes its own pid file once it is up; until then the launcher's pid is the daemon's.
    if ! wait_until "$START_WAIT_SECS" answers; then
      tail -n 30 "$D/dockerd.log" >&2
      stop
      die "dockerd did not answer within ${START_WAIT_SECS}s"
    fi
    rm -f "$D/launcher.pid"
  fi
  make_context
  ensure_fixture
  copy_image mercury-test-agent:latest -H "unix://$SOCK"
  print_env
}

stop() { stop_dockerd "$D" "$PIDFILE" "$BRIDGE"; }

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  env) print_env ;;
  *) die "usage: $0 start|stop|env" ;;
esac
