// How runs end badly: timeout, abort, killAll, exit codes, engine refusals,
// bad input. Every failure of the container is a ContainerError built in the
// caller's realm.
const fs = require("node:fs");
const path = require("node:path");
const h = require("./helpers");
const { startEngineProxy } = require("./engine-proxy");

const T = 60_000;
// "At once" for a synchronous call: it must not wait on the engine (the TypeScript
// runner's execSync docker kill blocked for seconds).
const AT_ONCE_MS = 50;

/** Calls `f` and returns its value with how long the call took. */
function timed(f) {
  const t0 = performance.now();
  const value = f();
  return { value, ms: performance.now() - t0 };
}

function expectContainerError(e, reason, exitCode, message) {
  expect(e).toBeInstanceOf(h.ContainerError);
  expect(e).toBeInstanceOf(Error);
  expect(e.name).toBe("ContainerError");
  expect(e.reason).toBe(reason);
  expect(e.exitCode).toBe(exitCode);
  expect(e.message).toBe(message);
  expect(typeof e.stack).toBe("string");
}

describe("ContainerError", () => {
  test("the class's own factories and constructor", () => {
    expectContainerError(h.ContainerError.timeout("s"), "timeout", null, "Container timed out for group s");
    expectContainerError(h.ContainerError.aborted("s"), "aborted", null, "Container aborted for group s");
    expectContainerError(
      h.ContainerError.oom("s", 137),
      "oom",
      137,
      "Container was killed for group s (exit code 137, possibly out of memory)",
    );
    expectContainerError(h.ContainerError.error(2, "x".repeat(600)), "error", 2, `Container failed (exit code 2): ${"x".repeat(500)}`);
    expectContainerError(new h.ContainerError("error", 1, "custom"), "error", 1, "custom");
  });
});

