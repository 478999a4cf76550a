// Shared by every suite; runs under Jest (Node) and `bun test` alike.
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { execFileSync } = require("node:child_process");
const { AgentContainerRunner, ContainerError } = require("..");

// MERCURY_TEST_IMAGE: a fixture image built from another tree, while the shared engine's `latest` is someone else's.
const IMAGE = process.env.MERCURY_TEST_IMAGE || "mercury-test-agent:latest";
// The fixture plus Bun and Node (scripts/build-images.sh), for probes a shell cannot make.
const RUNTIMES_IMAGE = process.env.MERCURY_TEST_RUNTIMES_IMAGE || "mercury-test-agent:runtimes";
const REGISTRY = "127.0.0.1:5000";
// MERCURY_TEST_RUNTIME: the OCI runtime every runner made here uses unless a test names its
// own (scripts/test.sh runs the hostile suite once more with "runsc").
const RUNTIME = process.env.MERCURY_TEST_RUNTIME || undefined;

function tempRoot() {
  return fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "mcr-test-")));
}

/** A logger object that records every line. */
function captureLogger() {
  const lines = [];
  const logger = {};
  for (const level of ["debug", "info", "warn", "error"]) {
    logger[level] = (msg, fields) => lines.push({ level, msg, fields });
  }
  return { logger, lines };
}

// Every recording of log lines made in this suite file, so that at its end the file can check
// that each container its runs named is gone (__test__/left-nothing.js).
const recordings = [];

/** The running test's name, where the test runner tells it (Jest does; `bun test` may not). */
function currentTestName() {
  try {
    return (typeof expect !== "undefined" && expect.getState && expect.getState().currentTestName) || "(outside a test)";
  } catch {
    return "(unknown test)";
  }
}

/** Names of the containers named in any log line this suite file recorded. */
function namesLogged() {
  const names = new Set();
  for (const { lines } of recordings) for (const l of lines) if (l.fields && typeof l.fields.container === "string") names.add(l.fields.container);
  return [...names];
}

/** For a leftover container: the test whose runner logged it, and those log lines (what it went through). */
function historyOf(name) {
  for (const { test, lines } of recordings) {
    const about = lines.filter((l) => l.fields && l.fields.container === name);
    if (about.length > 0) return { test, lines: about.map((l) => `${l.level} ${l.msg} ${JSON.stringify(l.fields)}`) };
  }
  return null;
}

/** The id the engine gave container `name`, from its event log (which outlives the container); null if it made none since `sinceMs`. */
function engineIdOf(name, sinceMs) {
  const since = Math.floor(sinceMs / 1000) - 1;
  const until = Math.floor(Date.now() / 1000) + 1;
  const out = docker("events", "--since", String(since), "--until", String(until), "--filter", "event=create", "--filter", `container=${name}`, "--format", "{{.ID}}");
  return out.split("\n").filter(Boolean)[0] || null;
}

/** Removes containers by id or name; one already gone is no failure. */
function removeContainers(...ids) {
  for (const id of ids) {
    try {
      docker("rm", "-f", id);
    } catch (e) {
      if (!/No such container/i.test(String(e.stderr))) throw e;
    }
  }
}

/** A runner over fresh folders, with a recording logger; `extraConfig` mimics the host's AppConfig. */
function makeRunner(overrides = {}, options = {}) {
  const root = tempRoot();
  const config = {
    agentContainerImage: IMAGE,
    containerTimeoutMs: 30_000,
    globalDir: path.join(root, "global"),
    spacesDir: path.join(root, "spaces"),
    modelProvider: "anthropic",
    port: 3000,
    dbPath: path.join(root, "db.sqlite"),
    ...overrides,
  };
  const { logger, lines } = captureLogger();
  recordings.push({ test: currentTestName(), lines });
  const runner = new AgentContainerRunner(config, { logger, packageRoot: path.join(root, "pkg"), ...(RUNTIME && { runtime: RUNTIME }), ...options });
  return { runner, root, config, lines };
}

