// Log lines (host logger and the built-in console format), secrets kept out of
// them, and a runner that never keeps the process alive once its runs settle.
const path = require("node:path");
const { spawnSync } = require("node:child_process");
const h = require("./helpers");

const T = 60_000;
const SCRIPT = path.join(__dirname, "fixtures", "scripts", "one-turn.js");

function child(args, env = {}) {
  const run = spawnSync(process.execPath, [SCRIPT, ...args], {
    env: { ...process.env, MERCURY_LOG_FORMAT: "", MERCURY_LOG_LEVEL: "", ...env },
    encoding: "utf8",
    timeout: 30_000,
  });
  return run;
}

describe("host logger", () => {
  test("a run's lines carry spaceId and container, with the contract's fields", async () => {
    const ctx = h.makeRunner();
    await ctx.runner.reply(h.replyInput(ctx, "logs"));
    const run = ctx.lines.filter((l) => l.fields && l.fields.spaceId === "logs");
    const started = run.find((l) => l.msg === "Container started");
    const ended = run.find((l) => l.msg === "Container exited");
    expect(started).toEqual({ level: "info", msg: "Container started", fields: { spaceId: "logs", container: started.fields.container, event: "container.start" } });
    expect(ended.level).toBe("info");
    expect(ended.fields).toEqual({
      spaceId: "logs",
      container: started.fields.container,
      event: "container.end",
      exitCode: 0,
      durationMs: ended.fields.durationMs,
    });
    expect(ended.fields.durationMs).toBeGreaterThanOrEqual(0);
  }, T);

  test("no secret value reaches a log line, at any level", async () => {
    const saved = process.env.MERCURY_ANTHROPIC_API_KEY;
    process.env.MERCURY_ANTHROPIC_API_KEY = "sk-never-log-this";
    try {
      const ctx = h.makeRunner({}, { resolveCredential: async () => "tok-never-log-this" });
      await ctx.runner.reply(h.replyInput(ctx, "secret", { extraEnv: { EXTRA_SECRET: "xs-never-log-this", FIXTURE_MODE: "stderr-fail" } })).catch(() => {});
      const text = JSON.stringify(ctx.lines);
      expect(ctx.lines.length).toBeGreaterThan(1);
      expect(text).not.toMatch(/never-log-this/);
    } finally {
      if (saved === undefined) delete process.env.MERCURY_ANTHROPIC_API_KEY;
      else process.env.MERCURY_ANTHROPIC_API_KEY = saved;
    }
  }, T);
});

describe("console format (no logger given)", () => {
  test("text lines: debug/info on stdout, warn/error on stderr, filtered by MERCURY_LOG_LEVEL", () => {
    const root = h.tempRoot();
    const run = child([root, "test", "ensure"], { MERCURY_LOG_LEVEL: "debug", DOCKER_HOST: "unix:///tmp/mercury-no-engine.sock" });
    expect(run.status).toBe(0);
    expect(run.stderr).toMatch(
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \[WARN \] Using custom agent image image=test note="Ensure image has: bun, pi, agent-browser, napkin, mrctl" docs="See docs\/container-lifecycle\.md for custom image requirements"$/m,
    );
    expect(run.stdout).toMatch(/ERROR Failed to pull agent image: test/);

    const quiet = child([root, "test", "ensure"], { MERCURY_LOG_LEVEL: "error", DOCKER_HOST: "unix:///tmp/mercury-no-engine.sock" });
    expect(quiet.stderr).not.toMatch(/Using custom agent image/);
  }, T);

  test("debug lines reach stdout at level debug only", () => {
    const root = h.tempRoot();
    const debug = child([root, h.IMAGE, "ensure"], { MERCURY_LOG_LEVEL: "debug" });
    expect(debug.stdout).toMatch(/\[DEBUG\] Agent image found locally image=mercury-test-agent:latest$/m);
    const info = child([root, h.IMAGE, "ensure"]);
    expect(info.stdout).not.toMatch(/Agent image found locally/);
  }, T);

  test("outbox file names' ESC, BEL, CR, DEL and C1 reach the text lines escaped, never raw", () => {
    const root = h.tempRoot();
    const run = child([root, h.IMAGE, "reply", "console", "odd-names"]);
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('RESULT {"reply":"odd names","files":[]}');
    // Not one control character reached the terminal, but the newlines ending each line.
    expect(run.stderr).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f]/);
    const outbox = `${root}/spaces/child/outbox`;
    const lines = run.stderr.split("\n").filter((l) => l.includes("Outbox file exceeds max size, skipping"));
    // Each name quoted, its characters as JSON escapes; read back as JSON, the real name.
    const named = lines.map((l) => JSON.parse(/ path=("(?:[^"\\]|\\.)*")/.exec(l)[1]));
    expect(named).toEqual([
      `${outbox}/big-\x1b]0;owned\x07-\x1b[2J.bin`,
      `${outbox}/c1-\u009b-\x7f.bin`,
      `${outbox}/cr-\r-x.bin`,
    ]);
    expect(lines[0]).toContain(String.raw`/big-\u001b]0;owned\u0007-\u001b[2J.bin"`);
    expect(lines[1]).toContain(String.raw`/c1-\u009b-\u007f.bin"`);
  }, T);

  test("json lines: one object per line with ts, level, msg and the fields", () => {
    const root = h.tempRoot();
    const run = child([root, "test", "ensure"], { MERCURY_LOG_FORMAT: "json", DOCKER_HOST: "unix:///tmp/mercury-no-engine.sock" });
    const line = JSON.parse(run.stderr.trim().split("\n")[0]);
    expect(Object.keys(line).slice(0, 3)).toEqual(["ts", "level", "msg"]);
    expect(line).toMatchObject({ level: "warn", msg: "Using custom agent image", image: "test" });
    expect(new Date(line.ts).toISOString()).toBe(line.ts);
  }, T);
});

describe("the event loop", () => {
  for (const withLogger of ["console", "logger"]) {
    test(`a process whose runs have settled exits by itself (${withLogger}), its container already removed`, () => {
      const root = h.tempRoot();
      const run = child([root, h.IMAGE, "reply", withLogger]);
      expect(run.error).toBeUndefined(); // no timeout: the process ended on its own
      expect(run.status).toBe(0);
      expect(run.stdout).toContain('RESULT {"reply":"pong","files":[]}');
      // The run's "Container started" line, as the console prints it or as the logger received it.
      const started = withLogger === "console"
        ? /\[INFO \] Container started .*container=(mercury-\d+-\d+)/.exec(run.stdout)
        : /^LOG info Container started .*"container":"(mercury-\d+-\d+)"/m.exec(run.stdout);
      expect(started).not.toBeNull();
      expect(h.containersNamed(started[1])).toEqual([]);
    }, T);
  }
});
