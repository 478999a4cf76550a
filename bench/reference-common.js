"use strict";
// What the two reference runners (cli-runner.js, dockerode-runner.js) share:
// the contract's container environment, mounts, payload, result parsing and
// outcome, and a registry of runs in flight. Plain JavaScript, as the host's
// TypeScript runner would have it, so that the bench compares transports
// (docker CLI / dockerode / our addon) and not features.
//
// Left out on purpose, and said so in each runner: the outbox scan (the
// bench's agents write no outbox files, and it is the same fs work for
// every implementation) and image pulling (the bench image is local).

const fs = require("node:fs");
const path = require("node:path");

const RESULT_START = "---MERCURY_CONTAINER_RESULT_START---";
const RESULT_END = "---MERCURY_CONTAINER_RESULT_END---";
const MANAGED_LABEL = { "mercury.managed": "true" };

class ContainerError extends Error {
  constructor(reason, exitCode, message) {
    super(message);
    this.name = "ContainerError";
    this.reason = reason;
    this.exitCode = exitCode;
  }
  static timeout(spaceId) {
    return new ContainerError("timeout", null, `Container timed out for group ${spaceId}`);
  }
  static oom(spaceId, exitCode) {
    return new ContainerError("oom", exitCode, `Container was killed for group ${spaceId} (exit code ${exitCode}, possibly out of memory)`);
  }
  static aborted(spaceId) {
    return new ContainerError("aborted", null, `Container aborted for group ${spaceId}`);
  }
  static error(exitCode, output) {
    return new ContainerError("error", exitCode, `Container failed (exit code ${exitCode}): ${String(output).slice(0, 500)}`);
  }
}

/** The config fields a runner reads (the host passes its whole AppConfig). */
function settingsOf(config, options = {}) {
  return {
    image: config.agentContainerImage,
    timeoutMs: config.containerTimeoutMs,
    globalDir: path.resolve(config.globalDir),
    spacesDir: path.resolve(config.spacesDir),
    provider: config.modelProvider,
    authPath: config.authPath,
    port: config.port,
    packageRoot: options.packageRoot,
  };
}

/** The built-in credential resolver of the contract (auth.json, no refresh). */
async function builtinCredential(s) {
  if (s.provider !== "anthropic") return undefined;
  if (process.env.MERCURY_ANTHROPIC_API_KEY || process.env.MERCURY_ANTHROPIC_OAUTH_TOKEN) return undefined;
  try {
    const auth = JSON.parse(await fs.promises.readFile(s.authPath ?? path.join(s.globalDir, "auth.json"), "utf8"));
    const a = auth && auth.anthropic;
    if (a && a.type === "oauth" && typeof a.access === "string" && typeof a.refresh === "string" && typeof a.expires === "number" && a.expires > Date.now()) {
      return a.access;
    }
  } catch {
    // Missing or unreadable: nothing.
  }
  return undefined;
}

/** [name, value] pairs in the contract's order; a later entry replaces an earlier one, empty values dropped. */
function containerEnv(s, input, token) {
  const env = new Map();
  const set = (n, v) => {
    env.delete(n);
    if (v !== undefined && v !== null && v !== "") env.set(n, String(v));
  };
  set("HOME", "/root");
  set("PI_CODING_AGENT_DIR", "/root/.pi/agent");
  set("CALLER_ID", input.callerId);
  set("SPACE_ID", input.spaceId);
  set("API_URL", `http://host.docker.internal:${s.port}`);
  const claimed = input.claimedEnvSources instanceof Set ? input.claimedEnvSources : new Set();
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith("MERCURY_") || name.length === 8 || claimed.has(name)) continue;
    set(name.slice(8), value);
  }
  if (s.provider === "anthropic" && !env.has("ANTHROPIC_API_KEY") && !env.has("ANTHROPIC_OAUTH_TOKEN") && token) {
    set("ANTHROPIC_OAUTH_TOKEN", token);
  }
  for (const [name, value] of Object.entries(input.extraEnv ?? {})) set(name, value);
  return [...env];
}