function replyInput(ctx, spaceId, extra = {}) {
  return {
    spaceId,
    spaceWorkspace: path.join(ctx.config.spacesDir, spaceId),
    messages: [],
    prompt: "hello agent",
    callerId: "caller-1",
    ...extra,
  };
}

/** A file the fixture agent wrote about what it saw (echo mode). */
function seen(ctx, spaceId, file) {
  return fs.readFileSync(path.join(ctx.config.spacesDir, spaceId, "fixture", file), "utf8");
}

function docker(...args) {
  return execFileSync("docker", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
}

function containersNamed(name) {
  return docker("ps", "-aq", "--filter", `name=^/${name}$`).split("\n").filter(Boolean);
}

function managedContainers() {
  return docker("ps", "-aq", "--filter", "label=mercury.managed=true").split("\n").filter(Boolean);
}

/** Names of labelled containers named for a run called at or after `sinceMs` (mercury-<ms>-<n>). */
function managedNamesSince(sinceMs) {
  return docker("ps", "-a", "--filter", "label=mercury.managed=true", "--format", "{{.Names}}")
    .split("\n")
    .filter((n) => {
      const m = /^mercury-(\d+)-\d+$/.exec(n);
      return m && Number(m[1]) >= sinceMs;
    });
}

// The runner's private copies of outbox files for this process: <tmp>/mercury-outbox-<pid>-<random>/<turn>/<name>.
const COPY_PREFIX = path.join(os.tmpdir(), `mercury-outbox-${process.pid}-`);

/** A returned file's path is the runner's private copy: under COPY_PREFIX, 0600, its own name, outside `spacesDir`. */
function expectPrivateCopy(ctx, file) {
  expect(file.path.startsWith(COPY_PREFIX)).toBe(true);
  expect(path.basename(file.path)).toBe(file.filename);
  if (ctx) expect(file.path.startsWith(ctx.config.spacesDir)).toBe(false);
  expect(fs.lstatSync(file.path).mode & 0o7777).toBe(0o600);
  expect(fs.lstatSync(path.dirname(file.path)).mode & 0o7777).toBe(0o700);
}

async function waitFor(what, check, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The running container of a runner's only run, once it exists. */
async function runningContainer(lines) {
  const started = await waitFor("Container started", () => lines.find((l) => l.msg === "Container started"));
  return started.fields.container;
}

async function rejectionOf(promise) {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  throw new Error("expected the promise to reject");
}

/** Waits until the container of a finished run is gone (its removal runs after the reply settles). */
async function expectRemoved(name) {
  await waitFor(`removal of ${name}`, () => containersNamed(name).length === 0);
}

/** Sets the host's variables `vars` in process.env; an undefined value removes one. */
function setEnv(vars) {
  for (const [k, v] of Object.entries(vars)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
}

/** Runs `fn` with `vars` set (see setEnv), then puts back what those variables were, whatever `fn` changed. */
async function withEnv(vars, fn) {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  setEnv(vars);
  try {
    return await fn();
  } finally {
    setEnv(saved);
  }
}

/** No Anthropic credential from the host (for withEnv): the resolver's token is the one that travels. */
const NO_HOST_CREDENTIAL = { MERCURY_ANTHROPIC_API_KEY: undefined, MERCURY_ANTHROPIC_OAUTH_TOKEN: undefined };

function containerOf(lines) {
  const line = lines.find((l) => l.fields && l.fields.container);
  return line && line.fields.container;
}

module.exports = {
  AgentContainerRunner,
  ContainerError,
  IMAGE,
  RUNTIMES_IMAGE,
  REGISTRY,
  RUNTIME,
  tempRoot,
  captureLogger,
  makeRunner,
  replyInput,
  seen,
  docker,
  containersNamed,
  engineIdOf,
  managedContainers,
  managedNamesSince,
  waitFor,
  COPY_PREFIX,
  expectPrivateCopy,
  runningContainer,
  rejectionOf,
  expectRemoved,
  containerOf,
  namesLogged,
  historyOf,
  removeContainers,
  setEnv,
  withEnv,
  NO_HOST_CREDENTIAL,
};
