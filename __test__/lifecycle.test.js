// ensureImage, cleanupOrphans, the registry of runs, and the class's surface.
const fs = require("node:fs");
const path = require("node:path");
const h = require("./helpers");
const { startEngineProxy } = require("./engine-proxy");

const T = 90_000;
const PULL_IMAGE = `${h.REGISTRY}/mercury-test-agent:pull`;

/** Every folder above `file` lets other users through, and `file` has the `bits` for them. */
function othersMay(file, bits) {
  if ((fs.statSync(file).mode & bits) !== bits) return false;
  for (let d = path.dirname(file); ; d = path.dirname(d)) {
    if ((fs.statSync(d).mode & 0o001) === 0) return false;
    if (d === path.dirname(d)) return true;
  }
}

/**
 * The package (its loader, the addon) and the cleanup script, copied into a fresh 0755 folder under
 * the temp folder, for a child running as nobody; and a Node it may run (this one, or a copy when
 * this one sits under a folder only root enters, as npm test's Node 22/24 under ~/.cache do).
 * Throws, saying why, when nobody could still not reach the copy.
 */
function copyForNobody() {
  const pkg = path.join(__dirname, "..");
  const dir = fs.mkdtempSync(path.join(require("node:os").tmpdir(), "mcr-nobody-"));
  fs.chmodSync(dir, 0o755);
  const addons = fs.readdirSync(pkg).filter((f) => /^container-runner\..+\.node$/.test(f));
  if (addons.length === 0) throw new Error(`no built addon (container-runner.*.node) in ${pkg}: run npm run build`);
  for (const f of ["package.json", "main.js", "realm.js", "index.js", ...addons]) {
    fs.copyFileSync(path.join(pkg, f), path.join(dir, f));
    fs.chmodSync(path.join(dir, f), 0o644);
  }
  // The script finds the package three folders up, as in the checkout.
  const scripts = path.join(dir, "__test__", "fixtures", "scripts");
  fs.mkdirSync(scripts, { recursive: true, mode: 0o755 });
  for (let d = scripts; d !== dir; d = path.dirname(d)) fs.chmodSync(d, 0o755);
  const script = path.join(scripts, "cleanup.js");
  fs.copyFileSync(path.join(__dirname, "fixtures", "scripts", "cleanup.js"), script);
  fs.chmodSync(script, 0o644);
  let node = process.execPath;
  if (!othersMay(node, 0o005)) {
    node = path.join(dir, "node");
    fs.copyFileSync(process.execPath, node);
    fs.chmodSync(node, 0o755);
  }
  if (!othersMay(script, 0o004) || !othersMay(node, 0o005)) {
    throw new Error(`${dir} is not reachable by other users (a folder above it is not searchable by them): ` +
      "the child running as nobody could not load the package; set TMPDIR to a folder every user may enter");
  }
  return { dir, node, script };
}

function removeLocal(image) {
  try {
    h.docker("rmi", "-f", image);
  } catch {
    // not there
  }
}

