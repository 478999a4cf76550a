#!/usr/bin/env bash
# Proves the package installs and runs from its tarball, away from this
# checkout (linux-x64-gnu): `npm pack`, then `npm install <tarball>` in an
# empty project and `bun add <tarball>` in another, then one agent turn
# against the fixture image under Node (CommonJS and ESM) and Bun (ESM and
# CommonJS). Needs the release binary (npm run build) and a Docker engine.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

binary=container-runner.linux-x64-gnu.node
image=mercury-test-agent:latest

die() { echo "pack-test: $*" >&2; exit 1; }

tmp="$(mktemp -d "${TMPDIR:-/tmp}/pack-test.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

# Runs a command with its output kept in a log, shown only when it fails.
quiet() {
  local log="$tmp/cmd.log"
  if ! "$@" >"$log" 2>&1; then
    cat "$log" >&2
    die "failed: $*"
  fi
}

[ -f "$binary" ] || die "$binary missing: run npm run build first"
docker image inspect "$image" >/dev/null 2>&1 || quiet bash scripts/build-images.sh test

if ! command -v bun >/dev/null 2>&1; then
  quiet npm install -g bun
  export PATH="$(npm prefix -g)/bin:$PATH"
  command -v bun >/dev/null 2>&1 || die "bun still not on PATH after npm install -g bun"
fi

# ---- pack ----
mkdir "$tmp/pack"
npm pack --json --pack-destination "$tmp/pack" >"$tmp/pack.json" 2>"$tmp/pack.err" || { cat "$tmp/pack.err" >&2; die "npm pack failed"; }
tarball="$(node -e '
  const [info] = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const names = new Set(info.files.map((f) => f.path));
  // What the package points at (main, types, every exports target) must ship.
  const pkg = JSON.parse(require("fs").readFileSync("package.json", "utf8"));
  const targets = (e) => (typeof e === "string" ? [e] : e ? Object.values(e).flatMap(targets) : []);
  const need = [...new Set(["package.json", "index.js", process.argv[3], pkg.main, pkg.types, ...targets(pkg.exports)]
    .filter(Boolean).map((f) => f.replace(/^\.\//, "")))];
  const missing = need.filter((n) => !names.has(n));
  if (missing.length) { console.error("pack-test: tarball lacks " + missing.join(", ")); process.exit(1); }
  const addon = info.files.find((f) => f.path === process.argv[3]);
  if (addon.size > 20 * 1048576) {
    console.error(`pack-test: warning: ${addon.path} is ${(addon.size / 1048576).toFixed(0)} MiB, a debug build? (npm run build makes the release one)`);
  }
  console.error(`pack-test: packed ${info.filename} (${(info.size / 1048576).toFixed(1)} MiB, ${info.entryCount} files)`);
  console.log(require("path").join(process.argv[2], info.filename));
' "$tmp/pack.json" "$tmp/pack" "$binary")"

# ---- the smoke: one reply against the fixture image ----
smoke_body='
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "pack-smoke-"));
const label = process.argv[2];
const lines = [];
const logger = {
  debug: (msg, fields) => lines.push(["debug", msg, fields]),
  info: (msg, fields) => lines.push(["info", msg, fields]),
  warn: (msg, fields) => lines.push(["warn", msg, fields]),
  error: (msg, fields) => lines.push(["error", msg, fields]),
};
const failures = [];
const check = (ok, what) => { if (!ok) failures.push(what); };
(async () => {
  try {
    const runner = new AgentContainerRunner({
      agentContainerImage: "mercury-test-agent:latest",
      containerTimeoutMs: 30000,
      globalDir: path.join(tmp, "global"),
      spacesDir: path.join(tmp, "spaces"),
      modelProvider: "anthropic",
      port: 3000,
    }, { logger });
    const result = await runner.reply({
      spaceId: "pack",
      spaceWorkspace: path.join(tmp, "spaces", "pack"),
      messages: [],
      prompt: "hi",
      callerId: "u",
    });
    check(result && result.reply === "pong", `reply === "pong" (got ${JSON.stringify(result && result.reply)})`);
    check(Array.isArray(result && result.files), "files is an array");
    const e = ContainerError.timeout("x");
    check(e instanceof Error, "ContainerError.timeout() instanceof Error");
    check(e instanceof ContainerError, "ContainerError.timeout() instanceof ContainerError");
    check(lines.some((l) => l[1] === "Container started"), "the logger got \"Container started\"");
    check(runner.activeCount === 0, "activeCount back to 0");
  } catch (err) {
    failures.push(`threw: ${err && err.stack ? err.stack : err}`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  if (failures.length) {
    console.error(`smoke FAILED (${label}): ${failures.join("; ")}`);
    for (const l of lines) console.error(`  log: ${l[0]} ${l[1]} ${JSON.stringify(l[2] ?? {})}`);
    process.exitCode = 1;
  } else {
    console.log(`smoke ok (${label}): reply=pong, ${lines.length} log lines`);
  }
})();
'
write_smoke() { # <project dir>
  {
    echo 'const fs = require("node:fs"), os = require("node:os"), path = require("node:path");'
    echo 'const { AgentContainerRunner, ContainerError } = require("@mercury-ai/container-runner");'
    echo "$smoke_body"
  } >"$1/smoke.cjs"
  {
    echo 'import fs from "node:fs"; import os from "node:os"; import path from "node:path";'
    echo 'import { AgentContainerRunner, ContainerError } from "@mercury-ai/container-runner";'
    echo "$smoke_body"
  } >"$1/smoke.mjs"
}

passed=0
failed=0
smoke() { # <label> <runtime> <file> (in the current project)
  # The timeout also proves the process exits by itself once the run settled.
  if timeout 120 "$2" "$3" "$1"; then
    passed=$((passed + 1))
  else
    [ $? -eq 124 ] && echo "smoke FAILED ($1): did not exit within 120 s" >&2
    failed=$((failed + 1))
  fi
}

# ---- Node: npm install <tarball> ----
mkdir "$tmp/node-app"
cd "$tmp/node-app"
quiet npm init -y
quiet npm install --no-audit --no-fund "$tarball"
write_smoke "$tmp/node-app"
smoke node-cjs node smoke.cjs
smoke node-esm node smoke.mjs

# ---- Bun: bun add <tarball> ----
mkdir "$tmp/bun-app"
cd "$tmp/bun-app"
quiet npm init -y
BUN_INSTALL_CACHE_DIR="$tmp/bun-cache" quiet bun add "$tarball"
write_smoke "$tmp/bun-app"
smoke bun-esm bun smoke.mjs
smoke bun-cjs bun smoke.cjs

cd "$root"
echo "pack-test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
