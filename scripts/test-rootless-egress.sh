#!/usr/bin/env bash
# options.egress on rootless Docker: starts scripts/engines/rootless-dockerd.sh with
# host.docker.internal at the host's loopback, builds the fixture agent on that engine from this
# tree, runs __test__/rootless/egress.js as the engine's own user, and stops the engine
# it started, whatever happens. Needs root (the engine's user is made and used) and the addon
# and egress proxy built (npm run build, scripts/build-egress-proxy.sh).
#   scripts/test-rootless-egress.sh [--keep]     --keep: leave the engine running
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
engines="$root/scripts/engines"
keep=0
[ "${1:-}" = --keep ] && keep=1
# The fixture as this tree has it, on the rootless engine only (the main engine's tags are untouched).
IMAGE=mercury-test-agent:rootless-egress

work="$(mktemp -d)"
# The engine's user passes through to its own Jest folder in it.
chmod 711 "$work"
stop_all() {
  local rc=$?
  rm -rf "$work"
  [ "$keep" = 1 ] || "$engines/rootless-dockerd.sh" stop || true
  exit "$rc"
}
trap stop_all EXIT INT TERM

MERCURY_ROOTLESS_HOST_LOOPBACK=1 "$engines/rootless-dockerd.sh" start >"$work/env"
# shellcheck disable=SC1091
source "$work/env"

mkdir "$work/ctx"
cp "$root/scripts/agent.Dockerfile" "$work/ctx/Dockerfile"
cp "$root/__test__/fixtures/agent/agent.sh" /bin/busybox "$work/ctx/"
if ! log=$(DOCKER_BUILDKIT=0 docker -H "$MERCURY_ROOTLESS_HOST" build -q -t "$IMAGE" "$work/ctx" 2>&1); then
  echo "$log" >&2
  exit 1
fi

# Jest's cache, the user's own (a root-owned one in /tmp would be unwritable to it).
install -d -o "$MERCURY_ROOTLESS_USER" -g "$MERCURY_ROOTLESS_USER" -m 700 "$work/jest"
cd "$root"
setpriv --reuid="$MERCURY_ROOTLESS_USER" --regid="$MERCURY_ROOTLESS_USER" --init-groups \
  env -i HOME="$work/jest" PATH="$PATH" TMPDIR=/tmp \
  DOCKER_HOST="$MERCURY_ROOTLESS_HOST" MERCURY_ROOTLESS_HOST="$MERCURY_ROOTLESS_HOST" MERCURY_TEST_IMAGE="$IMAGE" \
  node node_modules/jest/bin/jest.js --runInBand --cacheDirectory "$work/jest/cache" \
  --testMatch '**/__test__/rootless/egress.js' __test__/rootless/egress.js