describe("ensureImage", () => {
  test("an image already present: debug line, no pull", async () => {
    const ctx = h.makeRunner();
    await ctx.runner.ensureImage();
    expect(ctx.lines).toContainEqual({ level: "debug", msg: "Agent image found locally", fields: { image: h.IMAGE } });
    expect(ctx.lines.find((l) => /pull/i.test(l.msg))).toBeUndefined();
  }, T);

  test("a missing image is pulled from the registry, with progress lines", async () => {
    removeLocal(PULL_IMAGE);
    const ctx = h.makeRunner({ agentContainerImage: PULL_IMAGE });
    await ctx.runner.ensureImage();
    expect(ctx.lines[ctx.lines.length - 1]).toEqual({ level: "info", msg: "Agent image pulled successfully", fields: { image: PULL_IMAGE } });
    expect(ctx.lines).toContainEqual({ level: "info", msg: "Agent image not found locally, pulling...", fields: { image: PULL_IMAGE } });
    const progress = ctx.lines.filter((l) => l.msg === "Pulling agent image");
    expect(progress.length).toBeGreaterThan(2);
    expect(progress.some((l) => l.fields.layer && /complete/i.test(l.fields.status))).toBe(true);
    expect(h.docker("image", "inspect", "--format", "{{.Id}}", PULL_IMAGE)).toMatch(/^sha256:/);
  }, T);

  test("a failed pull rejects with the host's exact message", async () => {
    const image = "127.0.0.1:5999/nothing-here:1";
    const ctx = h.makeRunner({ agentContainerImage: image });
    const e = await h.rejectionOf(ctx.runner.ensureImage());
    expect(e).toBeInstanceOf(Error);
    expect(e).not.toBeInstanceOf(h.ContainerError);
    expect(e.message).toBe(`Failed to pull agent image: ${image}\nRun manually: docker pull ${image}`);
  }, T);

  test("reply pulls a missing image first, as docker run does", async () => {
    removeLocal(PULL_IMAGE);
    const ctx = h.makeRunner({ agentContainerImage: PULL_IMAGE });
    const result = await ctx.runner.reply(h.replyInput(ctx, "pulled"));
    expect(result.reply).toBe("pong");
    expect(ctx.lines.find((l) => l.msg === "Agent image pulled successfully")).toBeDefined();
  }, T);

  test("a pull inside reply gives way to the timeout, with the same closing line as any timeout", async () => {
    removeLocal(PULL_IMAGE);
    // The engine's answer to the pull is held, so the deadline surely falls while it is in progress.
    const proxy = await startEngineProxy(h.tempRoot());
    try {
      const hold = proxy.holdNextPull();
      const ctx = h.makeRunner({ agentContainerImage: PULL_IMAGE, containerTimeoutMs: 2000 }, { dockerHost: proxy.dockerHost });
      const run = ctx.runner.reply(h.replyInput(ctx, "pull-timeout"));
      expect(await hold.arrived).toBe(`${h.REGISTRY}/mercury-test-agent`);
      const e = await h.rejectionOf(run);
      hold.release();
      expect(e).toBeInstanceOf(h.ContainerError);
      expect(e.reason).toBe("timeout");
      const msgs = ctx.lines.map((l) => l.msg);
      expect(msgs).toContain("Agent image not found locally, pulling...");
      expect(msgs).not.toContain("Container started");
      const exited = ctx.lines.find((l) => l.msg === "Container exited");
      expect(exited.level).toBe("warn");
      expect(exited.fields).toMatchObject({ event: "container.end", reason: "timeout" });
      expect(ctx.runner.activeCount).toBe(0);
    } finally {
      await proxy.close();
    }
  }, T);

  test("setImage overrides the configured image; the image getter tells which", async () => {
    const ctx = h.makeRunner({ agentContainerImage: "mercury-agent:none" });
    expect(ctx.runner.image).toBe("mercury-agent:none");
    ctx.runner.setImage(h.IMAGE);
    expect(ctx.runner.image).toBe(h.IMAGE);
    await ctx.runner.ensureImage();
    expect((await ctx.runner.reply(h.replyInput(ctx, "setimage"))).reply).toBe("pong");
  }, T);
});

describe("cleanupOrphans", () => {
  // cleanupOrphans removes every labelled container on its engine. Reached through a proxy that
  // labels this test's containers and shows it only those, it removes only what the test made:
  // never another user's agents on a shared engine, nor the leaks of earlier tests (which the
  // suite's own check must still see).
  async function scoped(fn) {
    const label = `mercury.test-run=${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`;
    const proxy = await startEngineProxy(h.tempRoot(), { label });
    try {
      return await fn({ proxy, label, ctx: h.makeRunner({}, { dockerHost: proxy.dockerHost }) });
    } finally {
      await proxy.close();
    }
  }

  test("removes every labelled container, running or stopped, and counts them", () =>
    scoped(async ({ label, ctx }) => {
      const stopped = h.docker("create", "--label", "mercury.managed=true", "--label", label, h.IMAGE);
      const running = h.docker("run", "-d", "--label", "mercury.managed=true", "--label", label, "-e", "FIXTURE_MODE=sleep", "-i", h.IMAGE);
      const unrelated = h.docker("create", "--label", label, h.IMAGE);
      try {
        expect(await ctx.runner.cleanupOrphans()).toBe(2);
        expect(ctx.lines).toContainEqual({ level: "info", msg: "Found orphaned containers, cleaning up", fields: { count: 2 } });
        expect(ctx.lines).toContainEqual({ level: "info", msg: "Cleaned up orphaned containers", fields: { count: 2 } });
        expect(h.docker("ps", "-aq", "--no-trunc", "--filter", `id=${stopped}`)).toBe("");
        expect(h.docker("ps", "-aq", "--no-trunc", "--filter", `id=${running}`)).toBe("");
        expect(h.docker("ps", "-aq", "--no-trunc", "--filter", `id=${unrelated}`)).toBe(unrelated);
        expect(await ctx.runner.cleanupOrphans()).toBe(0);
      } finally {
        h.removeContainers(stopped, running, unrelated);
      }
    }), T);

  test("leaves this runner's own runs in flight alone", () =>
    scoped(async ({ proxy, ctx }) => {
      const run = ctx.runner.reply(h.replyInput(ctx, "mine", { extraEnv: { FIXTURE_MODE: "sleep" } }));
      const name = await h.runningContainer(ctx.lines);
      // The run's container carries the test's label, so cleanupOrphans does see it, and must skip it.
      expect(proxy.created).toEqual([name]);
      expect(await ctx.runner.cleanupOrphans()).toBe(0);
      expect(h.containersNamed(name)).toHaveLength(1);
      ctx.runner.abort("mine");
      await h.rejectionOf(run);
      await h.expectRemoved(name);
    }), T);
});

