#!/usr/bin/env bash
# The engine matrix: starts the test engines (scripts/engines/), runs the Rust engine tests against
# them (src/core/engine/tests/engine_matrix.rs, ignored by a plain cargo test: run here with --ignored) and the
# runner's reply tests through each (__test__/matrix/engines.js), and stops every engine it started,
# whatever happens. Extra arguments go to `cargo test`. Needs the addon built (npm run build).
#   scripts/test-engines.sh [--keep] [cargo test args...]     --keep: leave the engines running
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
engines="$root/scripts/engines"
keep=0
if [ "${1:-}" = --keep ]; then keep=1; shift; fi

stop_all() {
  local rc=$?
  if [ "$keep" = 1 ]; then exit "$rc"; fi
  # Reverse order of start: the sshd and registry lean on the second dockerd.
  "$engines/registry-auth.sh" stop || true
  "$engines/sshd.sh" stop || true
  "$engines/podman-netavark.sh" stop || true
  "$engines/podman.sh" stop || true
  "$engines/tls-dockerd.sh" stop || true
  exit "$rc"
}
trap stop_all EXIT INT TERM

"$engines/install.sh"
envfile="$(mktemp)"
for e in tls-dockerd sshd podman podman-netavark registry-auth; do
  "$engines/$e.sh" start >>"$envfile"
done
# shellcheck disable=SC1090
source "$envfile"
rm -f "$envfile"

export MERCURY_TEST_ENGINES=1
# The connector runs `ssh`: the wrapper with the test key and known_hosts must be the one found.
export PATH="$MERCURY_SSH_BIN:$PATH"
cd "$root"
cargo test --quiet --lib engine_matrix "$@" -- --ignored --nocapture --test-threads=1
# The runner itself through each engine: the core reply tests, and authenticated pulls.
npx jest --runInBand --testMatch '**/__test__/matrix/*.js' __test__/matrix
