#!/usr/bin/env bash
# Builds the local agent images: the test fixture and the demo agent. No
# registry is needed: each is busybox-static plus a shell script, FROM scratch.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

[ -x /bin/busybox ] || { echo "[build-images] /bin/busybox missing: run scripts/ensure-docker.sh" >&2; exit 1; }

# Every build context made here is removed on exit, a failed build's too.
contexts=()
trap 'rm -rf "${contexts[@]}"' EXIT

build() { # <context folder> <tag>
  local ctx
  ctx="$(mktemp -d)"
  contexts+=("$ctx")
  cp "$root/scripts/agent.Dockerfile" "$ctx"/Dockerfile
  cp "$1"/agent.sh "$ctx"/
  cp /bin/busybox "$ctx"/busybox
  local log
  if ! log=$(DOCKER_BUILDKIT=0 docker build -q -t "$2" "$ctx" 2>&1); then
    echo "$log" >&2
    exit 1
  fi
  echo "[build-images] $2"
}

targets="${1:-all}"
if [ "$targets" = all ] || [ "$targets" = test ]; then
  build "$root/__test__/fixtures/agent" mercury-test-agent:latest
  DOCKER_BUILDKIT=0 docker build -q -t mercury-test-agent:badbind -f "$root/__test__/fixtures/badbind.Dockerfile" "$root/__test__/fixtures" >/dev/null 2>&1 \
    || { echo "[build-images] badbind variant failed" >&2; exit 1; }
  echo "[build-images] mercury-test-agent:badbind"
fi
if [ "$targets" = all ] || [ "$targets" = demo ]; then
  build "$root/demo/agent" mercury-agent:demo
fi
