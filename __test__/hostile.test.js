// A hostile agent: everything the container leaves in its mounts (outbox,
// auth.json in globalDir, the result span, other spaces' folders) is
// untrusted input to the host. One test per attack; each asserts what the
// host gets: files, error kind, time to settle, and the host's memory where
// memory is the point.
//
// With HOSTILE_REPORT=<file>, each test also appends what it observed (one
// JSON line, written before its assertions), for the before/after table.
const fs = require("node:fs");
const path = require("node:path");
const h = require("./helpers");
const { startEngineProxy } = require("./engine-proxy");
const { peakRssGrowth: measurePeakRss } = require("./peak-rss");

const T = 90_000;
const MiB = 1024 * 1024;
// A bound on what a hostile result may cost the host, not a speed target: the
// runner holds a ~10 MB span about once beside the JavaScript string (measured
// by bench/result-memory.js); the TypeScript runner grows by ~18 MiB on the array bomb.
const MAX_RSS_GROWTH = 64 * MiB;
// A reply the runner must not wait on the agent's files for: an ordinary
// echo turn takes about a second here.
const SETTLES_WITHIN_MS = 4_000;

// The suite's second run in `npm test` is under gVisor (MERCURY_TEST_RUNTIME=runsc): its
// sentry keeps FIFOs and unix sockets an agent makes inside the sandbox (the host's folder
// never gets them) and refuses device nodes; links and regular files reach the host as under runc.
const GVISOR = h.RUNTIME === "runsc";

function record(test, observed) {
  if (!process.env.HOSTILE_REPORT) return;
  fs.appendFileSync(process.env.HOSTILE_REPORT, JSON.stringify({ test, ...observed }) + "\n");
}

function input(ctx, spaceId, extraEnv) {
  return h.replyInput(ctx, spaceId, { extraEnv });
}

function names(files) {
  return files.map((f) => f.filename).sort();
}

function warns(lines, pattern) {
  return lines.filter((l) => l.level === "warn" && (!pattern || pattern.test(`${l.msg} ${JSON.stringify(l.fields)}`)));
}

/** How the promise settled within `ms`: never waits longer, so a hang is a result, not a stuck suite. */
async function settleWithin(promise, ms) {
  const t0 = performance.now();
  let timer;
  const pending = new Promise((r) => (timer = setTimeout(() => r({ state: "pending" }), ms)));
  const outcome = await Promise.race([
    promise.then(
      (value) => ({ state: "resolved", value }),
      (error) => ({ state: "rejected", error }),
    ),
    pending,
  ]);
  clearTimeout(timer);
  return { ...outcome, ms: Math.round(performance.now() - t0) };
}

/**
 * The host's peak RSS growth while `work` runs (see peak-rss.js), and how it
 * settled within a minute: a hang is a result, not a stuck suite.
 */
async function peakRssGrowth(work) {
  const { value: outcome, growth } = await measurePeakRss(() => settleWithin(work(), 60_000));
  return { outcome, growth, growthMiB: Math.round(growth / MiB) };
}

/**
 * Labelled containers the engine started for runs called since `sinceMs`
 * (their names carry the call's millisecond); the event log outlives the container.
 */
function engineStarts(sinceMs) {
  const since = Math.floor(sinceMs / 1000) - 1;
  const until = Math.floor(Date.now() / 1000) + 1;
  const out = h.docker("events", "--since", String(since), "--until", String(until), "--filter", "event=start", "--filter", "label=mercury.managed=true", "--format", "{{.Actor.Attributes.name}}");
  return out.split("\n").filter((n) => {
    const m = /^mercury-(\d+)-\d+$/.exec(n);
    return m && Number(m[1]) >= sinceMs;
  });
}

/** Whether the engine's event log has the create of container `name` since `sinceMs` (it outlives the container). */
function engineCreated(name, sinceMs) {
  const since = Math.floor(sinceMs / 1000) - 1;
  const until = Math.floor(Date.now() / 1000) + 1;
  const out = h.docker("events", "--since", String(since), "--until", String(until), "--filter", "event=create", "--filter", `container=${name}`, "--format", "{{.Actor.Attributes.name}}");
  return out.split("\n").includes(name);
}

