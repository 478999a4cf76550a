#!/usr/bin/env node
// Builds the native addon from the Rust sources this package ships, into the
// installed package itself, for a platform without a prebuilt package (or an
// install that left the platform package out):
//
//   node "<installed package>/scripts/build-from-source.js"
//
// It is the command the package's load error names (no-binary.js); the
// package has no install script, so nothing runs it on its own. It needs
// Rust's cargo on PATH (https://rustup.rs) and takes a few minutes: the
// release build of napi-rs's `napi build` (cargo with the crate's build.rs,
// napi-build), without needing napi's CLI.
//
// The file name to build is the generated loader's (index.js): a child
// process loads it with `require` watched, and the first
// `./<binaryName>.<platform>.node` it tries is where it looks first. The
// library cargo built is found from cargo's own artifact messages. cargo's
// build folder is removed afterwards unless it was there before (a checkout's)
// or CARGO_TARGET_DIR puts it elsewhere.
//
// Exit 0 when the addon loads afterwards (or already did), 1 otherwise, with
// one sentence saying why. Node built-ins only; child processes get argument
// arrays, never a shell.
"use strict";

const fs = require("node:fs");
const path = require("node:path");
const { spawnSync } = require("node:child_process");

const pkgDir = path.resolve(__dirname, "..");
const say = (msg) => console.log(`build-from-source: ${msg}`);

// cargo's JSON messages for a release build of this crate: one line per
// compiled crate, a few hundred KiB in all.
const CARGO_MESSAGES_MAX_BYTES = 64 * 1024 * 1024;

function main() {
  const before = probeLoader();
  if (before.loaded) {
    say(`a binary already loads here (${before.target}); nothing to build`);
    return 0;
  }
  const local = before.tried.find((id) => id.startsWith("./") && id.endsWith(".node"));
  if (!local) {
    say(`the loader (index.js) knows no binary name for ${process.platform}-${process.arch}, so there is nothing to build for it`);
    return 1;
  }
  const file = local.slice(2);

  const cargo = spawnSync("cargo", ["--version"], { stdio: ["ignore", "pipe", "ignore"], encoding: "utf8" });
  if (cargo.error || cargo.status !== 0) {
    say("cargo is not on PATH: install Rust (https://rustup.rs), then run this command again");
    return 1;
  }

  const targetDir = process.env.CARGO_TARGET_DIR ? null : path.join(pkgDir, "target");
  const removeTarget = targetDir !== null && !fs.existsSync(targetDir);
  say(`building ${file} with ${cargo.stdout.trim()} (a release build: a few minutes)`);
  const started = Date.now();
  const build = spawnSync("cargo", ["build", "--release", "--lib", "--locked", "--message-format=json-render-diagnostics"], {
    cwd: pkgDir,
    stdio: ["ignore", "pipe", "inherit"],
    maxBuffer: CARGO_MESSAGES_MAX_BYTES,
    encoding: "utf8",
  });
  try {
    if (build.error || build.status !== 0) {
      say(`cargo build failed${build.error ? `: ${build.error.message}` : ` (exit ${build.status}; its messages are above)`}`);
      return 1;
    }
    const built = cdylibPath(build.stdout);
    if (!built || !fs.existsSync(built)) {
      say(`cargo build succeeded but reported no library file${built ? ` at ${built}` : ""}`);
      return 1;
    }
    // Copied beside, then renamed: the loader never sees half a file.
    const dest = path.join(pkgDir, file);
    const partial = `${dest}.partial-${process.pid}`;
    fs.copyFileSync(built, partial);
    fs.renameSync(partial, dest);
  } finally {
    if (removeTarget) fs.rmSync(targetDir, { recursive: true, force: true }); // hundreds of MiB
  }

  const after = probeLoader();
  if (!after.loaded) {
    say(`built ${file}, but it does not load: ${after.error || "see node -e 'require(\"@mercury-ai/container-runner\")'"}`);
    return 1;
  }
  say(`built ${path.join(pkgDir, file)} in ${Math.round((Date.now() - started) / 1000)} s; it loads`);
  return 0;
}

/**
 * Loads the generated loader in a fresh process (a failed load leaves
 * nothing behind in this one) with every `require` it makes recorded.
 * Returns { loaded, target, tried, error }: whether a binding loaded, which
 * flavour, the ids the loader required in order (its local
 * `./<name>.<platform>.node` files and its platform packages), and the load
 * error's first line.
 */
function probeLoader() {
  const probe = `
    const Module = require("node:module");
    const tried = [];
    const original = Module.prototype.require;
    Module.prototype.require = function (id) {
      if (this.filename === process.argv[1] && typeof id === "string" && !id.startsWith("node:")) tried.push(id);
      return original.apply(this, arguments);
    };
    let loaded = false, target = null, error = null;
    try { target = require(process.argv[1]).__napiBindingTarget || "native"; loaded = true; }
    catch (e) { error = String(e && e.message).split("\\n")[0]; }
    process.stdout.write(JSON.stringify({ loaded, target, tried, error }));
  `;
  const env = { ...process.env };
  delete env.NAPI_RS_NATIVE_LIBRARY_PATH; // ask about the files, not an override
  const r = spawnSync(process.execPath, ["-e", probe, path.join(pkgDir, "index.js")], {
    cwd: pkgDir,
    env,
    stdio: ["ignore", "pipe", "ignore"],
    encoding: "utf8",
  });
  try {
    const out = JSON.parse(r.stdout);
    return {
      loaded: out.loaded === true,
      target: typeof out.target === "string" ? out.target : null,
      tried: Array.isArray(out.tried) ? out.tried.filter((t) => typeof t === "string") : [],
      error: typeof out.error === "string" ? out.error : null,
    };
  } catch {
    return { loaded: false, target: null, tried: [], error: `the probe exited ${r.status}` };
  }
}

/** The cdylib file of this package from cargo's JSON messages, or null. */
function cdylibPath(messages) {
  let found = null;
  for (const line of messages.split("\n")) {
    if (!line.startsWith("{")) continue;
    let msg;
    try {
      msg = JSON.parse(line);
    } catch {
      continue;
    }
    if (msg.reason !== "compiler-artifact" || !msg.target || !Array.isArray(msg.target.kind)) continue;
    if (!msg.target.kind.includes("cdylib") || !Array.isArray(msg.filenames)) continue;
    // The cdylib's own file (not its .lib import library or .pdb on Windows).
    found = msg.filenames.find((f) => /\.(so|dylib|dll)$/.test(f)) || found;
  }
  return found;
}

try {
  process.exitCode = main();
} catch (err) {
  say(`failed: ${err && err.stack ? err.stack : err}`);
  process.exitCode = 1;
}
