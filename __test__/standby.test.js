// options.standby: a space's next container, prepared after its turn and
// claimed by the next turn whose container spec is the same.
const fs = require("node:fs");
const crypto = require("node:crypto");
const path = require("node:path");
const { spawnSync } = require("node:child_process");
const h = require("./helpers");

const T = 60_000;
// Per process: suites of other trees may run beside this one on the same engine.
const ALT_IMAGE = `mercury-test-agent:standby-alt-${process.pid}`;
const SUITE_START = Date.now();
const runners = [];

/** A runner with standbys on; the agent's behaviour comes from the payload (mode `turn`). */
function standbyRunner(standby = true, overrides = {}, options = {}) {
  const ctx = h.makeRunner(overrides, { standby, ...options });
  runners.push(ctx.runner);
  return ctx;
}

function turnInput(ctx, spaceId, prompt, extra = {}) {
  return h.replyInput(ctx, spaceId, { prompt, extraEnv: { FIXTURE_MODE: "turn" }, ...extra });
}

/** The payload as the runner writes it (contract, reply step 5), and what the agent answers for it. */
function payloadOf(ctx, input) {
  return JSON.stringify({
    ...input,
    spaceWorkspace: input.spaceWorkspace.replace(ctx.config.spacesDir, "/spaces"),
    callerRole: input.callerRole ?? "member",
  });
}
function answerTo(ctx, input) {
  return crypto.createHash("sha256").update(payloadOf(ctx, input)).digest("hex").slice(0, 16);
}

/** The name of the next standby of `spaceId` to be ready, counting from line `from`. */
async function standbyReady(ctx, spaceId, from = 0) {
  const line = await h.waitFor(`standby of ${spaceId}`, () =>
    ctx.lines.slice(from).find((l) => l.msg === "Standby ready" && l.fields.spaceId === spaceId),
  );
  return line.fields.container;
}

function running(name) {
  return h.docker("ps", "-q", "--filter", `name=^/${name}$`).split("\n").filter(Boolean).length === 1;
}

/** The lines of a space's turns from line `from`. */
function turnLines(ctx, spaceId, from) {
  return ctx.lines.slice(from).filter((l) => l.fields && l.fields.spaceId === spaceId);
}

/** A first turn, then its standby once ready: [standby name, line index after the first turn]. */
async function primed(ctx, spaceId, extra = {}) {
  const from = ctx.lines.length;
  const first = turnInput(ctx, spaceId, "first", extra);
  expect((await ctx.runner.reply(first)).reply).toBe(answerTo(ctx, first));
  const standby = await standbyReady(ctx, spaceId, from);
  expect(running(standby)).toBe(true);
  return [standby, ctx.lines.length];
}

/** The debug line saying why a standby was removed (lines arrive after the removal itself). */
function removedLine(ctx, from, standby) {
  return h.waitFor(`removal line of ${standby}`, () =>
    ctx.lines.slice(from).find((l) => l.msg === "Standby removed" && l.fields.container === standby),
  );
}

/** Asserts that the turn logged from `from` ran cold in a container of its own. */
function expectCold(ctx, spaceId, from, standby) {
  const lines = turnLines(ctx, spaceId, from);
  const started = lines.find((l) => l.msg === "Container started");
  expect(started.fields.container).not.toBe(standby);
  expect(started.fields.standby).toBeUndefined();
  expect(lines.some((l) => l.msg === "Standby claimed")).toBe(false);
}

/** The next turn of `spaceId` (prompt `prompt`) answers its payload, cold: not in `standby`. */
async function expectNextTurnCold(ctx, spaceId, prompt, standby) {
  const from = ctx.lines.length;
  const input = turnInput(ctx, spaceId, prompt);
  expect((await ctx.runner.reply(input)).reply).toBe(answerTo(ctx, input));
  expectCold(ctx, spaceId, from, standby);
}

beforeAll(() => {
  h.docker("tag", h.IMAGE, ALT_IMAGE);
});

afterEach(async () => {
  for (const r of runners.splice(0)) r.killAll();
});

afterAll(() => {
  h.docker("rmi", ALT_IMAGE);
});