describe("failures", () => {
  test("timeout: the container is killed and the reply rejects with ContainerError.timeout", async () => {
    const ctx = h.makeRunner({ containerTimeoutMs: 1500 });
    const e = await h.rejectionOf(ctx.runner.reply(h.replyInput(ctx, "slow", { extraEnv: { FIXTURE_MODE: "sleep" } })));
    expectContainerError(e, "timeout", null, "Container timed out for group slow");
    const warn = ctx.lines.find((l) => l.msg === "Container timeout, killing");
    expect(warn).toMatchObject({ level: "warn", fields: { event: "container.timeout", spaceId: "slow" } });
    const end = ctx.lines.find((l) => l.msg === "Container exited");
    expect(end.level).toBe("warn");
    expect(end.fields).toMatchObject({ event: "container.end", reason: "timeout", exitCode: 137, spaceId: "slow" });
    expect(typeof end.fields.durationMs).toBe("number");
    expect(ctx.runner.isRunning("slow")).toBe(false);
    await h.expectRemoved(end.fields.container);
  }, T);

  test("a 1 ms timeout still settles as a timeout and leaves nothing behind", async () => {
    const ctx = h.makeRunner({ containerTimeoutMs: 1 });
    const before = Date.now();
    const e = await h.rejectionOf(ctx.runner.reply(h.replyInput(ctx, "tiny", { extraEnv: { FIXTURE_MODE: "sleep" } })));
    expectContainerError(e, "timeout", null, "Container timed out for group tiny");
    // The run's lines name its container, created or not; whatever it was, it is gone,
    // and so is any other container named for a run since the call.
    const name = h.containerOf(ctx.lines);
    expect(name).toMatch(/^mercury-\d+-1$/);
    await h.expectRemoved(name);
    await h.waitFor("no container of this run", () => h.managedNamesSince(before).length === 0);
    expect(ctx.runner.activeCount).toBe(0);
  }, T);

  test("abort: returns true at once, the reply rejects with ContainerError.aborted", async () => {
    const ctx = h.makeRunner();
    expect(ctx.runner.abort("nobody")).toBe(false);
    const run = ctx.runner.reply(h.replyInput(ctx, "ab", { extraEnv: { FIXTURE_MODE: "sleep" } }));
    const name = await h.runningContainer(ctx.lines);
    const first = timed(() => ctx.runner.abort("ab"));
    expect(first.value).toBe(true);
    expect(first.ms).toBeLessThan(AT_ONCE_MS);
    expect(ctx.runner.abort("ab")).toBe(true); // still in flight until the promise settles
    const e = await h.rejectionOf(run);
    expectContainerError(e, "aborted", null, "Container aborted for group ab");
    const end = ctx.lines.find((l) => l.msg === "Container exited");
    expect(end).toMatchObject({ level: "info", fields: { reason: "aborted", event: "container.end" } });
    expect(ctx.runner.abort("ab")).toBe(false);
    await h.expectRemoved(name);
  }, T);

  test("abort right after reply() is called: rejects as aborted, the agent never starts, any container made is removed", async () => {
    // The abort may land before the run reaches the engine or just after its create (the contract:
    // a run stopped before its container started never starts it). Through a proxy that records
    // every create, so each container made is checked removed; the marker agent's first act is to
    // leave a file, so an agent that started would show. Many rounds, as the abort races the run.
    const proxy = await startEngineProxy(h.tempRoot());
    try {
      for (let round = 0; round < 10; round++) {
        const ctx = h.makeRunner({}, { dockerHost: proxy.dockerHost });
        const space = `early-${round}`;
        fs.mkdirSync(path.join(ctx.config.spacesDir, space), { recursive: true });
        const run = ctx.runner.reply(h.replyInput(ctx, space, { extraEnv: { FIXTURE_MODE: "marker" } }));
        expect(ctx.runner.abort(space)).toBe(true);
        const e = await h.rejectionOf(run);
        expectContainerError(e, "aborted", null, `Container aborted for group ${space}`);
        expect(ctx.lines.find((l) => l.msg === "Container started")).toBeUndefined();
        expect(ctx.runner.activeCount).toBe(0);
        expect(fs.existsSync(path.join(ctx.config.spacesDir, space, "ran-marker"))).toBe(false);
      }
      for (const name of proxy.created) await h.expectRemoved(name);
    } finally {
      await proxy.close();
    }
  }, T);

  test("abort while the host's credential resolver has not answered yet", async () => {
    // The resolver is called, never answers; the abort comes once it has been called, and the run
    // must not go on to create a container.
    const calls = [];
    const proxy = await startEngineProxy(h.tempRoot());
    try {
      const ctx = h.makeRunner({}, {
        dockerHost: proxy.dockerHost,
        resolveCredential: (req) => {
          calls.push(req);
          return new Promise(() => {});
        },
      });
      const run = ctx.runner.reply(h.replyInput(ctx, "stuck"));
      await h.waitFor("the resolver to be called", () => calls.length === 1);
      expect(ctx.runner.abort("stuck")).toBe(true);
      const e = await h.rejectionOf(run);
      expectContainerError(e, "aborted", null, "Container aborted for group stuck");
      expect(calls).toEqual([{ provider: "anthropic", authPath: path.join(ctx.config.globalDir, "auth.json") }]);
      expect(ctx.lines.find((l) => l.msg === "Container started")).toBeUndefined();
      expect(proxy.created).toEqual([]);
    } finally {
      await proxy.close();
    }
  }, T);

  test("killAll: returns at once and every run rejects as aborted", async () => {
    const ctx = h.makeRunner();
    const spaces = ["k1", "k2", "k3"];
    const runs = spaces.map((s) => ctx.runner.reply(h.replyInput(ctx, s, { extraEnv: { FIXTURE_MODE: "sleep" } })));
    await h.waitFor("three containers", () => ctx.lines.filter((l) => l.msg === "Container started").length === 3);
    expect(ctx.runner.getActiveSpaces().sort()).toEqual(spaces);
    const killed = timed(() => ctx.runner.killAll());
    expect(killed.value).toBeUndefined();
    expect(killed.ms).toBeLessThan(AT_ONCE_MS);
    const errors = await Promise.all(runs.map(h.rejectionOf));
    errors.forEach((e, i) => expectContainerError(e, "aborted", null, `Container aborted for group ${spaces[i]}`));
    expect(ctx.runner.activeCount).toBe(0);
    for (const l of ctx.lines.filter((l) => l.msg === "Container started")) await h.expectRemoved(l.fields.container);
  }, T);

  // [the test, its space, the fixture mode, the error's reason, exit code and message]; the end line says the same.
  const exits = [
    ["exit code 137: ContainerError.oom", "oom", "exit137", "oom", 137, "Container was killed for group oom (exit code 137, possibly out of memory)"],
    ["another non-zero exit: ContainerError.error with stderr", "fail", "stderr-fail", "error", 3, "Container failed (exit code 3): boom on stderr\n"],
  ];
  for (const [what, spaceId, mode, reason, exitCode, message] of exits) {
    test(what, async () => {
      const ctx = h.makeRunner();
      const e = await h.rejectionOf(ctx.runner.reply(h.replyInput(ctx, spaceId, { extraEnv: { FIXTURE_MODE: mode } })));
      expectContainerError(e, reason, exitCode, message);
      const end = ctx.lines.find((l) => l.msg === "Container exited");
      expect(end).toMatchObject({ level: "error", fields: { reason, exitCode } });
    }, T);
  }

  test("a non-zero exit with empty stderr quotes stdout", async () => {
    const ctx = h.makeRunner();
    const e = await h.rejectionOf(ctx.runner.reply(h.replyInput(ctx, "fail2", { extraEnv: { FIXTURE_MODE: "stdout-fail" } })));
    expectContainerError(e, "error", 4, "Container failed (exit code 4): only stdout here\n");
  }, T);

  test("engine refusal: an image that cannot be pulled is exit code 125", async () => {
    const image = "127.0.0.1:5999/mercury-missing:1";
    const ctx = h.makeRunner({ agentContainerImage: image });
    const e = await h.rejectionOf(ctx.runner.reply(h.replyInput(ctx, "noimg")));
    expect(e).toBeInstanceOf(h.ContainerError);
    expect(e.reason).toBe("error");
    expect(e.exitCode).toBe(125);
    expect(e.message.startsWith(`Container failed (exit code 125): Unable to find image '${image}' locally`)).toBe(true);
    expect(ctx.lines.find((l) => l.msg === "Agent image not found locally, pulling...")).toBeDefined();
    expect(ctx.lines.find((l) => l.msg === "Container started")).toBeUndefined();
  }, T);

  test("engine refusal: a bind the engine cannot mount is exit code 125, and the container is removed", async () => {
    // The badbind image has a directory where the README file is mounted.
    const ctx = h.makeRunner({ agentContainerImage: "mercury-test-agent:badbind" });
    const pkg = path.join(ctx.root, "pkg");
    fs.mkdirSync(pkg, { recursive: true });
    fs.writeFileSync(path.join(pkg, "README.md"), "# readme\n");
    const e = await h.rejectionOf(ctx.runner.reply(h.replyInput(ctx, "badbind")));
    expect(e).toBeInstanceOf(h.ContainerError);
    expect(e.exitCode).toBe(125);
    expect(e.message).toMatch(/^Container failed \(exit code 125\): .*(not a directory|mount)/s);
    const end = ctx.lines.find((l) => l.msg === "Container exited");
    expect(end).toMatchObject({ level: "error", fields: { exitCode: 125, reason: "error" } });
    await h.expectRemoved(end.fields.container);
  }, T);
});