/** The host's Anthropic variables off for auth.json tests: the built-in credential applies only without them. */
const ANTHROPIC_VARS = ["MERCURY_ANTHROPIC_API_KEY", "MERCURY_ANTHROPIC_OAUTH_TOKEN"];
const savedEnv = {};
beforeAll(() => {
  for (const k of ANTHROPIC_VARS) {
    savedEnv[k] = process.env[k];
    delete process.env[k];
  }
});
afterAll(() => {
  for (const k of ANTHROPIC_VARS) if (savedEnv[k] !== undefined) process.env[k] = savedEnv[k];
});

// The gVisor run checks it is one: a runtime variable that never reached the runners would
// pass every test above under runc.
if (GVISOR) {
  describe("this run's runtime", () => {
    test("the agents run on gVisor's kernel", async () => {
      const ctx = h.makeRunner();
      await ctx.runner.reply(input(ctx, "kernel", { FIXTURE_MODE: "kernel" }));
      expect(h.seen(ctx, "kernel", "dmesg.txt")).toMatch(/Starting gVisor/);
    }, T);
  });
}

describe("hostile outbox", () => {
  test("an outbox replaced by a link to /proc/self: no files (never the host's /proc), a warn line", async () => {
    const ctx = h.makeRunner();
    const result = await ctx.runner.reply(input(ctx, "proc", { FIXTURE_MODE: "outbox-proc" }));
    expect(fs.lstatSync(path.join(ctx.config.spacesDir, "proc", "outbox")).isSymbolicLink()).toBe(true);
    const got = names(result.files);
    record("1 outbox -> /proc/self", { files: got.length, sample: got.filter((n) => ["environ", "cmdline", "auxv", "status"].includes(n)), warns: warns(ctx.lines, /outbox/i).length });
    expect(result.files).toEqual([]);
    expect(warns(ctx.lines, /outbox/i).length).toBeGreaterThanOrEqual(1);
  }, T);

  test("links in the outbox to another space's file and to a host path are not returned", async () => {
    const ctx = h.makeRunner();
    const hostSecret = path.join(ctx.root, "host-secret.txt");
    const run = ctx.runner.reply(input(ctx, "links", { FIXTURE_MODE: "outbox-links", FIXTURE_OTHER: "victim", FIXTURE_TARGET: hostSecret }));
    // Written after the call, so its mtime is within the run: only the link check can keep it out.
    fs.writeFileSync(hostSecret, "the host's secret\n");
    const result = await run;
    const outbox = path.join(ctx.config.spacesDir, "links", "outbox");
    for (const link of ["other-absolute.txt", "other-relative.txt", "host-file.txt"]) {
      expect(fs.lstatSync(path.join(outbox, link)).isSymbolicLink()).toBe(true);
    }
    // The relative link does lead to the other space's fresh file on the host.
    expect(fs.readFileSync(path.join(outbox, "other-relative.txt"), "utf8")).toBe("other space's secret\n");
    record("2 file links out of the outbox", { files: names(result.files) });
    expect(names(result.files)).toEqual(["real.txt"]);
  }, T);

  test("a workspace replaced by a link to another space: none of that space's outbox files", async () => {
    const ctx = h.makeRunner();
    const result = await ctx.runner.reply(input(ctx, "thief", { FIXTURE_MODE: "workspace-link", FIXTURE_OTHER: "victim" }));
    expect(fs.lstatSync(path.join(ctx.config.spacesDir, "thief")).isSymbolicLink()).toBe(true);
    expect(fs.existsSync(path.join(ctx.config.spacesDir, "victim", "outbox", "stolen.txt"))).toBe(true);
    record("3a workspace -> other space", { files: names(result.files) });
    expect(result.files).toEqual([]);
  }, T);

  test("an outbox replaced by a relative link to another space's outbox: no files", async () => {
    const ctx = h.makeRunner();
    const result = await ctx.runner.reply(input(ctx, "thief", { FIXTURE_MODE: "outbox-link-other", FIXTURE_OTHER: "victim" }));
    expect(fs.lstatSync(path.join(ctx.config.spacesDir, "thief", "outbox")).isSymbolicLink()).toBe(true);
    record("3b outbox -> other space's outbox", { files: names(result.files) });
    expect(result.files).toEqual([]);
  }, T);

  test("a FIFO, device nodes and a unix socket in the outbox: not returned, and the reply is not held up", async () => {
    const ctx = h.makeRunner({ containerTimeoutMs: 20_000 });
    const t0 = performance.now();
    const settled = await settleWithin(ctx.runner.reply(input(ctx, "special", { FIXTURE_MODE: "outbox-special" })), 30_000);
    const outbox = path.join(ctx.config.spacesDir, "special", "outbox");
    const kinds = Object.fromEntries(
      fs.readdirSync(outbox).map((n) => {
        const s = fs.lstatSync(path.join(outbox, n));
        return [n, s.isFIFO() ? "fifo" : s.isSocket() ? "socket" : s.isCharacterDevice() ? "char" : s.isBlockDevice() ? "block" : s.isFile() ? "file" : "other"];
      }),
    );
    // The fixture made every kind (so the test cannot pass for want of them); under gVisor
    // none of them reaches the host, and the real file must still come back alone.
    const made = GVISOR ? { "real.txt": "file" } : { "pipe.txt": "fifo", "agent.sock": "socket", "null.txt": "char", "zero.bin": "char", "loop.img": "block", "real.txt": "file" };
    expect(kinds).toEqual(made);
    record("4 FIFO/socket/device entries", { state: settled.state, ms: Math.round(performance.now() - t0), files: settled.value && names(settled.value.files) });
    expect(settled.state).toBe("resolved");
    expect(names(settled.value.files)).toEqual(["real.txt"]);
  }, T);

  test("a file with an mtime in the future is returned on no turn", async () => {
    const ctx = h.makeRunner();
    const first = await ctx.runner.reply(input(ctx, "future", { FIXTURE_MODE: "future-mtime" }));
    const outbox = path.join(ctx.config.spacesDir, "future", "outbox");
    expect(fs.statSync(path.join(outbox, "future.txt")).mtimeMs).toBeGreaterThan(Date.now() + 3_600_000);
    expect(fs.statSync(path.join(outbox, "soon.txt")).mtimeMs).toBeGreaterThan(Date.now() + 60_000);
    const second = await ctx.runner.reply(input(ctx, "future", { FIXTURE_MODE: "echo" }));
    record("5 future mtime", { turn1: names(first.files), turn2: names(second.files) });
    expect(names(first.files)).toEqual(["fresh.txt"]);
    expect(second.files).toEqual([]);
  }, T);

  test("more than 100 files: 100 returned, and a warn line", async () => {
    const ctx = h.makeRunner();
    const result = await ctx.runner.reply(input(ctx, "many", { FIXTURE_MODE: "many-files", FIXTURE_COUNT: "150" }));
    expect(fs.readdirSync(path.join(ctx.config.spacesDir, "many", "outbox"))).toHaveLength(150);
    record("6 150 files", { files: result.files.length, warns: warns(ctx.lines, /outbox/i).length });
    expect(result.files).toHaveLength(100);
    expect(new Set(result.files.map((f) => f.filename)).size).toBe(100);
    expect(warns(ctx.lines, /outbox/i).length).toBeGreaterThanOrEqual(1);
  }, T);
});

