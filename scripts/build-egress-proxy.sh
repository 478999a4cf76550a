#!/usr/bin/env bash
# Builds the egress sidecar's proxy (egress-proxy/, docs/egress.md) as static
# musl binaries for both engine architectures, linux-x64 and linux-arm64, into
# egress-proxy/dist/, where the runner looks for them. The proxy runs on the
# engine's architecture, not the host's, so the one package carries both.
# x64 is linked by the host's cc, arm64 by rust-lld (egress-proxy/.cargo/
# config.toml); both against rustc's self-contained musl: no musl-gcc, no
# cross toolchain, nothing but the two targets' rust-std from rustup.
# Idempotent: cargo rebuilds nothing when nothing changed (about a second),
# and a copy is replaced only when the bytes differ. Each binary is checked
# (64-bit little-endian ELF of the right machine, no program interpreter,
# i.e. static) before it is copied; a wrong one fails the script.
# The proxy has its own Cargo.toml and workspace: the addon's build is untouched.
set -euo pipefail
cd "$(dirname "$0")/../egress-proxy"

# target triple, dist name, ELF e_machine (EM_X86_64 = 62, EM_AARCH64 = 183)
builds=(
  "x86_64-unknown-linux-musl x64 62"
  "aarch64-unknown-linux-musl arm64 183"
)

triples=()
for b in "${builds[@]}"; do
  read -r triple _ _ <<<"$b"
  triples+=("$triple")
done
installed="$(rustup target list --installed 2>/dev/null || true)"
missing=()
for triple in "${triples[@]}"; do
  grep -qx "$triple" <<<"$installed" || missing+=("$triple")
done
if [ "${#missing[@]}" -gt 0 ]; then
  rustup target add "${missing[@]}"
fi
# Pure-Rust dependencies only: rustc's self-contained musl links them.
cargo build --quiet --release --locked "${triples[@]/#/--target=}"

# elf_field <file> <offset> <bytes>: an unsigned little-endian field of the ELF header.
elf_field() {
  od -An -v --endian=little -t "u$3" -j "$2" -N "$3" "$1" | tr -d ' '
}

# check_static_elf <file> <e_machine>: fails, saying why, unless the file is a
# 64-bit little-endian ELF for that machine without PT_INTERP (no dynamic loader: static).
check_static_elf() {
  local file="$1" machine="$2"
  [ "$(od -An -c -N 4 "$file" | tr -d ' ')" = '177ELF' ] || { echo "$file: not an ELF file" >&2; return 1; }
  [ "$(elf_field "$file" 4 1)" = 2 ] && [ "$(elf_field "$file" 5 1)" = 1 ] ||
    { echo "$file: not a 64-bit little-endian ELF" >&2; return 1; }
  local got
  got="$(elf_field "$file" 18 2)"
  [ "$got" = "$machine" ] || { echo "$file: ELF machine $got, expected $machine" >&2; return 1; }
  local phoff phentsize phnum i
  phoff="$(elf_field "$file" 32 8)" phentsize="$(elf_field "$file" 54 2)" phnum="$(elf_field "$file" 56 2)"
  for ((i = 0; i < phnum; i++)); do
    if [ "$(elf_field "$file" $((phoff + i * phentsize)) 4)" = 3 ]; then
      echo "$file: dynamically linked (it names a program interpreter); the sidecar's image has no libc" >&2
      return 1
    fi
  done
}

mkdir -p dist
for b in "${builds[@]}"; do
  read -r triple name machine <<<"$b"
  built="target/$triple/release/egress-proxy"
  out="dist/egress-proxy-linux-$name"
  check_static_elf "$built" "$machine" || { echo "egress proxy: $built is not what the $name engine runs" >&2; exit 1; }
  if ! cmp -s "$built" "$out"; then
    cp "$built" "$out.tmp" && mv -f "$out.tmp" "$out"
  fi
  echo "egress proxy: egress-proxy/$out ($(wc -c <"$out") bytes)"
done
