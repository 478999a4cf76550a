// The load test's probe, run by scripts/load-test.sh under the Node of the
// platform being tested (natively, under qemu, or under the musl loader), in
// a throwaway project that has the root package and one platform package in
// node_modules and nothing else.
//
//   node load-probe.js <platform package name>
//
// Checks, with DOCKER_HOST pointing at a socket that does not exist (on
// Windows, with no DOCKER_HOST: Docker Desktop's default named pipe, which
// does not exist under wine):
// - requiring the package loads the addon, and the file napi's generated
//   loader picked is the one in the expected platform package;
// - a runner constructs;
// - reply() rejects with the ContainerError the contract names for an engine
//   that cannot be reached: reason "error", exitCode 125, a message naming
//   the endpoint. bollard refuses a missing socket file before any I/O, so
//   a second runner (dockerHost option) points at a file that exists but
//   accepts no connection: that reply goes through a real connect on the
//   addon's tokio runtime (hyper, the Unix connector) and must fail the
//   same way. On Windows the second runner's dockerHost is a TCP port on
//   127.0.0.1 that was just closed (a real connect through Windows sockets).
// Prints one line and exits 0 when all hold; otherwise says what did not.
// (Under wine, Node cannot write to a stdout pipe, EBADF: the caller sends
// its output to a file.)
"use strict";

const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

// A reply against a missing socket fails at the first connect; anything near
// this long means the runtime hangs.
const REPLY_DEADLINE_MS = 30_000;

const expectedPackage = process.argv[2];
const WINDOWS_DEFAULT_ENDPOINT = "npipe:////./pipe/docker_engine";
const endpoint = process.env.DOCKER_HOST || (process.platform === "win32" ? WINDOWS_DEFAULT_ENDPOINT : undefined);
const failures = [];
const check = (ok, what) => {
  if (!ok) failures.push(what);
};

async function main() {
  const { AgentContainerRunner, ContainerError } = require("@mercury-ai/container-runner");
  const addons = Object.keys(require.cache).filter((f) => f.endsWith(".node"));
  const expectedDir = path.dirname(require.resolve(`${expectedPackage}/package.json`));
  check(
    addons.length === 1 && addons[0].startsWith(expectedDir + path.sep),
    `the loader loaded ${expectedPackage}'s binary (loaded: ${addons.join(", ") || "none"})`,
  );

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "load-probe-"));
  try {
    const config = {
      agentContainerImage: "mercury-load-probe:none",
      containerTimeoutMs: 10_000,
      globalDir: path.join(tmp, "global"),
      spacesDir: path.join(tmp, "spaces"),
      modelProvider: "anthropic",
      port: 3000,
    };
    const logger = { debug() {}, info() {}, warn() {}, error() {} };
    let refusing;
    if (process.platform === "win32") {
      refusing = `tcp://127.0.0.1:${await closedPort()}`;
    } else {
      const file = path.join(tmp, "refusing.sock");
      fs.writeFileSync(file, ""); // connect(2) to a non-socket: ECONNREFUSED
      refusing = `unix://${file}`;
    }
    const first = process.env.DOCKER_HOST ? "DOCKER_HOST, no such socket" : "the default endpoint, no such pipe";
    const cases = [
      { what: first, endpoint, runner: new AgentContainerRunner(config, { logger }) },
      {
        what: "dockerHost, nothing listening",
        endpoint: refusing,
        runner: new AgentContainerRunner(config, { logger, dockerHost: refusing }),
      },
    ];
    const seen = [];
    for (const c of cases) {
      check(c.runner.activeCount === 0, `${c.what}: a new runner has activeCount 0`);
      const started = Date.now();
      const err = await rejectionOf(
        c.runner.reply({ spaceId: "probe", spaceWorkspace: path.join(tmp, "spaces", "probe"), messages: [], prompt: "hi", callerId: "u" }),
      );
      const ms = Date.now() - started;
      const got = err === null ? "it resolved" : `${err && err.constructor && err.constructor.name}: ${err && err.message}`;
      check(err instanceof ContainerError, `${c.what}: the rejection is a ContainerError (got ${got})`);
      check(err instanceof Error, `${c.what}: the rejection is an Error`);
      check(err && err.reason === "error", `${c.what}: reason "error" (got ${err && err.reason})`);
      check(err && err.exitCode === 125, `${c.what}: exitCode 125 (got ${err && err.exitCode})`);
      const want = `Container failed (exit code 125): Cannot connect to the Docker engine at ${c.endpoint}`;
      check(err && typeof err.message === "string" && err.message.startsWith(want), `${c.what}: message starts with "${want}" (got ${got})`);
      check(c.runner.activeCount === 0, `${c.what}: activeCount back to 0`);
      seen.push(`${c.what}: rejected in ${ms} ms: ${err && err.message}`);
    }
    if (failures.length === 0) {
      const libc = process.report.getReport().header.glibcVersionRuntime;
      console.log(
        `load ok: ${expectedPackage} under node ${process.version} ${process.platform}-${process.arch}` +
          ` (${libc ? `glibc ${libc}` : "no glibc"})\n  ${seen.join("\n  ")}`,
      );
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** A TCP port on 127.0.0.1 that was listening a moment ago and no longer is. */
function closedPort() {
  const net = require("node:net");
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** The rejection of a promise (null if it resolved), bounded by REPLY_DEADLINE_MS. */
async function rejectionOf(promise) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`reply did not settle within ${REPLY_DEADLINE_MS} ms`)), REPLY_DEADLINE_MS);
  });
  try {
    await Promise.race([promise, deadline]);
    return null;
  } catch (e) {
    return e;
  } finally {
    clearTimeout(timer);
  }
}

main()
  .catch((err) => failures.push(`threw: ${err && err.stack ? err.stack : err}`))
  .finally(() => {
    if (failures.length) {
      console.error(`load FAILED: ${expectedPackage}: ${failures.join("; ")}`);
      process.exitCode = 1;
    }
  });