describe("runs in flight", () => {
  test("a run counts from the call until its promise settles", async () => {
    const ctx = h.makeRunner();
    expect(ctx.runner.isRunning("a")).toBe(false);
    const run = ctx.runner.reply(h.replyInput(ctx, "a"));
    expect(ctx.runner.isRunning("a")).toBe(true);
    expect(ctx.runner.activeCount).toBe(1);
    expect(ctx.runner.getActiveSpaces()).toEqual(["a"]);
    let settledWhileRunning = null;
    await run.then(() => {
      settledWhileRunning = ctx.runner.isRunning("a");
    });
    expect(settledWhileRunning).toBe(false);
    expect(ctx.runner.activeCount).toBe(0);
    expect(ctx.runner.getActiveSpaces()).toEqual([]);
  }, T);

  test("a second reply for a busy space does not clobber the first run's entry", async () => {
    const ctx = h.makeRunner();
    const slow = ctx.runner.reply(h.replyInput(ctx, "busy", { extraEnv: { FIXTURE_MODE: "sleep" } }));
    await h.runningContainer(ctx.lines);
    const quick = await ctx.runner.reply(h.replyInput(ctx, "busy"));
    expect(quick.reply).toBe("pong");
    expect(ctx.runner.isRunning("busy")).toBe(true);
    expect(ctx.runner.getActiveSpaces()).toEqual(["busy"]);
    expect(ctx.runner.abort("busy")).toBe(true);
    expect((await h.rejectionOf(slow)).reason).toBe("aborted");
    expect(ctx.runner.isRunning("busy")).toBe(false);
  }, T);

  test("two runners naming a container in the same millisecond both run (the second takes a later name)", async () => {
    // Both runners' first run, called within one millisecond: both want
    // mercury-<ms>-1. The agents stay up for a second, so whichever create
    // reaches the engine second meets the first container still there.
    let a, b, ms, runs;
    for (let attempt = 0; attempt < 50 && !runs; attempt++) {
      a = h.makeRunner();
      b = h.makeRunner();
      const input = (ctx) => h.replyInput(ctx, "twin", { extraEnv: { FIXTURE_MODE: "slow-echo", FIXTURE_SLEEP: "1" } });
      // Start at a millisecond boundary, so both calls fit in the same one.
      const edge = Date.now();
      while (Date.now() === edge);
      const t0 = Date.now();
      const pair = [a.runner.reply(input(a)), b.runner.reply(input(b))];
      if (Date.now() === t0) {
        ms = t0;
        runs = pair;
      } else {
        // Not the same millisecond after all: let these go and try again.
        a.runner.killAll();
        b.runner.killAll();
        await Promise.allSettled(pair);
      }
    }
    expect(runs).toBeDefined();
    const [ra, rb] = await Promise.all(runs);
    expect([ra.reply, rb.reply]).toEqual(["pong", "pong"]);
    const names = [a, b].map((ctx) => ctx.lines.find((l) => l.msg === "Container started").fields.container);
    // One got the name both wanted; the other met the conflict and took a later millisecond.
    const wanted = `mercury-${ms}-1`;
    expect(names.filter((n) => n === wanted)).toHaveLength(1);
    const other = names.find((n) => n !== wanted);
    const match = /^mercury-(\d+)-1$/.exec(other);
    expect(match).not.toBeNull();
    expect(Number(match[1])).toBeGreaterThan(ms);
    for (const n of names) await h.expectRemoved(n);
  }, T);

  test("reply can be replaced on an instance, as the host's tests do", async () => {
    const ctx = h.makeRunner();
    const calls = [];
    ctx.runner.reply = async (input) => {
      calls.push(input.spaceId);
      return { reply: "mocked", files: [] };
    };
    expect(await ctx.runner.reply(h.replyInput(ctx, "mocked"))).toEqual({ reply: "mocked", files: [] });
    expect(calls).toEqual(["mocked"]);
    expect(ctx.runner.activeCount).toBe(0);
  });
});

