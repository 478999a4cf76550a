// A host runs for months: misbehaving agents, hostile-looking input, racing
// aborts, real OOM kills, and secrets that must not leak anywhere.
const fs = require("node:fs");
const path = require("node:path");
const h = require("./helpers");
const { startEngineProxy } = require("./engine-proxy");

const T = 60_000;

function allCommandLines() {
  const out = [];
  for (const pid of fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      out.push(fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" "));
    } catch {
      // the process ended meanwhile
    }
  }
  return out;
}

describe("secrets", () => {
  test("no process on the machine has a secret on its command line while a turn runs", async () => {
    // No key from the host, so the resolver's OAuth token is the credential that travels; the
    // extraEnv secret travels too. Both are checked to reach the container, and every process's
    // command line is read over and over for the whole turn, from the call to the settle.
    await h.withEnv(h.NO_HOST_CREDENTIAL, async () => {
      const ctx = h.makeRunner({}, { resolveCredential: async () => "tok-cmdline-canary-2" });
      let settled = false;
      const run = ctx.runner
        .reply(h.replyInput(ctx, "secrets", { extraEnv: { FIXTURE_MODE: "slow-echo", FIXTURE_SLEEP: "2", EXTRA_SECRET: "xs-cmdline-canary-3" } }))
        .finally(() => (settled = true));
      const leaks = new Set();
      let samples = 0;
      let env = null;
      while (!settled) {
        for (const c of allCommandLines()) if (/cmdline-canary/.test(c)) leaks.add(c);
        samples++;
        if (!env) {
          const started = ctx.lines.find((l) => l.msg === "Container started");
          if (started) env = JSON.parse(h.docker("inspect", started.fields.container))[0].Config.Env;
        }
        await new Promise((r) => setTimeout(r, 0));
      }
      expect((await run).reply).toBe("pong");
      expect(env).toContain("ANTHROPIC_OAUTH_TOKEN=tok-cmdline-canary-2");
      expect(env).toContain("EXTRA_SECRET=xs-cmdline-canary-3");
      // The machine was looked at all through the turn, not once.
      expect(samples).toBeGreaterThan(10);
      expect([...leaks]).toEqual([]);
      expect(JSON.stringify(ctx.lines)).not.toMatch(/cmdline-canary/);
    });
  }, T);
});

describe("no shell anywhere", () => {
  const canary = () => path.join(h.tempRoot(), "pwned");

  test("an image name full of shell metacharacters runs nothing and fails clearly", async () => {
    const marker = canary();
    const ctx = h.makeRunner({ agentContainerImage: `busybox; touch ${marker} #` });
    const e = await h.rejectionOf(ctx.runner.reply(h.replyInput(ctx, "meta-image")));
    expect(e).toBeInstanceOf(h.ContainerError);
    expect(e.exitCode).toBe(125);
    expect(e.message).toMatch(/invalid reference format/);
    expect(fs.existsSync(marker)).toBe(false);
    const pull = await h.rejectionOf(ctx.runner.ensureImage());
    expect(pull.message.startsWith("Failed to pull agent image: busybox; touch")).toBe(true);
    expect(fs.existsSync(marker)).toBe(false);
  }, T);

  test("space ids and env values with metacharacters travel literally", async () => {
    const marker = canary();
    const ctx = h.makeRunner();
    const spaceId = `s$(touch ${marker})\`id\`;x`;
    const value = `'; touch ${marker}; echo "$HOME" | cat & $(id)`;
    const result = await ctx.runner.reply(h.replyInput(ctx, spaceId, { extraEnv: { ODD_VALUE: value } }));
    expect(result.reply).toBe("pong");
    expect(h.seen(ctx, spaceId, "env.txt").split("\n")).toContain(`ODD_VALUE=${value}`);
    expect(fs.existsSync(marker)).toBe(false);
  }, T);
});

