#!/usr/bin/env bash
# The egress proxy's own tests (`npm test`'s "egress proxy unit tests" step),
# for both architectures the package ships (scripts/build-egress-proxy.sh):
#   1. `cargo test` natively (x64);
#   2. the same tests built for aarch64-unknown-linux-musl, run under
#      qemu-aarch64-static (scripts/runtimes.sh installs it when missing);
#   3. each shipped binary in egress-proxy/dist/ (the release builds the
#      runner puts into the sidecar's image) started as the sidecar starts it
#      (only EGRESS_ALLOW set; here listening on 127.0.0.1 on a free port, not
#      0.0.0.0:3128): it must print its "listening" line, answer a CONNECT to
#      an unlisted destination with 403 and a "refused" line, and exit 0 on SIGTERM.
# Cost (a loaded two-core machine): cold, about 13 s to install qemu and 30 s
# of CPU to build the arm64 tests; warm, about 2 s in all.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/runtimes.sh
source scripts/runtimes.sh

(cd egress-proxy && cargo test --quiet --locked)

qemu="$(ensure_qemu_arm64)"
(cd egress-proxy && CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_RUNNER="$qemu" \
  cargo test --quiet --locked --target aarch64-unknown-linux-musl)

# Seconds the proxy may take to say it listens (qemu included): more means it hangs.
READY_LIMIT=10
work="$(mktemp -d)"
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# smoke <name> <command...>: starts the proxy, checks it as said above.
smoke() {
  local name="$1"; shift
  local out="$work/$name.out"
  : >"$out"
  env -i EGRESS_ALLOW='api.anthropic.com,*.openai.com,host.docker.internal:4000' EGRESS_LISTEN=127.0.0.1:0 \
    "$@" >"$out" 2>"$work/$name.err" &
  pid=$!
  local i address=
  for ((i = 0; i < READY_LIMIT * 10; i++)); do
    address="$(sed -n '1s/.*"address":"\([0-9.]*:[0-9]*\)".*"event":"listening".*/\1/p' "$out")"
    [ -n "$address" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$address" ] || { echo "$name: no listening line; stdout: $(cat "$out"); stderr: $(cat "$work/$name.err")" >&2; return 1; }
  local fd reply
  exec {fd}<>"/dev/tcp/${address%:*}/${address##*:}"
  printf 'CONNECT 127.0.0.1:9 HTTP/1.1\r\nHost: 127.0.0.1:9\r\nProxy-Authorization: Basic c21va2U6eA==\r\n\r\n' >&"$fd"
  IFS= read -r -t "$READY_LIMIT" reply <&"$fd" || true
  exec {fd}>&-
  [[ "$reply" == "HTTP/1.1 403"* ]] || { echo "$name: a CONNECT to an unlisted destination got: $reply" >&2; return 1; }
  local refused='{"destination":"127.0.0.1:9","event":"refused","turn":"smoke"}'
  for ((i = 0; i < READY_LIMIT * 10; i++)); do
    grep -qxF "$refused" "$out" && break
    sleep 0.1
  done
  grep -qxF "$refused" "$out" || { echo "$name: no line $refused; stdout: $(cat "$out")" >&2; return 1; }
  kill -TERM "$pid"
  local rc=0
  wait "$pid" || rc=$?
  pid=
  [ "$rc" -eq 0 ] || { echo "$name: exit $rc on SIGTERM" >&2; return 1; }
  echo "$name: $(head -n1 "$out"), CONNECT to an unlisted destination: ${reply%$'\r'}, exit 0 on SIGTERM"
}

smoke linux-x64 egress-proxy/dist/egress-proxy-linux-x64
smoke linux-arm64 "$qemu" egress-proxy/dist/egress-proxy-linux-arm64
