#!/usr/bin/env bash
# Builds the egress sidecar's proxy (egress-proxy/, docs/egress.md) as a static
# musl binary for the engine's linux-x64, into egress-proxy/dist/, where the
# runner looks for it. Idempotent: cargo rebuilds nothing when nothing changed
# (about a second), and the copy is replaced only when the bytes differ.
# The proxy has its own Cargo.toml and workspace: the addon's build is untouched.
set -euo pipefail
cd "$(dirname "$0")/../egress-proxy"

target=x86_64-unknown-linux-musl
if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
  rustup target add "$target"
fi
# Pure-Rust dependencies only: rustc's self-contained musl links them, no musl-gcc needed.
cargo build --quiet --release --locked --target "$target"
mkdir -p dist
built="target/$target/release/egress-proxy"
out="dist/egress-proxy-linux-x64"
if ! cmp -s "$built" "$out"; then
  cp "$built" "$out.tmp" && mv -f "$out.tmp" "$out"
fi
echo "egress proxy: egress-proxy/$out ($(wc -c < "$out") bytes)"