describe("bad output from the agent", () => {
  // [what the agent prints, its space, its fixture mode, the reply found in it]
  const cases = [
    ["random bytes, invalid UTF-8 and marker fragments around the result", "garbage", "garbage", "found in garbage é"],
    ["an END before the first START, and repeated spans: the first START and the END after it win", "endfirst", "end-first", "first span"],
    ["an 8 MiB line with no newline before the result", "bigline", "bigline", "after a very long line"],
  ];
  for (const [what, spaceId, mode, reply] of cases) {
    test(what, async () => {
      const ctx = h.makeRunner();
      const r = await ctx.runner.reply(h.replyInput(ctx, spaceId, { extraEnv: { FIXTURE_MODE: mode } }));
      expect(r.reply).toBe(reply);
    }, T);
  }

  test("4 MiB of failure output: the message keeps the contract's first 500 characters", async () => {
    const ctx = h.makeRunner();
    const e = await h.rejectionOf(ctx.runner.reply(h.replyInput(ctx, "loud", { extraEnv: { FIXTURE_MODE: "loud-fail" } })));
    const expected = "error line from a loud agent\n".repeat(20).slice(0, 500);
    expect(e.message).toBe(`Container failed (exit code 5): ${expected}`);
  }, T);
});

describe("exit races", () => {
  test("an agent that exits the moment it is aborted still rejects as aborted", async () => {
    // The agent (exit-now) exits as soon as it starts; the abort is called from the logger's
    // "Container started" line, so the two race on every round.
    for (let round = 0; round < 5; round++) {
      let runner = null;
      let aborted = null;
      const lines = [];
      const logger = {};
      for (const level of ["debug", "info", "warn", "error"]) {
        logger[level] = (msg, fields) => {
          lines.push({ level, msg, fields });
          if (msg === "Container started" && aborted === null) aborted = runner.abort("race");
        };
      }
      const ctx = h.makeRunner({}, { logger });
      runner = ctx.runner;
      const e = await h.rejectionOf(runner.reply(h.replyInput(ctx, "race", { extraEnv: { FIXTURE_MODE: "exit-now", FIXTURE_EXIT: "0" } })));
      expect(aborted).toBe(true);
      expect(e).toBeInstanceOf(h.ContainerError);
      expect([e.reason, e.message]).toEqual(["aborted", "Container aborted for group race"]);
      const exited = lines.find((l) => l.msg === "Container exited");
      expect(exited.fields).toMatchObject({ event: "container.end", reason: "aborted" });
      expect(runner.activeCount).toBe(0);
      await h.expectRemoved(lines.find((l) => l.msg === "Container started").fields.container);
      // The left-nothing check at the end of the file knows these names only from here.
      ctx.lines.push(...lines);
    }
  }, T);

  test("killAll while replies are still starting: all reject as aborted, no container they created is left", async () => {
    // Through a proxy that records every container create, so containers killAll caught before
    // they logged "Container started" are checked too. killAll comes at a different point of the
    // start in each round (before any create, during creates, around the starts).
    const proxy = await startEngineProxy(h.tempRoot());
    try {
      for (const delayMs of [0, 5, 20, 50, 100, 200]) {
        const ctx = h.makeRunner({}, { dockerHost: proxy.dockerHost });
        const spaces = ["r1", "r2", "r3", "r4"];
        const runs = spaces.map((s) => ctx.runner.reply(h.replyInput(ctx, s, { extraEnv: { FIXTURE_MODE: "sleep" } })));
        await new Promise((r) => setTimeout(r, delayMs));
        expect(ctx.runner.activeCount).toBe(4);
        ctx.runner.killAll();
        const errors = await Promise.all(runs.map(h.rejectionOf));
        expect(errors.map((e) => e.reason)).toEqual(["aborted", "aborted", "aborted", "aborted"]);
        expect(ctx.runner.activeCount).toBe(0);
      }
      // Some rounds did reach the engine, so the check below checks something.
      expect(proxy.created.length).toBeGreaterThan(0);
      for (const n of proxy.created) await h.expectRemoved(n);
    } finally {
      await proxy.close();
    }
  }, T);
});

