// The package without a binary for this machine: what `require` and `import`
// throw (no-binary.js), and what the build command named there says when it
// cannot build. The package is copied, without any .node file and without its
// platform package, into node_modules of an empty project; a child process
// loads it there. No engine, no cargo run (the real build is in
// scripts/registry-test.sh).
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { spawnSync } = require("node:child_process");
const { noBinaryError, platformOfTriple, currentPlatform } = require("../no-binary.js");

const root = path.resolve(__dirname, "..");
const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
const SHIPPED_JS = ["package.json", "main.js", "index.js", "index.mjs", "realm.js", "no-binary.js", "scripts/build-from-source.js"];
// The build command is `node ...`: under Bun's test runner, the Node on PATH.
const NODE = process.versions.bun
  ? (process.env.PATH || "").split(path.delimiter).map((d) => path.join(d, "node")).find((f) => fs.existsSync(f))
  : process.execPath;

let project;
let pkgDir;
beforeAll(() => {
  project = fs.mkdtempSync(path.join(os.tmpdir(), "no-binary-"));
  pkgDir = path.join(project, "node_modules", ...pkg.name.split("/"));
  for (const f of SHIPPED_JS) {
    fs.mkdirSync(path.dirname(path.join(pkgDir, f)), { recursive: true });
    fs.copyFileSync(path.join(root, f), path.join(pkgDir, f));
  }
  fs.writeFileSync(path.join(project, "package.json"), "{}\n");
});
afterAll(() => fs.rmSync(project, { recursive: true, force: true }));

/** Loads the package in a child of this runtime; returns what it threw. */
function loadIn(kind) {
  const env = { ...process.env };
  delete env.NAPI_RS_NATIVE_LIBRARY_PATH;
  delete env.NODE_PATH;
  const code =
    kind === "require"
      ? `try { require(${JSON.stringify(pkg.name)}); console.log("{}") } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message, cause: String(e.cause && e.cause.message) })) }`
      : `import(${JSON.stringify(pkg.name)}).then(() => console.log("{}"), (e) => console.log(JSON.stringify({ code: e.code, message: e.message, cause: String(e.cause && e.cause.message) })))`;
  const file = path.join(project, kind === "require" ? "load.cjs" : "load.mjs");
  fs.writeFileSync(file, code);
  const r = spawnSync(process.execPath, [file], { cwd: project, env, encoding: "utf8" });
  expect(r.stderr).toBe("");
  return JSON.parse(r.stdout);
}

test.each(["require", "import"])("%s without a binary throws MERCURY_NO_NATIVE_BINARY naming the platform, the prebuilt ones and the build command", (kind) => {
  const err = loadIn(kind);
  expect(err.code).toBe("MERCURY_NO_NATIVE_BINARY");
  const here = currentPlatform();
  expect(here).toMatch(new RegExp(`^${process.platform}-${process.arch}`));
  expect(err.message).toContain(`loads on ${here}:`);
  for (const t of pkg.napi.targets) expect(err.message).toContain(platformOfTriple(t));
  // The command, exactly as printed, names the build script of this installed copy.
  const command = err.message.match(/\n {2}node "([^"]+)"$/);
  expect(command).not.toBeNull();
  expect(command[1]).toBe(path.join(fs.realpathSync(pkgDir), "scripts", "build-from-source.js"));
  expect(fs.existsSync(command[1])).toBe(true);
  // The loader's own account stays reachable as the cause.
  expect(err.cause).toMatch(/native binding/);
});

test("on a listed platform the error says the prebuilt package is missing; elsewhere that none exists", () => {
  const listed = noBinaryError({ pkgDir: root, platform: "linux-x64-gnu" });
  expect(listed.message).toContain(`its prebuilt package ${pkg.name}-linux-x64-gnu is not installed`);
  const other = noBinaryError({ pkgDir: root, platform: "freebsd-x64" });
  expect(other.message).toContain("there is no prebuilt package for it");
  expect(other.supported).toEqual(pkg.napi.targets.map(platformOfTriple));
  expect(other.buildCommand).toEqual(["node", path.join(root, "scripts", "build-from-source.js")]);
});

test("the triples of package.json name napi's platform packages", () => {
  const dirs = fs.readdirSync(path.join(root, "npm")).sort();
  expect(pkg.napi.targets.map(platformOfTriple).sort()).toEqual(dirs);
  expect(platformOfTriple("x86_64-pc-windows-msvc")).toBe("win32-x64-msvc");
});

test("the build command without cargo on PATH fails with one sentence saying so, and leaves the package as it was", () => {
  const emptyBin = fs.mkdtempSync(path.join(os.tmpdir(), "no-cargo-"));
  const before = fs.readdirSync(pkgDir).sort();
  const env = { ...process.env, PATH: emptyBin };
  delete env.NAPI_RS_NATIVE_LIBRARY_PATH;
  delete env.CARGO_TARGET_DIR;
  const r = spawnSync(NODE, [path.join(pkgDir, "scripts", "build-from-source.js")], { cwd: project, env, encoding: "utf8" });
  fs.rmSync(emptyBin, { recursive: true, force: true });
  expect(r.status).toBe(1);
  expect(r.stdout.trim()).toBe("build-from-source: cargo is not on PATH: install Rust (https://rustup.rs), then run this command again");
  expect(fs.readdirSync(pkgDir).sort()).toEqual(before);
});