describe("a hit", () => {
  test("the second turn claims the container prepared after the first: its name in the log, payload and outbox right", async () => {
    const ctx = standbyRunner();
    const [standby, from] = await primed(ctx, "hit");
    // The standby is not a run.
    expect(ctx.runner.isRunning("hit")).toBe(false);
    expect(ctx.runner.activeCount).toBe(0);
    expect(ctx.runner.getActiveSpaces()).toEqual([]);

    const second = turnInput(ctx, "hit", "second", { messages: [{ id: 1, spaceId: "hit", role: "user", content: "first", createdAt: 1, updatedAt: 1 }] });
    const result = await ctx.runner.reply(second);
    expect(result.reply).toBe(answerTo(ctx, second));
    expect(h.seen(ctx, "hit", "payload.json")).toBe(payloadOf(ctx, second));
    // Only the file written during this turn: the first turn's is older than the claim.
    expect(result.files.map((f) => f.filename)).toEqual([`turn-${answerTo(ctx, second)}.txt`]);
    h.expectPrivateCopy(ctx, result.files[0]);
    expect(fs.readFileSync(result.files[0].path, "utf8")).toBe(`${answerTo(ctx, second)}\n`);

    const lines = turnLines(ctx, "hit", from);
    const claimed = lines.find((l) => l.msg === "Standby claimed");
    expect(claimed.level).toBe("debug");
    expect(claimed.fields.container).toBe(standby);
    const started = lines.find((l) => l.msg === "Container started");
    expect(started.fields).toEqual({ spaceId: "hit", container: standby, event: "container.start", standby: true });
    const ended = lines.find((l) => l.msg === "Container exited");
    expect(ended.fields).toMatchObject({ spaceId: "hit", container: standby, exitCode: 0 });
    await h.expectRemoved(standby);
  }, T);

  test("turns of a conversation keep claiming: each prepared after the previous one", async () => {
    const ctx = standbyRunner();
    let [standby] = await primed(ctx, "conv");
    for (const prompt of ["two", "three"]) {
      const from = ctx.lines.length;
      const input = turnInput(ctx, "conv", prompt);
      expect((await ctx.runner.reply(input)).reply).toBe(answerTo(ctx, input));
      expect(turnLines(ctx, "conv", from).find((l) => l.msg === "Container started").fields.container).toBe(standby);
      const next = await standbyReady(ctx, "conv", from);
      expect(next).not.toBe(standby);
      standby = next;
    }
  }, T);
});

describe("a miss discards the standby and the turn starts cold", () => {
  const cases = [
    ["another caller", {}, { callerId: "caller-2" }, /CALLER_ID/],
    ["changed extraEnv", { extraEnv: { FIXTURE_MODE: "turn", EXTRA: "1" } }, { extraEnv: { FIXTURE_MODE: "turn", EXTRA: "2" } }, /EXTRA/],
    ["a changed MERCURY_ variable", { env: "1" }, { env: "2" }, /STANDBY_PROBE/],
    ["a newly claimed MERCURY_ name", { env: "1" }, { env: "1", claimedEnvSources: new Set(["MERCURY_STANDBY_PROBE"]) }, /STANDBY_PROBE/],
  ];
  for (const [name, firstExtra, secondExtra, reason] of cases) {
    test(name, async () => {
      const ctx = standbyRunner();
      const withEnv = async (extra, fn) => {
        const { env, ...rest } = extra;
        if (env === undefined) return fn(rest);
        process.env.MERCURY_STANDBY_PROBE = env;
        try {
          return await fn(rest);
        } finally {
          delete process.env.MERCURY_STANDBY_PROBE;
        }
      };
      const [standby, from] = await withEnv(firstExtra, (extra) => primed(ctx, "miss", extra));
      await withEnv(secondExtra, async (extra) => {
        const input = turnInput(ctx, "miss", "second", extra);
        expect((await ctx.runner.reply(input)).reply).toBe(answerTo(ctx, input));
      });
      expectCold(ctx, "miss", from, standby);
      const miss = turnLines(ctx, "miss", from).find((l) => l.msg === "Standby not used");
      expect(miss.level).toBe("debug");
      expect(miss.fields.reason).toMatch(reason);
      expect(miss.fields.standby).toBe(standby);
      await h.expectRemoved(standby);
    }, T);
  }

  test("a refreshed token (the value never logged)", async () => {
    let n = 0;
    const ctx = standbyRunner(true, {}, { resolveCredential: async () => `tok-secret-${++n}` });
    const [standby, from] = await primed(ctx, "token");
    await expectNextTurnCold(ctx, "token", "second", standby);
    const miss = turnLines(ctx, "token", from).find((l) => l.msg === "Standby not used");
    expect(miss.fields.reason).toBe("environment differs: ANTHROPIC_OAUTH_TOKEN");
    expect(JSON.stringify(ctx.lines)).not.toMatch(/tok-secret/);
    await h.expectRemoved(standby);
  }, T);

  test("another image after setImage", async () => {
    const ctx = standbyRunner();
    const [standby, from] = await primed(ctx, "image");
    ctx.runner.setImage(ALT_IMAGE);
    await expectNextTurnCold(ctx, "image", "second", standby);
    expect(turnLines(ctx, "image", from).find((l) => l.msg === "Standby not used").fields.reason).toBe("another image");
    await h.expectRemoved(standby);
  }, T);
});

