#!/usr/bin/env node
// npm `install` script: the from-source fallback.
//
// The addon ships prebuilt in one npm package per platform
// (@mercury-ai/container-runner-<platform>, in optionalDependencies), and the
// napi-generated loader (index.js) picks the one for this machine. On a
// platform with no such package (Windows, FreeBSD, linux-ppc64, ...), or when
// optional dependencies were left out, this builds the addon from the shipped
// Rust sources with `cargo build --release` (when cargo is on PATH) and puts it
// where the loader looks first.
//
// It does not know napi's file names itself: it asks the generated loader.
// A child process loads index.js with `require` watched, and reports whether
// a binding loaded and which files and packages the loader tried, in order;
// the first `./<binaryName>.<platform>.node` it tried is the name to build.
// The library cargo built is found from cargo's own artifact messages.
//
// In the package's own checkout (not inside a node_modules folder) it does
// nothing. With no binary and no cargo it says how to get one and exits 0, so
// that the install goes on; requiring the package then throws napi's error.
// Node built-ins only; child processes get argument arrays, never a shell.
"use strict";

const fs = require("node:fs");
const path = require("node:path");
const { spawnSync } = require("node:child_process");

const pkgDir = path.resolve(__dirname, "..");
const say = (msg) => console.log(`[@mercury-ai/container-runner] ${msg}`);

// cargo's JSON messages for a release build of this crate: one line per
// compiled crate, a few hundred KiB in all.
const CARGO_MESSAGES_MAX_BYTES = 64 * 1024 * 1024;

function main() {
  if (!pkgDir.split(path.sep).includes("node_modules")) {
    return 0; // our own checkout: `npm run build` makes the binary
  }
  if (process.env.MERCURY_CONTAINER_RUNNER_SKIP_BUILD) {
    return 0;
  }
  const probe = probeLoader();
  if (probe.loaded) {
    return 0;
  }

  const local = probe.tried.find((id) => id.startsWith("./") && id.endsWith(".node"));
  if (!local) {
    say(`no native binary for ${process.platform}-${process.arch}, and the loader (index.js) knows no file name for it.`);
    return 0;
  }
  const target = local.slice(2);
  const pkgName = JSON.parse(fs.readFileSync(path.join(pkgDir, "package.json"), "utf8")).name;
  const prebuilt = probe.tried.find((id) => id.startsWith(`${pkgName}-`) && !id.endsWith("/package.json"));

  if (!hasCargo()) {
    say(
      `no prebuilt binary loads on ${process.platform}-${process.arch}` +
        (prebuilt ? ` (${prebuilt} is not installed)` : "") +
        ", and cargo is not on PATH to build one.\n" +
        "  To build it from source: install Rust (https://rustup.rs), then run\n" +
        "    npm rebuild @mercury-ai/container-runner\n" +
        `  Or put a binary built elsewhere at ${path.join(pkgDir, target)}\n` +
        "  (or point NAPI_RS_NATIVE_LIBRARY_PATH at one).",
    );
    return 0;
  }

  say(`no prebuilt binary loads on ${process.platform}-${process.arch}: building ${target} from source with cargo (a few minutes)`);
  const build = spawnSync("cargo", ["build", "--release", "--lib", "--message-format=json-render-diagnostics"], {
    cwd: pkgDir,
    stdio: ["ignore", "pipe", "inherit"],
    maxBuffer: CARGO_MESSAGES_MAX_BYTES,
    encoding: "utf8",
  });
  if (build.error || build.status !== 0) {
    say(`cargo build failed${build.error ? `: ${build.error.message}` : ` (exit ${build.status})`}`);
    return 1;
  }

  const built = cdylibPath(build.stdout);
  if (!built || !fs.existsSync(built)) {
    say(`cargo build succeeded but reported no cdylib${built ? ` at ${built}` : ""}`);
    return 1;
  }
  const dest = path.join(pkgDir, target);
  fs.copyFileSync(built, dest);
  if (!process.env.CARGO_TARGET_DIR) {
    // cargo's build tree is hundreds of MiB: keep only the addon in node_modules.
    fs.rmSync(path.join(pkgDir, "target"), { recursive: true, force: true });
  }
  if (!probeLoader().loaded) {
    say(`built ${target}, but it does not load: run node -e 'require("@mercury-ai/container-runner")' to see why`);
    return 1;
  }
  say(`built ${target}`);
  return 0;
}

/**
 * Loads the generated loader in a fresh process (so a failed load leaves
 * nothing behind in this one) with every `require` it makes recorded.
 * Returns { loaded, tried }: whether a binding loaded, and the ids the loader
 * required in order (its local `./<name>.<platform>.node` files and its
 * `@mercury-ai/container-runner-<platform>` packages).
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
    let loaded = false;
    try { require(process.argv[1]); loaded = true; } catch {}
    process.stdout.write(JSON.stringify({ loaded, tried }));
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
    return { loaded: out.loaded === true, tried: Array.isArray(out.tried) ? out.tried.filter((t) => typeof t === "string") : [] };
  } catch {
    return { loaded: false, tried: [] };
  }
}

function hasCargo() {
  const r = spawnSync("cargo", ["--version"], { stdio: "ignore" });
  return !r.error && r.status === 0;
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
  say(`install step failed: ${err && err.stack ? err.stack : err}`);
  process.exitCode = 1;
}
