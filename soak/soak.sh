#!/usr/bin/env bash
# `npm run soak`: engine, addon and fixture image as needed, then the soak under Node.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-docker.sh
[ -x node_modules/.bin/napi ] || npm ci --no-audit --no-fund >/dev/null
ls container-runner.*.node >/dev/null 2>&1 || npx napi build --platform --release
scripts/build-images.sh test >/dev/null
node --expose-gc soak/soak.js
