#!/usr/bin/env bash
# `npm run build:all`: the release addon for every target in package.json's
# napi.targets, cross-compiled from this Linux x64 machine with zig
# (`napi build --cross-compile`, i.e. cargo-zigbuild), put into the platform
# packages npm/<platform>/ (made by `napi create-npm-dirs`), and each binary
# checked (scripts/check-binary.sh: file type, architecture, libraries,
# glibc/macOS floor, napi entry point). Not part of `npm test`: about 2
# minutes per target on 2 cores once the dependencies are compiled.
#
#   npm run build:all                      # all targets
#   npm run build:all -- aarch64-apple-darwin x86_64-unknown-linux-musl
#
# zig and cargo-zigbuild come from PyPI (`ziglang`, `cargo-zigbuild`), pinned,
# in a venv under the cache folder (MERCURY_BUILD_CACHE, default
# ~/.cache/mercury-container-runner), made on first use and reused after.
# Missing Rust targets are added with rustup. Needs python3 with venv, rustup,
# and binutils + llvm (readelf, llvm-objdump, llvm-nm) for the checks.
#
# Windows x64 (x86_64-pc-windows-msvc, napi's win32-x64-msvc package) is
# built with Rust's x86_64-pc-windows-gnu target and Debian's mingw-w64, not
# zig (scripts/windows-toolchain.sh says why that is sound and what it sets
# up); `npm run test:windows` runs it under wine.
#
# The floors: gnu targets are built as <triple>.2.17, which makes zig link
# against glibc 2.17's symbol versions (otherwise this machine's 2.36);
# macOS targets get MACOSX_DEPLOYMENT_TARGET (otherwise zig stamps its
# newest macOS as the minimum).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

ZIGLANG_VERSION=0.17.1
CARGO_ZIGBUILD_VERSION=0.24.1
# shellcheck source=scripts/floors.sh
source "$(dirname "$0")/floors.sh"
# shellcheck source=scripts/windows-toolchain.sh
source "$(dirname "$0")/windows-toolchain.sh"

cache="${MERCURY_BUILD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mercury-container-runner}"
venv="$cache/zig-venv-$ZIGLANG_VERSION-$CARGO_ZIGBUILD_VERSION"

say() { printf 'build:all: %s\n' "$*"; }
die() { printf 'build:all: %s\n' "$*" >&2; exit 1; }

for tool in python3 rustup cargo readelf llvm-objdump llvm-nm file; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found (Debian: apt-get install python3-venv binutils llvm file; Rust: rustup.rs)"
done
# (mingw-w64, for the Windows target and its check, is installed by windows_build_env when missing.)

# ---- zig and cargo-zigbuild ----
if [ ! -x "$venv/bin/zig" ] || [ ! -x "$venv/bin/cargo-zigbuild" ]; then
  say "making $venv (ziglang $ZIGLANG_VERSION, cargo-zigbuild $CARGO_ZIGBUILD_VERSION from PyPI)"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "ziglang==$ZIGLANG_VERSION" "cargo-zigbuild==$CARGO_ZIGBUILD_VERSION"
  # The ziglang wheel has zig inside its Python package; napi and
  # cargo-zigbuild look for `zig` on PATH.
  zig_bin="$("$venv/bin/python" -c 'import os, ziglang; print(os.path.join(os.path.dirname(ziglang.__file__), "zig"))')"
  ln -sf "$zig_bin" "$venv/bin/zig"
fi
export PATH="$venv/bin:$PATH"
say "zig $(zig version), $(cargo-zigbuild --version)"

if [ ! -x node_modules/.bin/napi ]; then
  npm ci --no-audit --no-fund
fi

# ---- targets ----
if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(node -p 'require("./package.json").napi.targets.join("\n")')
fi
# The Rust target each napi target is built with.
rust_target() {
  case "$1" in
    x86_64-pc-windows-msvc) echo "$WINDOWS_RUST_TARGET" ;;
    *) echo "$1" ;;
  esac
}
installed="$(rustup target list --installed)"
for t in "${targets[@]}"; do
  grep -qx "$(rust_target "$t")" <<<"$installed" || rustup target add "$(rust_target "$t")"
done

out="$(mktemp -d "${TMPDIR:-/tmp}/build-all.XXXXXX")"
trap 'rm -rf "$out"' EXIT

summary=()
for t in "${targets[@]}"; do
  build_target="$(rust_target "$t")"
  cross=(--cross-compile)
  unset MACOSX_DEPLOYMENT_TARGET
  case "$t" in
    x86_64-pc-windows-msvc) windows_build_env; cross=() ;;
    *-linux-gnu) build_target="$t.$GLIBC_FLOOR" ;;
    aarch64-apple-darwin) export MACOSX_DEPLOYMENT_TARGET="$MACOS_FLOOR_ARM64" ;;
    x86_64-apple-darwin) export MACOSX_DEPLOYMENT_TARGET="$MACOS_FLOOR_X64" ;;
  esac
  say "building $build_target${MACOSX_DEPLOYMENT_TARGET:+ (MACOSX_DEPLOYMENT_TARGET=$MACOSX_DEPLOYMENT_TARGET)}"
  started=$SECONDS
  log="$out/$t.log"
  # --output-dir keeps the build's .node, index.js and index.d.ts out of the
  # checkout; the generated loader and types are compared below.
  if ! npx napi build --platform --release --target "$build_target" "${cross[@]}" --output-dir "$out/$t" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    die "napi build --target $build_target failed (log above)"
  fi
  secs=$((SECONDS - started))
  for generated in index.js index.d.ts; do
    if [ -f "$out/$t/$generated" ] && ! cmp -s "$out/$t/$generated" "$generated"; then
      die "the $generated generated for $t differs from the committed one: run npx napi build --platform --release and commit it"
    fi
  done
  rm -f "$out/$t/index.js" "$out/$t/index.d.ts"
  # The gnu build's file goes out under the msvc package's name, the one
  # napi's loader requires on win32 x64.
  if [ "$t" = x86_64-pc-windows-msvc ]; then
    mv "$out/$t/container-runner.win32-x64-gnu.node" "$out/$t/container-runner.win32-x64-msvc.node"
  fi
  summary+=("$t|$build_target|$secs")
done

# ---- into npm/<platform>/, and check each binary ----
say "checks:"
failed=0
for row in "${summary[@]}"; do
  IFS='|' read -r t build_target secs <<<"$row"
  node_file="$(ls "$out/$t"/*.node)"
  plat_file="$(basename "$node_file")"
  plat="${plat_file#*.}"
  plat="${plat%.node}"
  # The platform package napi create-npm-dirs made for this target (its
  # package.json names this file as its main).
  dest="npm/$plat/$plat_file"
  [ -f "npm/$plat/package.json" ] || die "npm/$plat/package.json missing: run npx napi create-npm-dirs and commit it"
  cp "$node_file" "$dest"
  if line="$(bash scripts/check-binary.sh "$dest" "$t")"; then
    printf '  %-17s %-31s built in %4d s  %s\n' "$plat" "$build_target" "$secs" "$line"
  else
    failed=1
  fi
done
[ "$failed" -eq 0 ] || die "some binaries failed their checks (above)"
say "${#summary[@]} target(s) built and checked; platform packages in npm/*/ (npm run load-test runs them where this machine can)"
