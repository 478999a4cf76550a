#!/usr/bin/env bash
# Type-checks the contract's swap as the Mercury host sees it (__test__/host):
# `tsc --noEmit` under strict settings, once with Node's ESM resolution
# (nodenext, through the package's "exports" map) and once with a Bun
# project's (bundler). Exits non-zero on any type error.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

[ -f index.d.ts ] || { echo "typecheck: index.d.ts missing: run npm run build" >&2; exit 1; }
[ -x node_modules/.bin/tsc ] || { echo "typecheck: typescript missing: run npm install" >&2; exit 1; }

# The host resolves @mercury-ai/container-runner the way an installed
# dependency is resolved: a node_modules link to this checkout.
mkdir -p __test__/host/node_modules/@mercury-ai
ln -sfn ../../../.. __test__/host/node_modules/@mercury-ai/container-runner

status=0
for project in __test__/host/tsconfig.json __test__/host/tsconfig.bundler.json; do
  if npx --no -- tsc -p "$project"; then
    echo "typecheck: ok $project"
  else
    echo "typecheck: FAILED $project" >&2
    status=1
  fi
done
exit "$status"