describe("process exit", () => {
  test("process.exit() with a run in flight: its container is removed before the process is gone", () => {
    const root = h.tempRoot();
    const script = path.join(__dirname, "fixtures", "scripts", "exit-mid-run.js");
    const child = require("node:child_process").spawnSync(process.execPath, [script, root, h.IMAGE], {
      encoding: "utf8",
      timeout: 30_000,
    });
    const started = /^STARTED (\S+)$/m.exec(child.stdout);
    expect(started).not.toBeNull();
    expect(child.status).toBe(0);
    // Checked at once, not waited for: the exit itself did the removal.
    expect(h.containersNamed(started[1])).toEqual([]);
  }, 60_000);

  test("process.exit() right after a reply: its container, still being removed, is gone too", () => {
    // The removal starts when the container ends and may still be under way when the reply settles.
    const script = path.join(__dirname, "fixtures", "scripts", "exit-after-reply.js");
    const left = [];
    for (let i = 0; i < 5; i++) {
      const root = h.tempRoot();
      const child = require("node:child_process").spawnSync(process.execPath, [script, root, h.IMAGE, `after-${i}`], {
        encoding: "utf8",
        timeout: 30_000,
      });
      const replied = /^REPLIED pong (mercury-\d+-\d+)$/m.exec(child.stdout);
      expect(replied).not.toBeNull();
      expect(child.status).toBe(0);
      // Checked at once, not waited for: the exit itself finished the removal.
      left.push(...h.containersNamed(replied[1]));
    }
    expect(left).toEqual([]);
  }, 120_000);
});

