#!/usr/bin/env bash
# Static checks of one built addon, for a target it was built for:
#   scripts/check-binary.sh <file.node> <rust target triple>
# - file type and architecture match the target;
# - it links only what the platform itself provides: glibc/musl and the
#   compiler runtime on Linux, /usr/lib and system frameworks on macOS,
#   Windows' own DLLs on Windows;
# - its floor: the newest GLIBC_ symbol version it needs (at most
#   GLIBC_FLOOR), no glibc at all for musl, the macOS minimum (minos) it
#   was stamped with (MACOS_FLOOR_* below);
# - it exports napi's entry point (napi_register_module_v1). (It imports no
#   napi_* function at link time: napi-sys looks them up in the process when
#   the addon loads, so no `-undefined dynamic_lookup` is needed on macOS.)
# Prints one summary line: file, size, kind, floor, the libraries it links.
# Tools: readelf (binutils) for ELF, llvm-objdump/llvm-nm (Debian's llvm) for
# Mach-O, x86_64-w64-mingw32-objdump (Debian's binutils-mingw-w64) for PE.
set -euo pipefail

# shellcheck source=scripts/floors.sh
source "$(dirname "$0")/floors.sh"

file="$1"
triple="$2"
problems=()
fail() { problems+=("$*"); }

[ -f "$file" ] || { echo "check-binary: $file missing" >&2; exit 1; }
size=$(stat -c %s "$file")
desc=$(file -b "$file")

ver_le() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1)" = "$1" ]; }

