#!/usr/bin/env bash
# Proves the package installs and runs from its tarballs, away from this
# checkout (linux-x64-gnu), the way a user gets it: `npm pack` of the root
# package (which carries no binary; staged with the optionalDependencies a
# release adds) and of the linux-x64-gnu platform package
# (npm/linux-x64-gnu/ with the release binary of `npm run build` put in),
# then both installed offline into an empty project with npm and into
# another with bun; the root's other optional platform packages are not to
# be had offline and are skipped, as on a real install for a platform they do
# not match. Then one agent turn against the fixture image under Node
# (CommonJS and ESM) and Bun (ESM and CommonJS), with the binary loaded from
# the platform package. Needs the release binary (npm run build) and a
# Docker engine.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

platform=linux-x64-gnu
binary=container-runner.$platform.node
name="$(node -p 'require("./package.json").name')"
image=mercury-test-agent:latest
# Nothing may be fetched: an address where no registry answers.
offline_registry=http://127.0.0.1:9/

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
  # The Bun version npm test pins (scripts/runtimes.sh), not whatever is newest.
  source scripts/runtimes.sh
  bun_bin="$(npm_bun)" || die "could not install bun@$BUN_VERSION"
  export PATH="$(dirname "$bun_bin"):$PATH"
fi

# ---- pack: the root package and the linux-x64-gnu platform package ----
mkdir "$tmp/pack" "$tmp/platform"
cp -r "npm/$platform/." "$tmp/platform/"
cp "$binary" "$tmp/platform/"
packed() { # <dir> <out.json>: npm pack, its JSON report kept
  npm pack --json --pack-destination "$tmp/pack" "$1" >"$2" 2>"$tmp/pack.err" || { cat "$tmp/pack.err" >&2; die "npm pack $1 failed"; }
}
# The root package as a release publishes it: the checkout's files, plus the
# optionalDependencies naming the platform packages (scripts/optional-deps.mjs).
mkdir "$tmp/root"
root_raw="$(npm pack --silent --pack-destination "$tmp" .)"
tar -xzf "$tmp/$root_raw" -C "$tmp/root" --strip-components=1 && rm -f "$tmp/$root_raw"
quiet node scripts/optional-deps.mjs "$tmp/root/package.json"
packed "$tmp/root" "$tmp/pack.json"
packed "$tmp/platform" "$tmp/platform.json"
read -r tarball platform_tarball < <(node -e '
  const fs = require("fs"), path = require("path");
  const [root] = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
  const [plat] = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  const binary = process.argv[4];
  const fail = (msg) => { console.error("pack-test: " + msg); process.exit(1); };
  const names = new Set(root.files.map((f) => f.path));
  // What the package points at (main, types, every exports target) must ship.
  const pkg = JSON.parse(fs.readFileSync(process.argv[5], "utf8"));
  const targets = (e) => (typeof e === "string" ? [e] : e ? Object.values(e).flatMap(targets) : []);
  const need = [...new Set(["package.json", "index.js", pkg.main, pkg.types, ...targets(pkg.exports)]
    .filter(Boolean).map((f) => f.replace(/^\.\//, "")))];
  const missing = need.filter((n) => !names.has(n));
  if (missing.length) fail("root tarball lacks " + missing.join(", "));
  const binaries = root.files.filter((f) => f.path.endsWith(".node")).map((f) => f.path);
  if (binaries.length) fail("root tarball carries binaries: " + binaries.join(", "));
  if (!pkg.optionalDependencies || pkg.optionalDependencies[plat.name] !== plat.version) {
    fail(`root package.json does not have ${plat.name}@${plat.version} in optionalDependencies`);
  }
  const platFiles = plat.files.map((f) => f.path).sort().join(", ");
  if (platFiles !== ["README.md", binary, "package.json"].sort().join(", ")) fail(`platform tarball holds ${platFiles}`);
  const addon = plat.files.find((f) => f.path === binary);
  if (addon.size > 20 * 1048576) {
    console.error(`pack-test: warning: ${addon.path} is ${(addon.size / 1048576).toFixed(0)} MiB, a debug build? (npm run build makes the release one)`);
  }
  for (const t of [root, plat]) console.error(`pack-test: packed ${t.filename} (${(t.size / 1048576).toFixed(1)} MiB, ${t.entryCount} files)`);
  console.log(path.join(process.argv[3], root.filename), path.join(process.argv[3], plat.filename));
' "$tmp/pack.json" "$tmp/platform.json" "$tmp/pack" "$binary" "$tmp/root/package.json")
[ -n "$platform_tarball" ] || die "could not read npm pack's report"

# After an install: the binary is in the platform package, not the root one.
check_layout() { # <project dir>
  local nm="$1/node_modules/$name"
  [ -f "$nm-$platform/$binary" ] || die "$nm-$platform/$binary was not installed"
  if ls "$nm"/*.node >/dev/null 2>&1; then die "the root package has a binary after install: $(ls "$nm"/*.node)"; fi
  local others
  others="$(cd "$1/node_modules/${name%/*}" && ls -d "${name#*/}"-* | grep -vx "${name#*/}-$platform" || true)"
  [ -z "$others" ] || die "other platform packages were installed: $others"
}

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

# ---- Node: npm install <tarballs>, offline ----
mkdir "$tmp/node-app"
cd "$tmp/node-app"
quiet npm init -y
quiet npm install --offline --registry "$offline_registry" --cache "$tmp/npm-cache" --no-audit --no-fund "$tarball" "$platform_tarball"
check_layout "$tmp/node-app"
write_smoke "$tmp/node-app"
smoke node-cjs node smoke.cjs
smoke node-esm node smoke.mjs

# ---- Bun: bun add <tarballs>, offline ----
mkdir "$tmp/bun-app"
cd "$tmp/bun-app"
quiet npm init -y
BUN_INSTALL_CACHE_DIR="$tmp/bun-cache" BUN_CONFIG_REGISTRY="$offline_registry" quiet bun add "$tarball" "$platform_tarball"
check_layout "$tmp/bun-app"
write_smoke "$tmp/bun-app"
smoke bun-esm bun smoke.mjs
smoke bun-cjs bun smoke.cjs

cd "$root"
echo "pack-test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