describe("construction", () => {
  test("a custom image gets the host's warning; a mercury-agent image does not", () => {
    const custom = h.makeRunner({ agentContainerImage: "test" });
    expect(custom.lines).toEqual([
      {
        level: "warn",
        msg: "Using custom agent image",
        fields: {
          image: "test",
          note: "Ensure image has: bun, pi, agent-browser, napkin, mrctl",
          docs: "See docs/container-lifecycle.md for custom image requirements",
        },
      },
    ]);
    expect(h.makeRunner({ agentContainerImage: "mercury-agent:latest" }).lines).toEqual([]);
    expect(h.makeRunner({ agentContainerImage: "registry.example/team/mercury-agent:2" }).lines).toEqual([]);
  });

  test("with no engine at the endpoint: constructs, cleanupOrphans resolves 0 with a warning, reply and ensureImage reject naming it", async () => {
    const endpoint = "unix:///tmp/mercury-no-engine-here.sock";
    const ctx = h.makeRunner({}, { dockerHost: endpoint });
    expect(await ctx.runner.cleanupOrphans()).toBe(0);
    const warn = ctx.lines.find((l) => l.msg === "Docker not found, skipping orphan cleanup");
    expect(warn.level).toBe("warn");
    expect(warn.fields.error).toContain(endpoint);

    const e = await h.rejectionOf(ctx.runner.reply(h.replyInput(ctx, "down")));
    expect(e).toBeInstanceOf(h.ContainerError);
    expect(e.exitCode).toBe(125);
    expect(e.message).toContain(endpoint);
    expect(ctx.runner.activeCount).toBe(0);

    const pull = await h.rejectionOf(ctx.runner.ensureImage());
    expect(pull.message).toBe(`Failed to pull agent image: ${h.IMAGE}\nRun manually: docker pull ${h.IMAGE}`);
    expect(pull.cause.message).toContain(endpoint);
  }, T);

  test("a tcp:// endpoint's user and password reach no log line and no error, whether the engine answers or not", async () => {
    // A plain TCP door to the engine, so a tcp:// endpoint with credentials gets answers.
    const net = require("node:net");
    const door = net.createServer({ allowHalfOpen: true }, (c) => {
      const up = net.connect({ path: "/var/run/docker.sock", allowHalfOpen: true });
      c.pipe(up).pipe(c);
      c.on("error", () => up.destroy());
      up.on("error", () => c.destroy());
    });
    await new Promise((r) => door.listen(0, "127.0.0.1", r));
    const { port } = door.address();
    try {
      const up = h.makeRunner({}, { dockerHost: `tcp://deploy:s3cret-pw@127.0.0.1:${port}` });
      await up.runner.ensureImage();
      // (No cleanupOrphans here: on the shared engine it would remove other suites' containers.)
      expect((await up.runner.reply(h.replyInput(up, "creds-up"))).reply).toBe("pong");
      const named = up.lines.find((l) => l.msg === "Docker engine endpoint");
      expect(named.fields.endpoint).toBe(`tcp://***@127.0.0.1:${port}, from the dockerHost option`);

      // Nothing listens there: every "Cannot connect" says where, never with what.
      const freePort = await new Promise((r) => {
        const s = net.createServer().listen(0, "127.0.0.1", () => {
          const p = s.address().port;
          s.close(() => r(p));
        });
      });
      const down = h.makeRunner({}, { dockerHost: `tcp://deploy:s3cret-pw@127.0.0.1:${freePort}` });
      const e = await h.rejectionOf(down.runner.reply(h.replyInput(down, "creds")));
      expect(e.exitCode).toBe(125);
      expect(e.message).toContain(`Cannot connect to the Docker engine at tcp://***@127.0.0.1:${freePort}`);
      const pull = await h.rejectionOf(down.runner.ensureImage());
      expect(await down.runner.cleanupOrphans()).toBe(0);
      const said = JSON.stringify([up.lines, down.lines, e.message, pull.message, pull.cause && pull.cause.message]);
      expect(said).toContain("***@127.0.0.1");
      expect(said).not.toMatch(/s3cret|deploy/);
    } finally {
      await new Promise((r) => door.close(r));
    }
  }, T);

  test("an engine this process may not use is a failure, not 'Docker not found'", () => {
    // As root the socket's permissions do not apply: run the child as an unprivileged user, from a
    // copy of what it needs that it can read (the checkout may sit under a folder only root enters).
    const copy = copyForNobody();
    const root = h.tempRoot();
    fs.chmodSync(root, 0o777);
    let child;
    try {
      child = require("node:child_process").spawnSync(
        "setpriv",
        ["--reuid=nobody", "--regid=nogroup", "--clear-groups", copy.node, copy.script, root],
        { encoding: "utf8", timeout: 30_000, env: { ...process.env, DOCKER_HOST: "", HOME: root } },
      );
    } finally {
      fs.rmSync(copy.dir, { recursive: true, force: true });
    }
    if (!child.stdout || !child.stdout.includes("RESOLVED")) {
      throw new Error(
        `the child running as nobody from ${copy.dir} resolved nothing (status ${child.status}, signal ${child.signal}, ` +
          `error ${child.error}); its stdout:\n${child.stdout}\nits stderr:\n${child.stderr}`,
      );
    }
    expect(child.stdout).toContain("RESOLVED 0");
    expect(child.stdout).toMatch(/LOG warn Failed to cleanup orphaned containers .*[Pp]ermission denied/);
    expect(child.stdout).not.toContain("Docker not found");
  }, T);

  test("DOCKER_HOST names the endpoint when no dockerHost option is given", async () => {
    const endpoint = "unix:///tmp/mercury-docker-host-env.sock";
    const saved = process.env.DOCKER_HOST;
    process.env.DOCKER_HOST = endpoint;
    try {
      const ctx = h.makeRunner();
      const e = await h.rejectionOf(ctx.runner.reply(h.replyInput(ctx, "env-host")));
      expect(e.exitCode).toBe(125);
      expect(e.message).toContain(`Cannot connect to the Docker engine at ${endpoint}`);
      expect(await ctx.runner.cleanupOrphans()).toBe(0);
    } finally {
      if (saved === undefined) delete process.env.DOCKER_HOST;
      else process.env.DOCKER_HOST = saved;
    }
  }, T);
});
