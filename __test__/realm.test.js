// Each runner builds its errors in the realm it was constructed in: a runner
// made in one realm keeps that realm's ContainerError and TypeError after
// another realm (another Jest file, a vm context) has attached its own.
const fs = require("node:fs");
const path = require("node:path");
const vm = require("node:vm");
const h = require("./helpers");

const binding = require("../index.js");

/** realm.js evaluated in a fresh vm context, attached as the current realm. */
function attachOtherRealm() {
  const context = vm.createContext({ process, console, Buffer });
  const source = fs.readFileSync(path.join(__dirname, "..", "realm.js"), "utf8");
  const wrapper = vm.runInContext(`(function (module, exports, require) {${source}\n})`, context);
  const module = { exports: {} };
  wrapper(module, module.exports, (id) => (id === "./index.js" ? binding : require(id)));
  binding.attachRealm(module.exports);
  return { realm: module.exports, Error: vm.runInContext("Error", context), TypeError: vm.runInContext("TypeError", context) };
}

const noEngine = { dockerHost: "unix:///nonexistent/mercury-realm-test.sock" };

test("two runners from two realms each get their own realm's ContainerError and TypeError", async () => {
  const mine = h.makeRunner({}, noEngine);
  const other = attachOtherRealm();
  const theirs = h.makeRunner({}, noEngine);
  try {
    const [a, b] = await Promise.all([
      h.rejectionOf(mine.runner.reply(h.replyInput(mine, "realm-a"))),
      h.rejectionOf(theirs.runner.reply(h.replyInput(theirs, "realm-b"))),
    ]);
    expect(a).toBeInstanceOf(h.ContainerError);
    expect(a).toBeInstanceOf(Error);
    expect(a).not.toBeInstanceOf(other.realm.ContainerError);
    expect(b).toBeInstanceOf(other.realm.ContainerError);
    expect(b).toBeInstanceOf(other.Error);
    expect(b).not.toBeInstanceOf(h.ContainerError);
    for (const e of [a, b]) {
      expect(e.exitCode).toBe(125);
      expect(e.message).toMatch(/^Container failed \(exit code 125\): Cannot connect to the Docker engine at unix:\/\/\/nonexistent/);
    }

    let typeA, typeB;
    try { mine.runner.isRunning(5); } catch (e) { typeA = e; }
    try { theirs.runner.isRunning(5); } catch (e) { typeB = e; }
    expect(typeA).toBeInstanceOf(TypeError);
    expect(typeA).not.toBeInstanceOf(other.TypeError);
    expect(typeB).toBeInstanceOf(other.TypeError);
  } finally {
    // Put this file's realm back for whatever runs next in this worker.
    binding.attachRealm(require("../realm.js"));
  }
});

test("ContainerError's factories write the core's messages, the output cut at 500 characters", () => {
  const long = "é".repeat(600);
  expect(h.ContainerError.error(3, long).message).toBe(`Container failed (exit code 3): ${"é".repeat(500)}`);
  expect(h.ContainerError.oom("s", 137).message).toBe("Container was killed for group s (exit code 137, possibly out of memory)");
  expect(h.ContainerError.timeout("s").message).toBe("Container timed out for group s");
  expect(h.ContainerError.aborted("s").message).toBe("Container aborted for group s");
});