describe("lifecycle", () => {
  test("an idle standby is removed after idleMs, and the next turn starts cold", async () => {
    const ctx = standbyRunner({ idleMs: 1500 });
    const [standby, from] = await primed(ctx, "idle");
    const ready = Date.now();
    await h.expectRemoved(standby);
    const idle = Date.now() - ready;
    expect(idle).toBeGreaterThanOrEqual(1400);
    expect(idle).toBeLessThan(1500 + 5000);
    expect((await removedLine(ctx, from, standby)).fields.reason).toBe("idle");
    await expectNextTurnCold(ctx, "idle", "second", standby);
  }, T);

  test("beyond max, the least recently used standby goes", async () => {
    const ctx = standbyRunner({ max: 2 });
    const [a] = await primed(ctx, "lru-a");
    const [b] = await primed(ctx, "lru-b");
    const [c] = await primed(ctx, "lru-c");
    await h.expectRemoved(a);
    expect(running(b) && running(c)).toBe(true);
    // The survivors still serve their spaces; the evicted one's space starts cold.
    const from = ctx.lines.length;
    const input = turnInput(ctx, "lru-b", "again");
    expect((await ctx.runner.reply(input)).reply).toBe(answerTo(ctx, input));
    expect(turnLines(ctx, "lru-b", from).find((l) => l.msg === "Container started").fields.container).toBe(b);
    await expectNextTurnCold(ctx, "lru-a", "again", a);
  }, T);

  test("killAll removes every standby", async () => {
    const ctx = standbyRunner();
    const [a] = await primed(ctx, "kill-a");
    const [b] = await primed(ctx, "kill-b");
    ctx.runner.killAll();
    await h.expectRemoved(a);
    await h.expectRemoved(b);
    await expectNextTurnCold(ctx, "kill-a", "after", a);
  }, T);

  test("cleanupOrphans removes the standbys, and the next turn starts cold", async () => {
    const ctx = standbyRunner();
    const [standby] = await primed(ctx, "orphans");
    expect(await ctx.runner.cleanupOrphans()).toBeGreaterThanOrEqual(1);
    // Its removal was under way when cleanupOrphans resolved (the engine answers 409 to the second one).
    await h.expectRemoved(standby);
    await expectNextTurnCold(ctx, "orphans", "after", standby);
  }, T);

  test("a standby whose container dies while idle is dropped; the next turn starts cold", async () => {
    const ctx = standbyRunner();
    const [standby, from] = await primed(ctx, "died");
    h.docker("kill", standby);
    await h.expectRemoved(standby);
    expect((await removedLine(ctx, from, standby)).fields.reason).toBe("its container ended while idle");
    await expectNextTurnCold(ctx, "died", "second", standby);
  }, T);
});