describe("removals the engine makes hard", () => {
  // dockerd answers a force removal 409 when another removal of the container is under way, and
  // when the container stops between the engine's "is it running" and its kill (an abort's kill
  // racing the removal). The container may still be there; a removal that took 409 for "gone"
  // left it on the engine for good.
  const REFUSAL = "Could not kill running container, cannot remove - Container is not running";

  test("a finished turn's removal refused once (409) is tried again until the container is gone", async () => {
    const proxy = await startEngineProxy(h.tempRoot());
    try {
      const since = Date.now();
      const ctx = h.makeRunner({}, { dockerHost: proxy.dockerHost });
      const refused = proxy.refuseNextCall("remove", 409, REFUSAL);
      const result = await ctx.runner.reply(h.replyInput(ctx, "refused", { extraEnv: { FIXTURE_MODE: "echo" } }));
      expect(result.reply).toBe("pong");
      const [name] = proxy.created;
      const refusedPath = await refused.arrived;
      await h.expectRemoved(name);
      // The refusal met this container's removal.
      expect(refusedPath).toContain(`/containers/${h.engineIdOf(name, since)}?`);
    } finally {
      await proxy.close();
    }
  }, T);

  test("a create whose answer is lost with its connection: the reply fails, and the container the engine made is removed", async () => {
    const proxy = await startEngineProxy(h.tempRoot());
    try {
      const since = Date.now();
      const ctx = h.makeRunner({}, { dockerHost: proxy.dockerHost });
      const hold = proxy.holdNextCreate();
      const run = ctx.runner.reply(h.replyInput(ctx, "lost", { extraEnv: { FIXTURE_MODE: "echo" } }));
      const name = await hold.arrived;
      await hold.answered;
      // The engine made it; the runner never hears so.
      expect(h.managedNamesSince(since)).toEqual([name]);
      hold.lose();
      const e = await h.rejectionOf(run);
      expect(e).toBeInstanceOf(h.ContainerError);
      expect(e.exitCode).toBe(125);
      await h.expectRemoved(name);
    } finally {
      await proxy.close();
    }
  }, T);

  test("a discarded standby's removal refused once (409) is tried again until the container is gone", async () => {
    const proxy = await startEngineProxy(h.tempRoot());
    const since = Date.now();
    const ctx = h.makeRunner({}, { dockerHost: proxy.dockerHost, standby: true });
    try {
      await ctx.runner.reply(h.replyInput(ctx, "refused", { extraEnv: { FIXTURE_MODE: "echo" } }));
      await h.waitFor("standby ready", () => ctx.lines.find((l) => l.msg === "Standby ready"));
      const standby = ctx.lines.find((l) => l.msg === "Standby ready").fields.container;
      // The cold turn's own removal first, so that the refusal meets the standby's.
      await h.expectRemoved(proxy.created[0]);
      const refused = proxy.refuseNextCall("remove", 409, REFUSAL);
      expect(ctx.runner.abort("refused")).toBe(false);
      const refusedPath = await refused.arrived;
      await h.expectRemoved(standby);
      expect(refusedPath).toContain(`/containers/${h.engineIdOf(standby, since)}?`);
    } finally {
      ctx.runner.killAll();
      await proxy.close();
    }
  }, T);
});

describe("out of memory", () => {
  test("an agent over memoryLimit is OOM-killed: oom, with the engine's oomKilled: true", async () => {
    const ctx = h.makeRunner({}, { memoryLimit: 64 * 1024 * 1024 });
    const run = ctx.runner.reply(h.replyInput(ctx, "oom-real", { extraEnv: { FIXTURE_MODE: "oom" } }));
    const e = await h.rejectionOf(run);
    expect(e).toBeInstanceOf(h.ContainerError);
    expect(e.reason).toBe("oom");
    expect(e.exitCode).toBe(137);
    expect(e.message).toBe("Container was killed for group oom-real (exit code 137, possibly out of memory)");
    expect(e.oomKilled).toBe(true);
  }, T);

  test("an external docker kill is exit 137 too, with oomKilled: false", async () => {
    const ctx = h.makeRunner();
    const run = ctx.runner.reply(h.replyInput(ctx, "killed", { extraEnv: { FIXTURE_MODE: "sleep" } }));
    const name = await h.runningContainer(ctx.lines);
    h.docker("kill", name);
    const e = await h.rejectionOf(run);
    expect(e.reason).toBe("oom");
    expect(e.exitCode).toBe(137);
    expect(e.oomKilled).toBe(false);
  }, T);

  test("memoryLimit must be a positive whole number of bytes", () => {
    expect(() => h.makeRunner({}, { memoryLimit: -1 })).toThrow("options.memoryLimit must be a positive whole number of bytes");
    expect(() => h.makeRunner({}, { memoryLimit: "64m" })).toThrow(TypeError);
  });
});
