// A host runs for months: misbehaving agents, hostile-looking input, racing
// aborts, real OOM kills, and secrets that must not leak anywhere.
const fs = require("node:fs");
const path = require("node:path");
const h = require("./helpers");

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
  test("no process on the machine has a secret on its command line while the agent runs", async () => {
    const saved = process.env.MERCURY_ANTHROPIC_API_KEY;
    process.env.MERCURY_ANTHROPIC_API_KEY = "sk-cmdline-canary-1";
    try {
      const ctx = h.makeRunner({}, { resolveCredential: async () => "tok-cmdline-canary-2" });
      const run = ctx.runner.reply(
        h.replyInput(ctx, "secrets", { extraEnv: { FIXTURE_MODE: "sleep", EXTRA_SECRET: "xs-cmdline-canary-3" } }),
      );
      const name = await h.runningContainer(ctx.lines);
      const env = JSON.parse(h.docker("inspect", name))[0].Config.Env;
      expect(env).toContain("ANTHROPIC_API_KEY=sk-cmdline-canary-1");
      expect(env).toContain("EXTRA_SECRET=xs-cmdline-canary-3");
      const leaks = allCommandLines().filter((c) => /cmdline-canary/.test(c));
      ctx.runner.abort("secrets");
      await h.rejectionOf(run);
      expect(leaks).toEqual([]);
      expect(JSON.stringify(ctx.lines)).not.toMatch(/cmdline-canary/);
    } finally {
      if (saved === undefined) delete process.env.MERCURY_ANTHROPIC_API_KEY;
      else process.env.MERCURY_ANTHROPIC_API_KEY = saved;
    }
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
  test("random bytes, invalid UTF-8 and marker fragments around the result", async () => {
    const ctx = h.makeRunner();
    const r = await ctx.runner.reply(h.replyInput(ctx, "garbage", { extraEnv: { FIXTURE_MODE: "garbage" } }));
    expect(r.reply).toBe("found in garbage é");
  }, T);

  test("an END before the first START, and repeated spans: the first START and the END after it win", async () => {
    const ctx = h.makeRunner();
    const r = await ctx.runner.reply(h.replyInput(ctx, "endfirst", { extraEnv: { FIXTURE_MODE: "end-first" } }));
    expect(r.reply).toBe("first span");
  }, T);

  test("an 8 MiB line with no newline before the result", async () => {
    const ctx = h.makeRunner();
    const r = await ctx.runner.reply(h.replyInput(ctx, "bigline", { extraEnv: { FIXTURE_MODE: "bigline" } }));
    expect(r.reply).toBe("after a very long line");
  }, T);

  test("4 MiB of failure output: the message keeps the contract's first 500 characters", async () => {
    const ctx = h.makeRunner();
    const e = await h.rejectionOf(ctx.runner.reply(h.replyInput(ctx, "loud", { extraEnv: { FIXTURE_MODE: "loud-fail" } })));
    const expected = "error line from a loud agent\n".repeat(20).slice(0, 500);
    expect(e.message).toBe(`Container failed (exit code 5): ${expected}`);
  }, T);
});

describe("exit races", () => {
  test("an agent that exits the moment it is aborted still rejects as aborted", async () => {
    const ctx = h.makeRunner();
    const run = ctx.runner.reply(h.replyInput(ctx, "race", { extraEnv: { FIXTURE_MODE: "exit-now", FIXTURE_EXIT: "0" } }));
    await h.waitFor("start", () => ctx.lines.find((l) => l.msg === "Container started"), 20_000).catch(() => null);
    const aborted = ctx.runner.abort("race");
    const settled = await run.then(
      (r) => ({ ok: r }),
      (e) => ({ err: e }),
    );
    if (aborted) {
      expect(settled.err).toBeInstanceOf(h.ContainerError);
      expect(settled.err.reason).toBe("aborted");
    } else {
      expect(settled.ok).toBeDefined();
    }
  }, T);

  test("killAll while replies are still starting: all reject as aborted, nothing is left", async () => {
    const ctx = h.makeRunner();
    const runs = ["r1", "r2", "r3", "r4"].map((s) => ctx.runner.reply(h.replyInput(ctx, s, { extraEnv: { FIXTURE_MODE: "sleep" } })));
    ctx.runner.killAll();
    const errors = await Promise.all(runs.map(h.rejectionOf));
    expect(errors.map((e) => e.reason)).toEqual(["aborted", "aborted", "aborted", "aborted"]);
    expect(ctx.runner.activeCount).toBe(0);
    for (const l of ctx.lines.filter((l) => l.msg === "Container started")) await h.expectRemoved(l.fields.container);
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