describe("hostile auth.json (built-in credential, provider anthropic)", () => {
  test("auth.json a FIFO: the next reply settles normally, well before the timeout, with one warn line", async () => {
    const ctx = h.makeRunner({ containerTimeoutMs: 8_000 });
    await ctx.runner.reply(input(ctx, "fifo", { FIXTURE_MODE: "auth-fifo" }));
    const auth = path.join(ctx.config.globalDir, "auth.json");
    // Under gVisor the FIFO stays in the sandbox: the host finds no auth.json (no warn line then).
    if (GVISOR) expect(() => fs.lstatSync(auth)).toThrow(/ENOENT/);
    else expect(fs.lstatSync(auth).isFIFO()).toBe(true);
    const from = ctx.lines.length;
    const run = ctx.runner.reply(input(ctx, "fifo", { FIXTURE_MODE: "echo" }));
    const settled = await settleWithin(run, 20_000);
    try {
      const turn = ctx.lines.slice(from);
      record("7 auth.json FIFO", { state: settled.state, ms: settled.ms, timeoutMs: 8000, warns: warns(turn).length });
      expect(settled.state).toBe("resolved");
      expect(settled.value.reply).toBe("pong");
      expect(settled.ms).toBeLessThan(SETTLES_WITHIN_MS);
      expect(warns(turn)).toHaveLength(GVISOR ? 0 : 1);
      if (!GVISOR) expect(JSON.stringify(warns(turn)[0])).toMatch(/auth/i);
    } finally {
      if (settled.state === "pending") {
        // Let a reader stuck on the FIFO see end-of-file, so the run (and this suite) can finish.
        try {
          fs.closeSync(fs.openSync(auth, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK));
        } catch {
          // no reader (any more)
        }
        await settleWithin(run, 30_000);
      }
    }
  }, T);

  test("auth.json of 256 MiB: the next reply works and the host's memory barely moves", async () => {
    const ctx = h.makeRunner();
    await ctx.runner.reply(input(ctx, "huge", { FIXTURE_MODE: "auth-huge" }));
    expect(fs.statSync(path.join(ctx.config.globalDir, "auth.json")).size).toBe(256 * MiB);
    const from = ctx.lines.length;
    const { outcome, growth, growthMiB } = await peakRssGrowth(() => ctx.runner.reply(input(ctx, "huge", { FIXTURE_MODE: "echo" })));
    const turn = ctx.lines.slice(from);
    record("8 auth.json 256 MiB", { state: outcome.state, rssGrowthMiB: growthMiB, warns: warns(turn).length });
    expect(outcome.state).toBe("resolved");
    expect(outcome.value.reply).toBe("pong");
    expect(growth).toBeLessThan(MAX_RSS_GROWTH);
    expect(warns(turn)).toHaveLength(1);
  }, T);

  test("auth.json a link to a valid auth file the agent planted: not followed", async () => {
    const ctx = h.makeRunner();
    await ctx.runner.reply(input(ctx, "link", { FIXTURE_MODE: "auth-link" }));
    const auth = path.join(ctx.config.globalDir, "auth.json");
    expect(fs.lstatSync(auth).isSymbolicLink()).toBe(true);
    // Followed, it is a valid, unexpired token.
    expect(JSON.parse(fs.readFileSync(auth, "utf8")).anthropic.access).toBe("planted-token");
    const from = ctx.lines.length;
    await ctx.runner.reply(input(ctx, "link", { FIXTURE_MODE: "echo" }));
    const env = h.seen(ctx, "link", "env.txt");
    const turn = ctx.lines.slice(from);
    record("9 auth.json symlink", { tokenInEnv: env.includes("planted-token"), warns: warns(turn).length });
    expect(env).not.toContain("ANTHROPIC_OAUTH_TOKEN=");
    expect(env).not.toContain("planted-token");
    expect(warns(turn)).toHaveLength(1);
  }, T);
});