/** The binds; the docs binds only when their source exists (as our addon does). */
function containerMounts(s) {
  const mounts = [
    { source: s.spacesDir, target: "/spaces", readOnly: false },
    { source: s.globalDir, target: "/root/.pi/agent", readOnly: false },
  ];
  if (s.packageRoot) {
    const readme = path.join(s.packageRoot, "README.md");
    const docs = path.join(s.packageRoot, "docs");
    if (fs.existsSync(readme)) mounts.push({ source: readme, target: "/docs/mercury/README.md", readOnly: true });
    if (fs.existsSync(docs)) mounts.push({ source: docs, target: "/docs/mercury/docs", readOnly: true });
  }
  return mounts;
}

/** The agent's stdin: the whole input as JSON.stringify writes it, workspace seen from the container. */
function payloadOf(s, input) {
  return JSON.stringify({
    ...input,
    spaceWorkspace: String(input.spaceWorkspace).replace(s.spacesDir, "/spaces"),
    callerRole: input.callerRole ?? "member",
  });
}

/** Folders, credential, environment, mounts and payload of one run. */
async function prepare(s, input) {
  await fs.promises.mkdir(s.globalDir, { recursive: true });
  await fs.promises.mkdir(s.spacesDir, { recursive: true });
  const token = await builtinCredential(s);
  return { env: containerEnv(s, input, token), mounts: containerMounts(s), payload: payloadOf(s, input) };
}

/** Steps 8 and 9 of the contract (the outbox scan is skipped: files is always []). */
function outcome(spaceId, { timedOut, aborted, exitCode, stdout, stderr }) {
  if (timedOut) throw ContainerError.timeout(spaceId);
  if (aborted) throw ContainerError.aborted(spaceId);
  if (exitCode === 137) throw ContainerError.oom(spaceId, 137);
  if (exitCode !== 0) throw ContainerError.error(exitCode, stderr || stdout);
  const start = stdout.indexOf(RESULT_START);
  const end = start < 0 ? -1 : stdout.indexOf(RESULT_END, start + RESULT_START.length);
  if (start < 0 || end < 0) throw new Error(`Failed to parse container result: ${stdout || stderr}`);
  const text = stdout.slice(start + RESULT_START.length, end).trim();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`Malformed container output: ${text.slice(0, 200)}`);
  }
  return { reply: json && typeof json.reply === "string" ? json.reply : "Done.", files: [] };
}

/** Runs in flight, keyed by space id, with what it takes to kill each. */
class Runs {
  constructor() {
    this.bySpace = new Map();
    this.count = 0;
  }
  add(spaceId) {
    const run = { spaceId, aborted: false, kill: null };
    let set = this.bySpace.get(spaceId);
    if (!set) this.bySpace.set(spaceId, (set = new Set()));
    set.add(run);
    this.count++;
    return run;
  }
  delete(run) {
    const set = this.bySpace.get(run.spaceId);
    if (set && set.delete(run)) {
      this.count--;
      if (set.size === 0) this.bySpace.delete(run.spaceId);
    }
  }
  abort(spaceId) {
    const set = this.bySpace.get(spaceId);
    if (!set) return false;
    for (const run of set) {
      run.aborted = true;
      if (run.kill) run.kill();
    }
    return true;
  }
  abortAll() {
    for (const spaceId of this.bySpace.keys()) this.abort(spaceId);
  }
}

/** The shared part of both reference runners' public surface. */
class ReferenceRunner {
  constructor(config, options = {}) {
    this.settings = settingsOf(config, options);
    this.runs = new Runs();
    this.counter = 0;
  }
  nextName() {
    return `mercury-${Date.now()}-${++this.counter}`;
  }
  isRunning(spaceId) {
    return this.runs.bySpace.has(spaceId);
  }
  get activeCount() {
    return this.runs.count;
  }
  getActiveSpaces() {
    return [...this.runs.bySpace.keys()];
  }
  abort(spaceId) {
    return this.runs.abort(spaceId);
  }
  killAll() {
    this.runs.abortAll();
  }
}

module.exports = { ContainerError, ReferenceRunner, MANAGED_LABEL, prepare, outcome };
