#!/usr/bin/env node
// npm `install` script: the from-source fallback.
//
// The package ships a prebuilt addon for the platforms it is built for. When
// it is installed as a dependency somewhere else, and no shipped binary loads,
// this builds the addon from the shipped Rust sources with `cargo build
// --release` (when cargo is on PATH) and copies the library to the file name
// the napi loader (index.js) looks for on this platform.
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

function main() {
  if (!pkgDir.split(path.sep).includes("node_modules")) {
    return 0; // our own checkout: `npm run build` makes the binary
  }
  if (process.env.MERCURY_CONTAINER_RUNNER_SKIP_BUILD) {
    return 0;
  }
  if (bindingLoads()) {
    return 0;
  }

  const pkg = JSON.parse(fs.readFileSync(path.join(pkgDir, "package.json"), "utf8"));
  const binaryName = (pkg.napi && pkg.napi.binaryName) || "container-runner";
  const target = loaderFileName(binaryName);
  if (!target) {
    say(`no native binary for ${process.platform}-${process.arch}, and index.js knows no file name for it.`);
    return 0;
  }

  if (!hasCargo()) {
    say(
      `no prebuilt binary loads on ${process.platform}-${process.arch}, and cargo is not on PATH to build one.\n` +
        "  To build it from source: install Rust (https://rustup.rs), then run\n" +
        "    npm rebuild @mercury-ai/container-runner\n" +
        `  Or put a binary built elsewhere at ${path.join(pkgDir, target)}\n` +
        "  (or point NAPI_RS_NATIVE_LIBRARY_PATH at one).",
    );
    return 0;
  }

  say(`no prebuilt binary loads on ${process.platform}-${process.arch}: building ${target} from source with cargo (a few minutes)`);
  const build = spawnSync("cargo", ["build", "--release"], { cwd: pkgDir, stdio: "inherit" });
  if (build.error || build.status !== 0) {
    say(`cargo build failed${build.error ? `: ${build.error.message}` : ` (exit ${build.status})`}`);
    return 1;
  }

  const built = path.join(cargoTargetDir(), "release", libraryFileName(crateLibName()));
  if (!fs.existsSync(built)) {
    say(`cargo build succeeded but ${built} is missing`);
    return 1;
  }
  const dest = path.join(pkgDir, target);
  fs.copyFileSync(built, dest);
  if (!process.env.CARGO_TARGET_DIR) {
    // cargo's build tree is hundreds of MiB: keep only the addon in node_modules.
    fs.rmSync(path.join(pkgDir, "target"), { recursive: true, force: true });
  }
  if (!bindingLoads()) {
    say(`built ${target}, but it does not load: run node -e 'require("@mercury-ai/container-runner")' to see why`);
    return 1;
  }
  say(`built ${target}`);
  return 0;
}

/** Whether the package's loader finds a binary, checked in a fresh process. */
function bindingLoads() {
  const r = spawnSync(process.execPath, ["-e", "require(process.argv[1])", path.join(pkgDir, "index.js")], {
    cwd: pkgDir,
    stdio: "ignore",
  });
  return r.status === 0;
}

function hasCargo() {
  const r = spawnSync("cargo", ["--version"], { stdio: "ignore" });
  return !r.error && r.status === 0;
}

function cargoTargetDir() {
  const dir = process.env.CARGO_TARGET_DIR;
  return dir ? path.resolve(pkgDir, dir) : path.join(pkgDir, "target");
}

/** The [lib] name of Cargo.toml, else its package name, with '-' as '_'. */
function crateLibName() {
  const toml = fs.readFileSync(path.join(pkgDir, "Cargo.toml"), "utf8");
  const section = (name) => {
    const m = toml.match(new RegExp(`^\\[${name}\\]\\s*$([\\s\\S]*?)(?=^\\[|(?![\\s\\S]))`, "m"));
    const n = m && m[1].match(/^\s*name\s*=\s*"([^"]+)"/m);
    return n ? n[1] : null;
  };
  return (section("lib") || section("package") || "mercury-container-runner").replace(/-/g, "_");
}

function libraryFileName(lib) {
  if (process.platform === "win32") return `${lib}.dll`;
  if (process.platform === "darwin") return `lib${lib}.dylib`;
  return `lib${lib}.so`;
}

/** The file name index.js requires first on this platform, or null. */
function loaderFileName(binaryName) {
  const { platform, arch } = process;
  let suffix = null;
  if (platform === "linux") {
    const musl = isMusl();
    const libc = musl ? "musl" : "gnu";
    if (["x64", "arm64", "loong64", "riscv64"].includes(arch)) suffix = `${arch}-${libc}`;
    else if (arch === "arm") suffix = musl ? "arm-musleabihf" : "arm-gnueabihf";
    else if (arch === "ppc64" || arch === "s390x") suffix = `${arch}-gnu`;
  } else if (platform === "darwin") {
    if (arch === "x64" || arch === "arm64") suffix = arch;
  } else if (platform === "win32") {
    const vars = (process.config && process.config.variables) || {};
    const gnu = vars.shlib_suffix === "dll.a" || vars.node_target_type === "shared_library";
    if (arch === "x64") suffix = gnu ? "x64-gnu" : "x64-msvc";
    else if (arch === "ia32" || arch === "arm64") suffix = `${arch}-msvc`;
  } else if (platform === "freebsd") {
    if (["x64", "arm64", "ppc64"].includes(arch)) suffix = arch;
  } else if (platform === "android") {
    if (arch === "arm64") suffix = "arm64";
    else if (arch === "arm") suffix = "arm-eabi";
  } else if (platform === "openharmony") {
    if (["x64", "arm64", "arm"].includes(arch)) suffix = arch;
  }
  return suffix ? `${binaryName}.${platform}-${suffix}.node` : null;
}

/** The loader's own musl test: /usr/bin/ldd first, then the process report. */
function isMusl() {
  try {
    return fs.readFileSync("/usr/bin/ldd", "utf8").includes("musl");
  } catch {
    // fall through
  }
  if (process.report && typeof process.report.getReport === "function") {
    process.report.excludeNetwork = true;
    const report = process.report.getReport();
    if (report && report.header && report.header.glibcVersionRuntime) return false;
    if (report && Array.isArray(report.sharedObjects)) {
      return report.sharedObjects.some((f) => f.includes("libc.musl-") || f.includes("ld-musl-"));
    }
  }
  return false;
}

try {
  process.exitCode = main();
} catch (err) {
  say(`install step failed: ${err && err.stack ? err.stack : err}`);
  process.exitCode = 1;
}