describe("what a standby prints before its claim (issue 14)", () => {
  const FORGED = "forged before the payload";
  /** Mode forge-early: a result printed at once, before the payload is read, then the answer to the payload. */
  const forge = (ctx, spaceId, prompt) => h.replyInput(ctx, spaceId, { prompt, extraEnv: { FIXTURE_MODE: "forge-early" } });
  /** Until `count` containers of the space have printed their early result (one line each in early.log). */
  const printedEarly = (ctx, spaceId, count) =>
    h.waitFor(`early result ${count}`, () => {
      try {
        return h.seen(ctx, spaceId, "early.log").split("\n").filter(Boolean).length >= count;
      } catch {
        return false;
      }
    });

  test("is not the turn's result: 20 claimed turns, each right after its standby printed, reply to their payload", async () => {
    const ctx = standbyRunner();
    let from = ctx.lines.length;
    // Cold, the early result is the first the container prints, and so the reply (as in the host's runner).
    expect((await ctx.runner.reply(forge(ctx, "forged", "first"))).reply).toBe(FORGED);
    const seen = [];
    for (let i = 0; i < 20; i++) {
      // The claim comes within a poll (50 ms) of the print: the race with the print's way to the runner, 20 times.
      await printedEarly(ctx, "forged", i + 2);
      from = ctx.lines.length;
      const input = forge(ctx, "forged", `turn ${i}`);
      const { reply } = await ctx.runner.reply(input);
      const started = turnLines(ctx, "forged", from).find((l) => l.msg === "Container started");
      seen.push({ claimed: started.fields.standby === true, reply: reply === answerTo(ctx, input) ? "the answer" : reply });
    }
    expect(seen).toEqual(Array(20).fill({ claimed: true, reply: "the answer" }));
  }, T);

  test("an agent that prints only the early result gives no reply", async () => {
    const ctx = standbyRunner();
    const from = ctx.lines.length;
    await ctx.runner.reply(forge(ctx, "forged-only", "first"));
    const standby = await standbyReady(ctx, "forged-only", from);
    await printedEarly(ctx, "forged-only", 2);
    const from2 = ctx.lines.length;
    const err = await h.rejectionOf(ctx.runner.reply(forge(ctx, "forged-only", "no answer")));
    // As for any agent that prints no result: the host's runner threw a plain Error here.
    expect(err.message).toMatch(/^Failed to parse container result/);
    expect(turnLines(ctx, "forged-only", from2).find((l) => l.msg === "Container started").fields.container).toBe(standby);
  }, T);
});

describe("abort with a standby up (issue 14)", () => {
  test("abort(spaceId) discards the space's idle standby at once, and only that space's", async () => {
    const ctx = standbyRunner(); // idleMs 60 s: only the abort can remove it within the bound below
    const [other] = await primed(ctx, "abort-other");
    const [standby, from] = await primed(ctx, "abort-idle");
    // No run in flight: false, as the contract says; the standby goes all the same.
    expect(ctx.runner.abort("abort-idle")).toBe(false);
    await h.waitFor(`removal of ${standby}`, () => h.containersNamed(standby).length === 0, 10_000);
    expect((await removedLine(ctx, from, standby)).fields.reason).toBe("discarded");
    expect(running(other)).toBe(true);
    await expectNextTurnCold(ctx, "abort-idle", "after the abort", standby);
  }, T);
});

describe("isolateSpaces: the space folder is checked before a standby is created (issue 14)", () => {
  test("a space folder that became a link while the turn ran gets no standby, and a warn line", async () => {
    const ctx = standbyRunner(true, {}, { isolateSpaces: true });
    const folder = path.join(ctx.config.spacesDir, "linked");
    const elsewhere = path.join(ctx.root, "elsewhere");
    fs.mkdirSync(elsewhere);
    fs.writeFileSync(path.join(elsewhere, "secret.txt"), "not the space's");
    const from = ctx.lines.length;
    const pending = ctx.runner.reply(h.replyInput(ctx, "linked", { extraEnv: { FIXTURE_MODE: "slow-echo", FIXTURE_SLEEP: "2" } }));
    const turn = (await h.waitFor("start", () => turnLines(ctx, "linked", from).find((l) => l.msg === "Container started"))).fields.container;
    // The running container's mount holds the folder itself, moved away; its name is now a link.
    fs.renameSync(folder, `${folder}-moved`);
    fs.symlinkSync(elsewhere, folder);
    expect((await pending).reply).toBe("pong");
    const verdict = await h.waitFor("the standby's verdict", () =>
      ctx.lines.slice(from).find((l) => (l.level === "warn" && l.msg === "Standby not prepared") || l.msg === "Standby ready"),
    );
    expect(verdict.level).toBe("warn");
    expect(verdict.fields).toMatchObject({ spaceId: "linked" });
    expect(verdict.fields.reason).toContain(`${folder} is not a plain folder`);
    await h.expectRemoved(turn);
    // A create would have been sent by now; look again a little later all the same. By mount, not by
    // label: other suites' containers may share the engine; none but this runner's mounts this folder.
    await new Promise((r) => setTimeout(r, 1000));
    expect(h.docker("ps", "-aq", "--filter", `volume=${folder}`)).toBe("");
  }, T);
});