describe("hostile result JSON", () => {
  test("a ~10 MB array beside the reply: bounded host memory, the answer JSON.parse gives", async () => {
    const ctx = h.makeRunner();
    const { outcome, growth, growthMiB } = await peakRssGrowth(() => ctx.runner.reply(input(ctx, "bomb", { FIXTURE_MODE: "json-bomb-array" })));
    record("10a 10 MB JSON array", { state: outcome.state, rssGrowthMiB: growthMiB, reply: outcome.value && outcome.value.reply });
    expect(outcome.state).toBe("resolved");
    expect(outcome.value.reply).toBe("bomb");
    expect(growth).toBeLessThan(MAX_RSS_GROWTH);
  }, T);

  test("the same array never closed: rejected as malformed, with bounded host memory", async () => {
    const ctx = h.makeRunner();
    const { outcome, growth, growthMiB } = await peakRssGrowth(() =>
      ctx.runner.reply(input(ctx, "bomb", { FIXTURE_MODE: "json-bomb-array", FIXTURE_OPEN: "1" })),
    );
    record("10b 10 MB JSON array, unclosed", { state: outcome.state, rssGrowthMiB: growthMiB });
    expect(outcome.state).toBe("rejected");
    expect(outcome.error).not.toBeInstanceOf(h.ContainerError);
    expect(outcome.error.message.startsWith("Malformed container output: ")).toBe(true);
    expect(growth).toBeLessThan(MAX_RSS_GROWTH);
  }, T);

  test("a ~10 MB reply string: bounded host memory, the string intact", async () => {
    const ctx = h.makeRunner();
    const n = 10_000_000;
    const { outcome, growth, growthMiB } = await peakRssGrowth(() => ctx.runner.reply(input(ctx, "bigreply", { FIXTURE_MODE: "json-bomb-string", FIXTURE_N: String(n) })));
    record("10c 10 MB reply string", { state: outcome.state, rssGrowthMiB: growthMiB, replyLength: outcome.value && outcome.value.reply.length });
    expect(outcome.state).toBe("resolved");
    expect(outcome.value.reply.length).toBe(n);
    expect(outcome.value.reply === "a".repeat(n)).toBe(true);
    expect(growth).toBeLessThan(MAX_RSS_GROWTH);
  }, T);

  test("a lone surrogate escape reaches the host as JSON.parse reads it", async () => {
    const ctx = h.makeRunner();
    const settled = await settleWithin(ctx.runner.reply(input(ctx, "surrogate", { FIXTURE_MODE: "lone-surrogate" })), 30_000);
    const expected = JSON.parse('{"reply":"\\ud83d"}').reply;
    expect(expected).toHaveLength(1);
    record("11 lone surrogate", { state: settled.state, error: settled.error && settled.error.message, replyUnits: settled.value && settled.value.reply.length });
    expect(settled.state).toBe("resolved");
    expect(settled.value.reply).toBe(expected);
    expect(settled.value.reply.charCodeAt(0)).toBe(0xd83d);
  }, T);
});

