// Log lines (host logger and the built-in console format), secrets kept out of
// them, and a runner that never keeps the process alive once its runs settle.
const path = require("node:path");
const { spawnSync } = require("node:child_process");
const h = require("./helpers");
const { startEngineProxy } = require("./engine-proxy");

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

  test("the engine's warnings at a create (a limit it dropped) reach the log, one warn line each", async () => {
    // The engine here applies every limit; the proxy adds to its answer what an engine without
    // cgroups (rootless on cgroup v1) answers instead.
    const proxy = await startEngineProxy(h.tempRoot());
    try {
      const ctx = h.makeRunner({}, { dockerHost: proxy.dockerHost, memoryLimit: 64 * 1024 * 1024 });
      const warnings = [
        "Your kernel does not support memory limit capabilities or the cgroup is not mounted. Limitation discarded.",
        "Your kernel does not support pids limit capabilities or the cgroup is not mounted. PIDs limit discarded.",
      ];
      proxy.warnNextCreate(warnings);
      await ctx.runner.reply(h.replyInput(ctx, "warned"));
      const container = proxy.created[proxy.created.length - 1];
      const warned = () => ctx.lines.filter((l) => l.msg === "Engine warning at create");
      expect(warned()).toEqual(warnings.map((warning) => ({ level: "warn", msg: "Engine warning at create", fields: { spaceId: "warned", container, warning } })));
      // An answer without warnings: no line.
      await ctx.runner.reply(h.replyInput(ctx, "warned"));
      expect(proxy.created).toHaveLength(2);
      expect(warned()).toHaveLength(2);
    } finally {
      // The removals go through the proxy after each reply: it stays until they are done.
      for (const name of proxy.created) await h.expectRemoved(name);
      await proxy.close();
    }
  }, T);

  test("no secret value reaches a log line, at any level", async () => {
    // Each secret is made to travel to the agent (checked in what it saw), on a turn that succeeds
    // and one that fails, and then looked for in every line the host's logger received.
    await h.withEnv(h.NO_HOST_CREDENTIAL, async () => {
      const ctx = h.makeRunner({}, { resolveCredential: async () => "tok-never-log-this" });
      const env = (space) => h.seen(ctx, space, "env.txt").split("\n");
      // No key from the host: the resolver's OAuth token is the credential.
      const oauth = await ctx.runner.reply(h.replyInput(ctx, "secret-token", { extraEnv: { EXTRA_SECRET: "xs-never-log-this" } }));
      expect(oauth.reply).toBe("pong");
      expect(env("secret-token")).toEqual(expect.arrayContaining(["ANTHROPIC_OAUTH_TOKEN=tok-never-log-this", "EXTRA_SECRET=xs-never-log-this"]));
      // A key from the host: it is the credential.
      process.env.MERCURY_ANTHROPIC_API_KEY = "sk-never-log-this";
      expect((await ctx.runner.reply(h.replyInput(ctx, "secret-key"))).reply).toBe("pong");
      expect(env("secret-key")).toContain("ANTHROPIC_API_KEY=sk-never-log-this");
      // A failing turn with the same secrets: its lines are warn and error ones.
      const e = await h.rejectionOf(
        ctx.runner.reply(h.replyInput(ctx, "secret-fail", { extraEnv: { EXTRA_SECRET: "xs-never-log-this", FIXTURE_MODE: "stderr-fail" } })),
      );
      expect([e.reason, e.exitCode]).toEqual(["error", 3]);
      const levels = new Set(ctx.lines.map((l) => l.level));
      expect([...levels].sort()).toEqual(expect.arrayContaining(["debug", "error", "info"]));
      for (const line of ctx.lines) expect(JSON.stringify(line)).not.toMatch(/never-log-this/);
    });
  }, T);
});

describe("console format (no logger given)", () => {
  test("text lines: debug/info on stdout, warn/error on stderr, filtered by MERCURY_LOG_LEVEL", () => {
    // One turn that logs at all four levels: a custom image (warn), the endpoint (debug), a pull
    // (info) from a registry nobody serves, and the failed run's exit (error).
    const root = h.tempRoot();
    const image = "127.0.0.1:5999/nothing-here:1";
    const TS = "^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z ";
    const line = (level, rest) => new RegExp(`${TS}\\[${level.padEnd(5)}\\] ${rest}`, "m");
    const expected = {
      DEBUG: line("DEBUG", "Docker engine endpoint "),
      INFO: line("INFO", "Agent image not found locally, pulling\\.\\.\\. "),
      WARN: line("WARN", "Using custom agent image image=127\\.0\\.0\\.1:5999\\/nothing-here:1 note=\"Ensure image has: bun, pi, agent-browser, napkin, mrctl\" docs=\"See docs\\/container-lifecycle\\.md for custom image requirements\"$"),
      ERROR: line("ERROR", "Container exited .*exitCode=125 .*reason=error$"),
    };
    const anyLine = (level) => line(level, "");
    const run = child([root, image, "reply"], { MERCURY_LOG_LEVEL: "debug" });
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/^ERROR Container failed \(exit code 125\)/m);
    for (const level of ["DEBUG", "INFO"]) {
      expect(run.stdout).toMatch(expected[level]);
      expect(run.stderr).not.toMatch(anyLine(level));
    }
    for (const level of ["WARN", "ERROR"]) {
      expect(run.stderr).toMatch(expected[level]);
      expect(run.stdout).not.toMatch(anyLine(level));
    }

    const quiet = child([root, image, "reply"], { MERCURY_LOG_LEVEL: "error" });
    expect(quiet.status).toBe(0);
    expect(quiet.stderr).toMatch(expected.ERROR);
    for (const level of ["DEBUG", "INFO", "WARN"]) expect(quiet.stdout + quiet.stderr).not.toMatch(anyLine(level));
  }, T);

  test("debug lines reach stdout at level debug only", () => {
    const root = h.tempRoot();
    const escaped = h.IMAGE.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
    const debug = child([root, h.IMAGE, "ensure"], { MERCURY_LOG_LEVEL: "debug" });
    expect(debug.status).toBe(0);
    expect(debug.stdout).toContain("RESULT null");
    expect(debug.stdout).toMatch(new RegExp(`\\[DEBUG\\] Agent image found locally image=${escaped}$`, "m"));
    // At the default level (info) the same turn's info line is there, and no debug line.
    const info = child([root, h.IMAGE, "reply"]);
    expect(info.status).toBe(0);
    expect(info.stdout).toContain('RESULT {"reply":"pong","files":[]}');
    expect(info.stdout).toMatch(/\[INFO \] Container started /);
    expect(info.stdout).not.toMatch(/\[DEBUG\]/);
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
