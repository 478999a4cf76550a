"use strict";
// The error `require("@mercury-ai/container-runner")` throws when no native
// binary loads: on a platform without a prebuilt package, or when the
// platform package was left out (`--omit=optional`, a lock file made on
// another machine). The package ships no install script (npm, pnpm, yarn and
// bun each warn about, block or fail on one), so this error is where a user
// learns what to do: it names the platform, the supported ones, and the one
// command that builds the addon from the shipped Rust sources into this
// installed package (scripts/build-from-source.js).
//
// Node built-ins only; nothing here runs unless the load already failed.

const fs = require("node:fs");
const path = require("node:path");

const CODE = "MERCURY_NO_NATIVE_BINARY";

// napi's names for the parts of a Rust target triple, as in its platform
// package names (x86_64-unknown-linux-gnu -> linux-x64-gnu).
const ARCH = { x86_64: "x64", aarch64: "arm64", i686: "ia32", armv7: "arm", riscv64gc: "riscv64", s390x: "s390x", powerpc64le: "ppc64" };
const OS = { linux: "linux", darwin: "darwin", windows: "win32", freebsd: "freebsd", android: "android" };

/** `x86_64-unknown-linux-gnu` -> `linux-x64-gnu` (napi's platform package suffix). */
function platformOfTriple(triple) {
  const parts = triple.split("-");
  const arch = ARCH[parts[0]] || parts[0];
  const os = parts.map((p) => OS[p]).find(Boolean) || parts[2] || "unknown";
  const abi = os === "darwin" || os === "freebsd" ? null : parts[3] || null;
  return [os, arch, abi].filter(Boolean).join("-");
}

/**
 * This process's platform the way the list above spells it, with the C
 * library on Linux (glibc reports its version in the diagnostic report;
 * Node on musl does not). `report` is injectable for tests.
 */
function currentPlatform(proc = process) {
  const base = `${proc.platform}-${proc.arch}`;
  if (proc.platform !== "linux") return base;
  let libc = "unknown-libc";
  try {
    const header = proc.report && typeof proc.report.getReport === "function" ? proc.report.getReport().header : null;
    if (header) libc = header.glibcVersionRuntime ? "gnu" : "musl";
  } catch {
    // Bun and older runtimes: the libc stays unknown; the list still helps.
  }
  return `${base}-${libc}`;
}

/**
 * The error to throw. `pkgDir` is the installed package's folder; `cause`
 * is the loader's error (its chain says what each candidate did).
 */
function noBinaryError({ pkgDir, cause, platform = currentPlatform() }) {
  let pkg = {};
  try {
    pkg = JSON.parse(fs.readFileSync(path.join(pkgDir, "package.json"), "utf8"));
  } catch {
    // A broken install; the message still names the command.
  }
  const name = pkg.name || "@mercury-ai/container-runner";
  const supported = ((pkg.napi && pkg.napi.targets) || []).map(platformOfTriple);
  const script = path.join(pkgDir, "scripts", "build-from-source.js");
  // Off Linux the ABI is not the machine's but the toolchain's (win32-x64-msvc).
  const prebuilt = supported.find((s) => s === platform || (!platform.startsWith("linux-") && s.startsWith(`${platform}-`)));
  const why = prebuilt
    ? `its prebuilt package ${name}-${prebuilt} is not installed (optional dependencies left out, ` +
      "or a lock file made on another platform: reinstalling with them fixes that) or does not load here (the cause says why)"
    : "there is no prebuilt package for it";
  const message =
    `${name} has no native binary that loads on ${platform}: ${why}. ` +
    `Prebuilt: ${supported.join(", ") || "(none listed)"}. ` +
    `To build it from source into this installed package (needs Rust's cargo, https://rustup.rs; a few minutes), run:\n` +
    `  node "${script}"`;
  const err = new Error(message);
  err.code = CODE;
  err.platform = platform;
  err.supported = supported;
  err.buildCommand = ["node", script];
  if (cause) err.cause = cause;
  return err;
}

module.exports = { noBinaryError, currentPlatform, platformOfTriple, CODE };