describe("stopped before the agent starts", () => {
  async function expectNeverRan(ctx, spaceId, run, since, label) {
    const settled = await settleWithin(run, 30_000);
    await h.waitFor("no container of this run", () => h.managedNamesSince(since).length === 0, 20_000);
    const marker = fs.existsSync(path.join(ctx.config.spacesDir, spaceId, "ran-marker"));
    const started = engineStarts(since);
    record(label, { state: settled.state, reason: settled.error && settled.error.reason, ms: settled.ms, agentRan: marker, engineStarted: started.length > 0 });
    expect(settled.state).toBe("rejected");
    expect(settled.error).toBeInstanceOf(h.ContainerError);
    expect(settled.error.reason).toBe("aborted");
    expect(marker).toBe(false);
    expect(started).toEqual([]);
    expect(ctx.lines.find((l) => l.msg === "Container started")).toBeUndefined();
  }

  test("abort() right after reply(): the agent never runs, no container is left", async () => {
    // Before the runner: its containers' names carry its creation time, which must not be earlier.
    const since = Date.now();
    const ctx = h.makeRunner();
    fs.mkdirSync(path.join(ctx.config.spacesDir, "early"), { recursive: true });
    const run = ctx.runner.reply(input(ctx, "early", { FIXTURE_MODE: "marker" }));
    expect(ctx.runner.abort("early")).toBe(true);
    await expectNeverRan(ctx, "early", run, since, "12a abort() right after reply()");
  }, T);

  for (const how of ["abort", "killAll"]) {
    test(`${how}() while the engine is creating the container: the agent never runs, the container is removed`, async () => {
      const root = h.tempRoot();
      const proxy = await startEngineProxy(root);
      try {
        // Before the runner, as above: the late container's removal is waited for before the proxy closes.
        const since = Date.now();
        const ctx = h.makeRunner({}, { dockerHost: proxy.dockerHost });
        fs.mkdirSync(path.join(ctx.config.spacesDir, "creating"), { recursive: true });
        const hold = proxy.holdNextCreate();
        const run = ctx.runner.reply(input(ctx, "creating", { FIXTURE_MODE: "marker" }));
        // The create request has reached the engine; its answer is held.
        const name = await Promise.race([hold.arrived, new Promise((r) => setTimeout(() => r(null), 20_000))]);
        expect(name).toMatch(/^mercury-\d+-1$/);
        if (how === "abort") expect(ctx.runner.abort("creating")).toBe(true);
        else ctx.runner.killAll();
        hold.release();
        // The run settles (rejects) while the engine is still answering: checked below, handled here.
        run.catch(() => {});
        // The engine has made the container (on a loaded machine that can take seconds): only
        // from here does "no container of this run" say that the runner removed it.
        await hold.answered;
        expect(engineCreated(name, since)).toBe(true);
        await expectNeverRan(ctx, "creating", run, since, `12${how === "abort" ? "b" : "c"} ${how}() during create`);
      } finally {
        await proxy.close();
      }
    }, T);
  }
});