describe("hardening applies to a standby as to a cold container (issue 14)", () => {
  // Every hardening option, each away from its default. runc named explicitly: the one runtime every engine has.
  const MIB = 1024 ** 2;
  const HARDENED = {
    memoryLimit: 256 * MIB,
    pidsLimit: 64,
    cpus: 0.5,
    user: "1000:1000",
    capDrop: ["ALL"],
    capAdd: ["NET_BIND_SERVICE"],
    noNewPrivileges: true,
    readOnlyRootfs: true,
    network: "none",
    runtime: "runc",
    isolateSpaces: true,
  };
  const inspect = (name) => JSON.parse(h.docker("inspect", name))[0];
  const parseProbe = (reply) => Object.fromEntries(reply.split(" ").map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]));

  test("the engine's view: each option set on both, and the two HostConfigs equal", async () => {
    const ctx = standbyRunner(true, {}, HARDENED);
    // A cold container, looked at while it runs; its turn is then aborted (an aborted turn prepares no standby).
    let from = ctx.lines.length;
    const sleeping = ctx.runner.reply(turnInput(ctx, "hardened", "sleep now"));
    const cold = (await h.waitFor("cold start", () => turnLines(ctx, "hardened", from).find((l) => l.msg === "Container started"))).fields.container;
    const coldView = inspect(cold);
    expect(ctx.runner.abort("hardened")).toBe(true);
    expect((await h.rejectionOf(sleeping)).reason).toBe("aborted");
    const [standby] = await primed(ctx, "hardened");
    const standbyView = inspect(standby);
    for (const view of [coldView, standbyView]) {
      expect(view.Config.User).toBe("1000:1000");
      expect(view.HostConfig).toMatchObject({
        Memory: 256 * MIB,
        MemorySwap: 256 * MIB,
        PidsLimit: 64,
        NanoCpus: 500_000_000,
        CapDrop: ["ALL"],
        CapAdd: ["NET_BIND_SERVICE"],
        SecurityOpt: ["no-new-privileges:true"],
        ReadonlyRootfs: true,
        NetworkMode: "none",
        Runtime: "runc",
      });
      expect(Object.keys(view.HostConfig.Tmpfs)).toEqual(["/tmp"]);
      expect(view.HostConfig.Mounts.find((m) => m.Target.startsWith("/spaces")).Target).toBe("/spaces/hardened");
    }
    expect(standbyView.HostConfig).toEqual(coldView.HostConfig);
    for (const key of ["User", "Image", "Env", "Labels", "OpenStdin", "StdinOnce", "Tty"]) {
      expect([key, standbyView.Config[key]]).toEqual([key, coldView.Config[key]]);
    }
  }, T);

  test("the agent's view: a claimed standby's agent meets the limits a cold one meets", async () => {
    const ctx = standbyRunner(true, {}, HARDENED);
    const probeInput = (prompt) => h.replyInput(ctx, "hardened-probe", { prompt, extraEnv: { FIXTURE_MODE: "probe" } });
    let from = ctx.lines.length;
    const cold = parseProbe((await ctx.runner.reply(probeInput("one"))).reply);
    await standbyReady(ctx, "hardened-probe", from);
    from = ctx.lines.length;
    const claimed = parseProbe((await ctx.runner.reply(probeInput("two"))).reply);
    expect(turnLines(ctx, "hardened-probe", from).find((l) => l.msg === "Container started").fields.standby).toBe(true);
    expect(cold).toMatchObject({ uid: "1000", gid: "1000", nnp: "1", rootfs: "denied", tmp: "ok", ifaces: "lo,", addrs: "", cpuquota: "50000/100000" });
    expect(claimed).toEqual(cold);
  }, T);
});

