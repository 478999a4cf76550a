// The runner's JavaScript half. It is evaluated in the importer's realm, not
// the addon's: under Jest each test file has its own globals (Error, Set,
// process.env, console), and the host's runner always used the importer's.
// So errors built here are `instanceof Error` where the host checks, Sets are
// recognised, process.env is the one the host's tests set, and console lines
// reach the console the host's tests capture.
"use strict";

const native = require("./index.js");
// The messages are written once, in the native core.
const { containerErrorMessage } = native;

// process.exit() or a normal end with runs in flight: their containers are
// removed first (bounded to a couple of seconds). One listener per process.
if (native.claimExitHook()) process.once("exit", () => native.runExitCleanups());

class ContainerError extends Error {
  constructor(reason, exitCode, message) {
    super(message);
    this.name = "ContainerError";
    this.reason = reason;
    this.exitCode = exitCode;
  }

  static timeout(spaceId) {
    return new ContainerError("timeout", null, containerErrorMessage("timeout", `${spaceId}`));
  }

  static oom(spaceId, exitCode) {
    return new ContainerError("oom", exitCode, containerErrorMessage("oom", `${spaceId}`, `${exitCode}`));
  }

  static aborted(spaceId) {
    return new ContainerError("aborted", null, containerErrorMessage("aborted", `${spaceId}`));
  }

  static error(exitCode, output) {
    return new ContainerError("error", exitCode, containerErrorMessage("error", `${exitCode}`, String(output)));
  }
}
Object.defineProperty(ContainerError.prototype, "name", { value: "ContainerError", writable: true, configurable: true });

// Builds the error a rejected promise carries from the core's one description
// of it: class, reason, exit code, message, and the details some carry.
function makeError(d) {
  switch (d.class) {
    case "container": {
      const e = new ContainerError(d.reason, d.exitCode, d.message);
      if (d.oomKilled !== null) e.oomKilled = d.oomKilled;
      return e;
    }
    case "type":
      return new TypeError(d.message);
    default:
      return d.cause === null ? new Error(d.message) : new Error(d.message, { cause: new Error(d.cause) });
  }
}

// The payload exactly as the host's runner wrote it: JSON.stringify of the
// whole input, with the workspace seen from the container and a default role.
// Bytes, not a string: Buffer.from encodes UTF-8 several times faster than
// napi's string conversion, and the addon reads the bytes in place.
function payload(input, spaceWorkspace, callerRole) {
  return Buffer.from(JSON.stringify({ ...input, spaceWorkspace, callerRole }));
}

// process.env's MERCURY_* entries, read at call time like the host's runner.
function mercuryEnv() {
  const out = [];
  for (const [name, value] of Object.entries(process.env)) {
    if (name.startsWith("MERCURY_") && typeof value === "string") out.push([name, value]);
  }
  return out;
}

function envVar(name) {
  const value = process.env[name];
  return typeof value === "string" ? value : undefined;
}

function mainScript() {
  return typeof process.argv[1] === "string" ? process.argv[1] : undefined;
}

// A Set's members; null when `value` is not a Set (of any realm).
function setMembers(value) {
  if (value instanceof Set) return Array.from(value);
  try {
    return Array.from(Set.prototype.values.call(value));
  } catch {
    return null;
  }
}

// Method looked up at call time, so spies installed after construction still see the lines.
function loggerSink(logger) {
  return function (level, msg, fields) {
    try {
      const method = logger[level];
      if (typeof method === "function") method.call(logger, msg, fields);
    } catch {
      // A failing host logger must not take the process down from a callback.
    }
  };
}

function consoleSink(toStderr, line) {
  try {
    if (toStderr) console.error(line);
    else console.log(line);
  } catch {
    // As above.
  }
}

// The host's resolver as the runner calls it: a synchronous throw becomes a
// rejection with the same value, and whatever it resolves to must be a
// string or nothing.
function credentialResolver(resolve) {
  return (request) =>
    new Promise((ok) => ok(resolve(request))).then((value) => {
      if (value === undefined || value === null) return undefined;
      if (typeof value === "string") return value;
      throw new TypeError(`resolveCredential must resolve to a string or undefined, got ${typeof value}`);
    });
}

function noop() {}

module.exports = { ContainerError, makeError, payload, mercuryEnv, envVar, mainScript, setMembers, loggerSink, consoleSink, credentialResolver, noop };