describe("bad input", () => {
  const cases = [
    ["not an object", null, /reply input must be an object/],
    ["no spaceId", { spaceWorkspace: "/w", messages: [], prompt: "p", callerId: "c" }, /input\.spaceId is required/],
    ["a numeric spaceId", { spaceId: 5, spaceWorkspace: "/w", messages: [], prompt: "p", callerId: "c" }, /input\.spaceId must be a string, got a number/],
    ["messages not an array", { spaceId: "s", spaceWorkspace: "/w", messages: "x", prompt: "p", callerId: "c" }, /input\.messages must be an array/],
    ["a non-string extraEnv value", { spaceId: "s", spaceWorkspace: "/w", messages: [], prompt: "p", callerId: "c", extraEnv: { A: 1 } }, /input\.extraEnv\.A must be a string, got a number/],
    ["claimedEnvSources as an array", { spaceId: "s", spaceWorkspace: "/w", messages: [], prompt: "p", callerId: "c", claimedEnvSources: ["MERCURY_A"] }, /claimedEnvSources must be a Set/],
    ["an env name with =", { spaceId: "s", spaceWorkspace: "/w", messages: [], prompt: "p", callerId: "c", extraEnv: { "A=B": "x" } }, /invalid environment variable name/],
  ];
  for (const [what, input, message] of cases) {
    test(`${what}: a TypeError, and no run`, async () => {
      const ctx = h.makeRunner();
      const e = await h.rejectionOf(ctx.runner.reply(input));
      expect(e).toBeInstanceOf(TypeError);
      expect(e.message).toMatch(message);
      expect(ctx.runner.activeCount).toBe(0);
      expect(ctx.lines.find((l) => l.msg === "Container started")).toBeUndefined();
    });
  }

  test("a config missing a field a run needs: the runner constructs, reply names the field", async () => {
    const ctx = h.makeRunner();
    const partial = new h.AgentContainerRunner({ agentContainerImage: "test" }, { logger: { debug() {}, info() {}, warn() {}, error() {} } });
    const e = await h.rejectionOf(partial.reply(h.replyInput(ctx, "partial")));
    expect(e).toBeInstanceOf(TypeError);
    expect(e.message).toBe("config.containerTimeoutMs is required to run an agent");
  });

  test("wrongly typed arguments to the synchronous methods and the constructor are TypeErrors", () => {
    const ctx = h.makeRunner();
    expect(() => ctx.runner.isRunning(5)).toThrow(new TypeError("isRunning(spaceId) must be a string, got a number"));
    expect(() => ctx.runner.abort(null)).toThrow(new TypeError("abort(spaceId) must be a string, got null"));
    expect(() => ctx.runner.setImage(undefined)).toThrow(new TypeError("setImage(image) must be a string, got undefined"));
    expect(() => new h.AgentContainerRunner(null)).toThrow(new TypeError("config must be an object, got null"));
    expect(() => new h.AgentContainerRunner({ agentContainerImage: "x" }, 5)).toThrow(new TypeError("options must be an object, got a number"));
    expect(ctx.runner.image).toBe(h.IMAGE);
  });

  test("a config field of the wrong type throws a TypeError from the constructor", () => {
    expect(() => new h.AgentContainerRunner({ agentContainerImage: 42 })).toThrow(TypeError);
    expect(() => new h.AgentContainerRunner({ agentContainerImage: "x", containerTimeoutMs: "soon" })).toThrow(
      "config.containerTimeoutMs must be a number, got a string",
    );
  });
});