describe("a claimed turn's outbox (issue 14)", () => {
  test("15 claimed turns in a row each return the file they wrote at once, and no file that was there at the claim", async () => {
    const ctx = standbyRunner();
    // Mode outbox-fast writes its file the moment it has its payload, within a millisecond of the claim.
    const input = (prompt) => h.replyInput(ctx, "outbox-claims", { prompt, extraEnv: { FIXTURE_MODE: "outbox-fast" } });
    let from = ctx.lines.length;
    expect((await ctx.runner.reply(input("first"))).files.map((f) => f.filename)).toEqual(["first.txt"]);
    await standbyReady(ctx, "outbox-claims", from);
    const outbox = path.join(ctx.config.spacesDir, "outbox-claims", "outbox");
    const lost = [];
    const extra = [];
    for (let i = 0; i < 15; i++) {
      // Written a moment before the claim: older than the turn, but within any allowance for coarse file times.
      fs.writeFileSync(path.join(outbox, `before-${i}.txt`), "there before the claim");
      from = ctx.lines.length;
      const result = await ctx.runner.reply(input(`turn-${i}`));
      expect(result.reply).toBe(`turn-${i}`);
      expect(turnLines(ctx, "outbox-claims", from).find((l) => l.msg === "Container started").fields.standby).toBe(true);
      const names = result.files.map((f) => f.filename);
      if (!names.includes(`turn-${i}.txt`)) lost.push(i);
      if (names.some((n) => n !== `turn-${i}.txt`)) extra.push([i, names.filter((n) => n !== `turn-${i}.txt`)]);
    }
    expect({ lost, extra }).toEqual({ lost: [], extra: [] });
  }, 120_000);
});

describe("a claimed run is a run", () => {
  test("abort of a claimed run kills its container and rejects aborted", async () => {
    const ctx = standbyRunner();
    const [standby, from] = await primed(ctx, "abort");
    const pending = ctx.runner.reply(turnInput(ctx, "abort", "sleep now"));
    const started = await h.waitFor("claimed start", () =>
      turnLines(ctx, "abort", from).find((l) => l.msg === "Container started"),
    );
    expect(started.fields.container).toBe(standby);
    expect(ctx.runner.isRunning("abort")).toBe(true);
    expect(ctx.runner.activeCount).toBe(1);
    expect(ctx.runner.abort("abort")).toBe(true);
    const err = await h.rejectionOf(pending);
    expect(err).toBeInstanceOf(h.ContainerError);
    expect(err.reason).toBe("aborted");
    await h.expectRemoved(standby);
  }, T);

  test("a claimed run's deadline counts from its reply() call, not from the standby's start", async () => {
    const ctx = standbyRunner(true, { containerTimeoutMs: 4000 });
    const [standby, from] = await primed(ctx, "timeout");
    // The standby has been up a while: a deadline from its start would fire early.
    await new Promise((r) => setTimeout(r, 2000));
    const t0 = Date.now();
    const err = await h.rejectionOf(ctx.runner.reply(turnInput(ctx, "timeout", "sleep long")));
    const elapsed = Date.now() - t0;
    expect(err.reason).toBe("timeout");
    expect(elapsed).toBeGreaterThanOrEqual(3900);
    expect(elapsed).toBeLessThan(4000 + 5000);
    expect(turnLines(ctx, "timeout", from).find((l) => l.msg === "Container started").fields.container).toBe(standby);
    expect(turnLines(ctx, "timeout", from).find((l) => l.msg === "Container timeout, killing").fields.container).toBe(standby);
    await h.expectRemoved(standby);
  }, T);
});

describe("the host's process", () => {
  const SCRIPT = path.join(__dirname, "fixtures", "scripts", "standby-exit.js");
  const child = (when) =>
    spawnSync(process.execPath, [SCRIPT, h.tempRoot(), h.IMAGE, when], { encoding: "utf8", timeout: 30_000 });

  test("ends by itself with a standby up, and its exit removes the standby", () => {
    const t0 = Date.now();
    const run = child("ready");
    expect(run.status).toBe(0);
    // Far sooner than the standby's 60 s idle time: nothing of it holds the event loop.
    expect(Date.now() - t0).toBeLessThan(20_000);
    const standby = /^STANDBY (\S+)$/m.exec(run.stdout)[1];
    expect(run.stdout).toMatch(/^RESULT [0-9a-f]{16}$/m);
    expect(h.containersNamed(standby)).toEqual([]);
  }, T);

  test("exiting while the standby is still being created leaves no container", async () => {
    const t0 = Date.now();
    const run = child("now");
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/^RESULT /m);
    // A create still in flight at exit would show up late: look again a little after.
    expect(h.managedNamesSince(t0)).toEqual([]);
    await new Promise((r) => setTimeout(r, 1500));
    expect(h.managedNamesSince(t0)).toEqual([]);
  }, T);
});

describe("after the suite", () => {
  test("no standby is left", async () => {
    for (const r of runners.splice(0)) r.killAll();
    await h.waitFor("no container of this suite", () => h.managedNamesSince(SUITE_START).length === 0);
    expect(h.managedNamesSince(SUITE_START)).toEqual([]);
  }, T);
});