case "$triple" in
  *-linux-*)
    case "$triple" in
      x86_64-*) want_machine="X86-64" ; want_file="x86-64" ; kind="ELF .so x86-64" ;;
      aarch64-*) want_machine="AArch64" ; want_file="ARM aarch64" ; kind="ELF .so aarch64" ;;
      *) fail "no expectations for $triple" ;;
    esac
    [[ "$desc" == "ELF 64-bit LSB shared object, $want_file"* ]] || fail "file type: $desc"
    readelf -h "$file" | grep -q "Machine:.*$want_machine" || fail "ELF machine is not $want_machine"
    needed=$(readelf -d "$file" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort | tr '\n' ' ')
    glibc_max=$(readelf -V --wide "$file" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -n1 || true)
    case "$triple" in
      *-gnu)
        for lib in $needed; do
          case "$lib" in
            libc.so.6 | libm.so.6 | libpthread.so.0 | libdl.so.2 | librt.so.1 | libgcc_s.so.1 | ld-linux-*) ;;
            *) fail "links $lib, which is not part of glibc or gcc's runtime" ;;
          esac
        done
        if [ -z "$glibc_max" ]; then fail "needs no GLIBC_ symbol version: not a glibc build?"; fi
        if [ -n "$glibc_max" ] && ! ver_le "$glibc_max" "$GLIBC_FLOOR"; then
          fail "needs GLIBC_$glibc_max, newer than the floor $GLIBC_FLOOR"
        fi
        floor="glibc >= ${glibc_max:-?}"
        ;;
      *-musl)
        for lib in $needed; do
          case "$lib" in
            libc.so | libgcc_s.so.1) ;;
            *) fail "links $lib, which is not musl's libc or gcc's runtime" ;;
          esac
        done
        [[ " $needed " == *" libc.so "* ]] || fail "does not link musl's libc.so (NEEDED: $needed)"
        [ -z "$glibc_max" ] || fail "needs GLIBC_$glibc_max in a musl build"
        floor="musl (no glibc symbols)"
        ;;
    esac
    readelf --dyn-syms --wide "$file" | awk '$7 != "UND" && $8 == "napi_register_module_v1"' | grep -q . ||
      fail "does not export napi_register_module_v1"
    links="$needed"
    ;;
  *-apple-darwin)
    case "$triple" in
      aarch64-*) want_file="arm64" ; want_minos="$MACOS_FLOOR_ARM64" ; kind="Mach-O dylib arm64" ;;
      x86_64-*) want_file="x86_64" ; want_minos="$MACOS_FLOOR_X64" ; kind="Mach-O dylib x86_64" ;;
    esac
    [[ "$desc" == "Mach-O 64-bit $want_file dynamically linked shared library"* ]] || fail "file type: $desc"
    headers=$(llvm-objdump --macho --private-headers "$file")
    minos=$(awk '/cmd LC_BUILD_VERSION/ {b=1} b && $1 == "minos" {print $2; exit}' <<<"$headers")
    [ -n "$minos" ] || minos=$(awk '/cmd LC_VERSION_MIN_MACOSX/ {b=1} b && $1 == "version" {print $2; exit}' <<<"$headers")
    [ "$minos" = "$want_minos" ] || fail "minos is ${minos:-missing}, want $want_minos"
    # The libraries it loads (not its own LC_ID_DYLIB, which names the build tree).
    links=$(awk '/cmd LC_(LOAD|LOAD_WEAK|REEXPORT)_DYLIB/ {b = 1; next} b && $1 == "name" {print $2; b = 0}' <<<"$headers" | tr '\n' ' ')
    for lib in $links; do
      case "$lib" in
        /usr/lib/* | /System/Library/Frameworks/*) ;;
        *) fail "links $lib, which is not a system library" ;;
      esac
    done
    llvm-nm --extern-only --defined-only "$file" | grep -q ' _napi_register_module_v1$' ||
      fail "does not export _napi_register_module_v1"
    floor="macOS >= $minos"
    ;;
  x86_64-pc-windows-*)
    # Built with the gnu target and mingw, shipped as napi's msvc package
    # (scripts/windows-toolchain.sh says why that is sound).
    kind="PE32+ DLL x86-64"
    [[ "$desc" == "PE32+ executable (DLL)"*"x86-64"* ]] || fail "file type: $desc"
    headers=$(x86_64-w64-mingw32-objdump -p "$file")
    links=$(sed -n 's/^[[:space:]]*DLL Name: //p' <<<"$headers" | sort -fu | tr '\n' ' ')
    for lib in $links; do
      # Windows' own DLLs only: no mingw runtime DLL (libgcc_s, libwinpthread)
      # the user would not have, and neither node.exe nor the libnode.dll
      # stand-in (N-API is looked up in the running node.exe).
      case "${lib,,}" in
        kernel32.dll | ntdll.dll | advapi32.dll | ws2_32.dll | bcrypt.dll | bcryptprimitives.dll | userenv.dll | \
          msvcrt.dll | ucrtbase.dll | api-ms-win-*.dll | crypt32.dll | secur32.dll | shell32.dll | ole32.dll | user32.dll) ;;
        *) fail "imports $lib, which is not part of Windows" ;;
      esac
    done
    # The export table lists napi's entry point by name.
    awk '/^\[Ordinal\/Name Pointer\] Table/ {t = 1; next} t && /napi_register_module_v1$/ {found = 1} END {exit !found}' <<<"$headers" ||
      fail "does not export napi_register_module_v1"
    # Its floor is Rust's for the target, Windows 10 (ProcessPrng from
    # bcryptprimitives.dll); the PE header's subsystem version (mingw's 5.2) says less.
    floor="Windows >= 10 (Rust's floor)"
    ;;
  *) fail "no checks for $triple" ;;
esac

if [ "${#problems[@]}" -ne 0 ]; then
  printf 'check-binary: %s (%s):\n' "$file" "$triple" >&2
  printf '  - %s\n' "${problems[@]}" >&2
  exit 1
fi
printf '%-36s %5.1f MiB  %-20s %-24s links: %s\n' "$(basename "$file")" "$(awk -v s="$size" 'BEGIN { print s / 1048576 }')" \
  "$kind" "$floor" "${links% }"