describe("other spaces' folders", () => {
  async function crossSpace(options) {
    const ctx = h.makeRunner({}, options);
    const victim = path.join(ctx.config.spacesDir, "victim");
    fs.mkdirSync(victim, { recursive: true });
    fs.writeFileSync(path.join(victim, "secret.txt"), "victim-secret");
    const result = await ctx.runner.reply(input(ctx, "nosy", { FIXTURE_MODE: "cross-space", FIXTURE_OTHER: "victim" }));
    return {
      reply: result.reply,
      planted: fs.existsSync(path.join(victim, "planted.txt")),
      own: fs.existsSync(path.join(ctx.config.spacesDir, "nosy", "own.txt")),
    };
  }

  test("without isolateSpaces (the default, as the TypeScript runner): an agent reads and plants files in another space", async () => {
    const got = await crossSpace({});
    record("13a other space, default", got);
    expect(got).toEqual({ reply: "read=victim-secret wrote=ok", planted: true, own: true });
  }, T);

  test("with isolateSpaces: true, the agent sees only its own space", async () => {
    const got = await crossSpace({ isolateSpaces: true });
    record("13b other space, isolateSpaces", got);
    expect(got).toEqual({ reply: "read=denied wrote=denied", planted: false, own: true });
  }, T);
});

describe("the agent folder (globalDir at /root/.pi/agent)", () => {
  const FAR = Date.now() + 10 * 365 * 86_400_000;
  const OPERATOR_LOGIN = { anthropic: { type: "oauth", access: "operator-token", refresh: "operator-refresh", expires: FAR } };

  /** The operator's agent folder: a login, instructions, settings, an extension, and a few more entries (about ten in all). */
  function operatorAgentDir(ctx, { login = true } = {}) {
    const g = ctx.config.globalDir;
    fs.mkdirSync(path.join(g, "extensions"), { recursive: true });
    for (const dir of ["skills", "prompts", "themes"]) fs.mkdirSync(path.join(g, dir), { recursive: true });
    if (login) fs.writeFileSync(path.join(g, "auth.json"), JSON.stringify(OPERATOR_LOGIN));
    fs.writeFileSync(path.join(g, "AGENTS.md"), "operator instructions\n");
    fs.writeFileSync(path.join(g, "settings.json"), '{"operator":true}\n');
    fs.writeFileSync(path.join(g, "models.json"), "{}\n");
    fs.writeFileSync(path.join(g, "SYSTEM.md"), "operator system prompt\n");
    fs.writeFileSync(path.join(g, "extensions", "operator.ts"), "export default {};\n");
    fs.writeFileSync(path.join(g, "skills", "SKILL.md"), "operator skill\n");
  }

  /** Every file under `dir` with its content, and every folder: what a plant would change. */
  function snapshot(dir) {
    const out = {};
    const walk = (d, rel) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const r = path.join(rel, e.name);
        if (e.isDirectory()) {
          out[r + "/"] = "";
          walk(path.join(d, e.name), r);
        } else out[r] = e.isFile() ? fs.readFileSync(path.join(d, e.name), "utf8") : `(${e.isSymbolicLink() ? "link" : "special"})`;
      }
    };
    walk(dir, "");
    return out;
  }

  /** One space's agent attacks the agent folder; then another space's next turn looks at it. */
  async function attackThenLook(options) {
    const ctx = h.makeRunner({}, options);
    operatorAgentDir(ctx);
    const before = snapshot(ctx.config.globalDir);
    const attack = await ctx.runner.reply(input(ctx, "thief", { FIXTURE_MODE: "agent-dir-attack" }));
    const look = await ctx.runner.reply(input(ctx, "victim", { FIXTURE_MODE: "agent-dir-look" }));
    const stolen = path.join(ctx.config.spacesDir, "thief", "stolen-auth.json");
    return {
      attack: attack.reply,
      stolenRefreshToken: fs.existsSync(stolen) && JSON.parse(fs.readFileSync(stolen, "utf8")).anthropic.refresh,
      globalDirChanged: JSON.stringify(snapshot(ctx.config.globalDir)) !== JSON.stringify(before),
      victim: look.reply,
    };
  }

  test("without isolateSpaces (the default, as the TypeScript runner): the folder is read-write, so an agent steals the login and plants what another space loads", async () => {
    const got = await attackThenLook({});
    record("14a agent folder, default", got);
    expect(got).toEqual({
      attack: "auth=present read=ok auth.json=ok AGENTS.md=ok extensions/planted.ts=ok settings.json=ok",
      stolenRefreshToken: "operator-refresh",
      globalDirChanged: true,
      victim: "auth=present token=planted-token planted=seen",
    });
  }, T);

  test("with isolateSpaces: auth.json is absent, the folder read-only, and another space's next turn gets the operator's token and sees nothing planted", async () => {
    const got = await attackThenLook({ isolateSpaces: true });
    record("14b agent folder, isolateSpaces", got);
    // auth.json is a new name in the container's own /root/.pi/agent: written there, it goes with the container.
    expect(got).toEqual({
      attack: "auth=absent read=denied auth.json=ok AGENTS.md=denied extensions/planted.ts=denied settings.json=denied",
      stolenRefreshToken: false,
      globalDirChanged: false,
      victim: "auth=absent token=operator-token planted=none",
    });
  }, T);

  test("with isolateSpaces: a space's sessions reach its own next turn, never another space's", async () => {
    const ctx = h.makeRunner({}, { isolateSpaces: true });
    const sessions = async (spaceId, write) =>
      (await ctx.runner.reply(input(ctx, spaceId, { FIXTURE_MODE: "sessions", ...(write ? { FIXTURE_SESSION: write } : {}) }))).reply.trim();
    const got = {
      ownFirst: await sessions("alpha", "alpha-1"),
      ownNext: await sessions("alpha"),
      other: await sessions("beta", "beta-1"),
      ownAfterOther: await sessions("alpha"),
    };
    const hostFile = path.join(`${ctx.config.globalDir}-sessions`, "alpha", "alpha-1.jsonl");
    got.keptBesideGlobalDir = fs.existsSync(hostFile);
    got.inGlobalDir = fs.existsSync(path.join(ctx.config.globalDir, "sessions"));
    record("14c sessions, isolateSpaces", got);
    expect(got).toEqual({
      ownFirst: "alpha-1.jsonl",
      ownNext: "alpha-1.jsonl",
      other: "beta-1.jsonl",
      ownAfterOther: "alpha-1.jsonl",
      keptBesideGlobalDir: true,
      inGlobalDir: false,
    });
  }, T);

  test("with isolateSpaces: a login at an authPath inside a space's folder is not read, so its agent cannot hand a token to other spaces", async () => {
    const ctx = h.makeRunner({}, { isolateSpaces: true });
    const planted = await ctx.runner.reply(input(ctx, "thief", { FIXTURE_MODE: "plant-login", FIXTURE_TARGET: "/spaces/thief/login/auth.json" }));
    expect(planted.reply).toBe("login planted");
    const authPath = path.join(ctx.config.spacesDir, "thief", "login", "auth.json");
    expect(JSON.parse(fs.readFileSync(authPath, "utf8")).anthropic.access).toBe("planted-token");
    // The same folders, with the operator's authPath pointing into that space's folder.
    const other = h.makeRunner({ ...ctx.config, authPath }, { isolateSpaces: true });
    const from = other.lines.length;
    const look = await other.runner.reply(input(other, "victim", { FIXTURE_MODE: "agent-dir-look" }));
    const turn = other.lines.slice(from);
    record("14d authPath in a space's folder, isolateSpaces", { victim: look.reply, warns: warns(turn).length });
    expect(look.reply).toBe("auth=absent token=none planted=none");
    expect(warns(turn, /folder agents can write/)).toHaveLength(1);
  }, T);

  test("with isolateSpaces and standby: the next turn claims the standby, and a login written while it waited is not in it", async () => {
    // Another provider: no token in the environment, so the login does not change the spec.
    const ctx = h.makeRunner({ modelProvider: "openai" }, { isolateSpaces: true, standby: true });
    try {
      operatorAgentDir(ctx, { login: false });
      const first = await ctx.runner.reply(input(ctx, "waiting", { FIXTURE_MODE: "agent-dir-look" }));
      expect(first.reply).toBe("auth=absent token=none planted=none");
      await h.waitFor("standby ready", () => ctx.lines.find((l) => l.msg === "Standby ready"));
      fs.writeFileSync(path.join(ctx.config.globalDir, "auth.json"), JSON.stringify(OPERATOR_LOGIN));
      const from = ctx.lines.length;
      const second = await ctx.runner.reply(input(ctx, "waiting", { FIXTURE_MODE: "agent-dir-look" }));
      const claimed = ctx.lines.slice(from).some((l) => l.msg === "Standby claimed");
      record("14e login while a standby waits, isolateSpaces", { claimed, second: second.reply });
      expect({ claimed, second: second.reply }).toEqual({ claimed: true, second: "auth=absent token=none planted=none" });
    } finally {
      ctx.runner.killAll();
    }
  }, T);
});
