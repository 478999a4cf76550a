#!/usr/bin/env bash
# `npm run bench`: the engine floor, then the runner bench under Node and under
# Bun, then the comparison table (bench/README.md says what each figure means).
# Not part of `npm test`. Knobs: the BENCH_* and FLOOR_* variables of
# bench/README.md; BENCH_RUNTIMES="node bun" picks the runtimes.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "Docker engine"
scripts/ensure-docker.sh

step "npm dependencies, Bun"
if [ ! -x node_modules/.bin/napi ] || [ ! -d node_modules/dockerode ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
runtimes="${BENCH_RUNTIMES:-node bun}"
case " $runtimes " in
  *" bun "*) command -v bun >/dev/null 2>&1 || npm install -g bun --no-audit --no-fund ;;
esac

step "addon"
# Always: cargo rebuilds only what changed, and a .node older than the tree would bench old code.
npx napi build --platform --release

step "bench image"
docker image inspect mercury-test-agent:latest >/dev/null 2>&1 || scripts/build-images.sh test
# The fixture agent plus a label of its own: the bench waits on its own containers only.
DOCKER_BUILDKIT=0 docker build -q -t "${BENCH_IMAGE:-mercury-bench-agent:latest}" - < bench/agent.Dockerfile >/dev/null
echo "${BENCH_IMAGE:-mercury-bench-agent:latest}"

step "engine floor (bench/floor)"
cargo build --release --quiet --manifest-path bench/floor/Cargo.toml --target-dir bench/floor/target
bench/floor/target/release/mercury-bench-floor

for rt in $runtimes; do
  step "runner bench under $rt"
  case "$rt" in
    node) node --expose-gc bench/run.js ;;
    bun) bun bench/run.js ;;
    *) echo "unknown runtime $rt" >&2; exit 1 ;;
  esac
done

step "memory per result (bench/result-memory.js)"
node --expose-gc bench/result-memory.js

step "egress: a turn with it and without, and the proxy per request (bench/egress.js)"
scripts/build-egress-proxy.sh
docker image inspect mercury-test-agent:runtimes >/dev/null 2>&1 || scripts/build-images.sh test
node bench/egress.js

step "comparison (bench/results/latest-*.json, floor.json)"
node bench/report.js
