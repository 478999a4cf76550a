#!/usr/bin/env bash
# Debian's docker-registry on 127.0.0.1:5001 behind htpasswd basic auth, holding the fixture image as
# 127.0.0.1:5001/mercury-test-agent:auth (pushed through the second engine: start tls-dockerd.sh
# first). Also a scratch DOCKER_CONFIG logged in to it, for the authenticated-pull tests.
#   registry-auth.sh start | env | stop
source "$(dirname "$0")/lib.sh"

D="$ENGINES_DIR/registry-auth"
PORT=5001
REGISTRY="127.0.0.1:$PORT"
IMAGE="$REGISTRY/mercury-test-agent:auth"
PIDFILE="$D/registry.pid"
USER_NAME=mercury
SECOND=(-H "unix://$ENGINES_DIR/dockerd/docker.sock")

print_env() {
  cat <<ENV
export MERCURY_AUTH_REGISTRY=$REGISTRY
export MERCURY_AUTH_IMAGE=$IMAGE
export MERCURY_AUTH_USER=$USER_NAME
export MERCURY_AUTH_PASSWORD_FILE=$D/password
export MERCURY_AUTH_CONFIG=$D/logged-in
ENV
}

# 401 without credentials is the answer of a registry that requires them.
answers() { curl -s -o /dev/null -w '%{http_code}' "http://$REGISTRY/v2/" | grep -q 401; }

start() {
  command -v docker-registry >/dev/null || die "docker-registry is not installed (apt-get install docker-registry)"
  command -v htpasswd >/dev/null || die "htpasswd is not installed (apt-get install apache2-utils)"
  [ -S "$ENGINES_DIR/dockerd/docker.sock" ] || die "the second engine is not running: start tls-dockerd.sh first"
  mkdir -p "$D/data"
  if [ ! -s "$D/password" ]; then
    (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$D/password")
  fi
  # -i reads the password from stdin: it never appears on a command line.
  htpasswd -iBc "$D/htpasswd" "$USER_NAME" <"$D/password" 2>/dev/null
  cat >"$D/config.yml" <<CONF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $D/data
http:
  addr: $REGISTRY
auth:
  htpasswd:
    realm: mercury-test
    path: $D/htpasswd
CONF
  if pid_alive "$PIDFILE" && answers; then
    log "already running (pid $(cat "$PIDFILE"))"
  else
    log "starting docker-registry with basic auth on $REGISTRY (log: $D/registry.log)"
    daemon "$PIDFILE" "$D/registry.log" docker-registry serve "$D/config.yml"
    wait_until "$START_WAIT_SECS" answers || { tail -n 20 "$D/registry.log" >&2; stop; die "registry did not answer"; }
  fi
  mkdir -p "$D/logged-in"
  docker --config "$D/logged-in" "${SECOND[@]}" login -u "$USER_NAME" --password-stdin "$REGISTRY" <"$D/password" >/dev/null
  docker "${SECOND[@]}" tag mercury-test-agent:latest "$IMAGE"
  docker --config "$D/logged-in" "${SECOND[@]}" push -q "$IMAGE" >/dev/null
  # The tests pull it: no local copy may stand in for the pull.
  docker "${SECOND[@]}" rmi -f "$IMAGE" >/dev/null
  log "pushed $IMAGE"
  print_env
}

stop() { stop_pid "$PIDFILE" docker-registry; }

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  env) print_env ;;
  *) die "usage: $0 start|stop|env" ;;
esac
