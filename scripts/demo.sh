#!/usr/bin/env bash
# `npm run demo`: engine, dependencies, addon and demo image as needed, then one turn.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-docker.sh
if [ ! -x node_modules/.bin/napi ]; then
  npm ci --no-audit --no-fund >/dev/null
fi
if ! ls container-runner.*.node >/dev/null 2>&1; then
  echo "[demo] building the addon (about 1.5 minutes the first time)" >&2
  npx napi build --platform --release >/dev/null 2>&1 || npx napi build --platform --release
fi
scripts/build-images.sh demo >/dev/null
node demo/run.js
