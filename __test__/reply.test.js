// reply(): what the container gets (env, mounts, payload, name, label, network)
// and what the host gets back (reply, files).
const crypto = require("node:crypto");
const fs = require("node:fs");
const http = require("node:http");
const path = require("node:path");
const h = require("./helpers");

const T = 60_000;

function envLines(text) {
  return text.split("\n").filter(Boolean);
}

describe("reply: the container it starts", () => {
  test("runs the agent and resolves a plain, mutable { reply, files }", async () => {
    const ctx = h.makeRunner();
    const result = await ctx.runner.reply(h.replyInput(ctx, "plain"));
    expect(result).toEqual({ reply: "pong", files: [] });
    expect(Object.prototype.toString.call(result)).toBe("[object Object]");
    result.reply = "changed";
    result.files.push({ path: "/x", filename: "x", mimeType: "text/plain", sizeBytes: 1 });
    expect(result.reply).toBe("changed");
    await h.expectRemoved(h.containerOf(ctx.lines));
  }, T);

  test("name, label, env order, mounts, stdin and host-gateway, as the engine sees them", async () => {
    const ctx = h.makeRunner();
    const pkg = path.join(ctx.root, "pkg");
    fs.mkdirSync(path.join(pkg, "docs"), { recursive: true });
    fs.writeFileSync(path.join(pkg, "README.md"), "# readme\n");
    const before = Date.now();
    const run = ctx.runner.reply(h.replyInput(ctx, "inspect", { extraEnv: { FIXTURE_MODE: "sleep", EXTRA_ONE: "1" } }));
    const name = await h.runningContainer(ctx.lines);
    const info = JSON.parse(h.docker("inspect", name))[0];
    ctx.runner.abort("inspect");
    await h.rejectionOf(run);

    const match = /^mercury-(\d+)-(\d+)$/.exec(name);
    expect(match).not.toBeNull();
    expect(Number(match[1])).toBeGreaterThanOrEqual(before);
    expect(Number(match[1])).toBeLessThanOrEqual(Date.now());
    expect(match[2]).toBe("1");
    expect(info.Config.Labels["mercury.managed"]).toBe("true");
    expect(info.Config.OpenStdin).toBe(true);
    expect(info.Config.StdinOnce).toBe(true);
    expect(info.Config.Tty).toBe(false);
    expect(info.HostConfig.ExtraHosts).toEqual(["host.docker.internal:host-gateway"]);
    const ours = info.Config.Env.filter((e) => !e.startsWith("PATH="));
    expect(ours.slice(0, 5)).toEqual([
      "HOME=/root",
      "PI_CODING_AGENT_DIR=/root/.pi/agent",
      "CALLER_ID=caller-1",
      "SPACE_ID=inspect",
      "API_URL=http://host.docker.internal:3000",
    ]);
    expect(ours.slice(-2)).toEqual(["FIXTURE_MODE=sleep", "EXTRA_ONE=1"]);
    const mounts = Object.fromEntries(info.Mounts.map((m) => [m.Destination, m]));
    expect(mounts["/spaces"].Source).toBe(ctx.config.spacesDir);
    expect(mounts["/spaces"].RW).toBe(true);
    // The TypeScript runner's mount: the whole agent folder, read-write (a drop-in host loses nothing).
    expect(mounts["/root/.pi/agent"]).toMatchObject({ Source: ctx.config.globalDir, RW: true });
    expect(mounts["/docs/mercury/README.md"]).toMatchObject({ Source: path.join(pkg, "README.md"), RW: false });
    expect(mounts["/docs/mercury/docs"]).toMatchObject({ Source: path.join(pkg, "docs"), RW: false });
    await h.expectRemoved(name);
  }, T);

  test("with isolateSpaces, as the engine sees it: the agent folder's entries read-only, no login, the space's own sessions read-write", async () => {
    const root = h.tempRoot();
    const sessionsDir = path.join(root, "state", "sessions");
    const ctx = h.makeRunner({}, { isolateSpaces: true, sessionsDir });
    const g = ctx.config.globalDir;
    fs.mkdirSync(path.join(g, "extensions"), { recursive: true });
    fs.mkdirSync(path.join(g, "sessions"), { recursive: true });
    fs.mkdirSync(path.join(g, "auth.json.lock"), { recursive: true });
    for (const file of ["auth.json", "AGENTS.md", "settings.json", "we,ird:name.md", "with space.md"]) fs.writeFileSync(path.join(g, file), "{}\n");
    fs.symlinkSync("/etc", path.join(g, "prompts"));
    const run = ctx.runner.reply(h.replyInput(ctx, "iso", { extraEnv: { FIXTURE_MODE: "sleep" } }));
    const name = await h.runningContainer(ctx.lines);
    const info = JSON.parse(h.docker("inspect", name))[0];
    ctx.runner.abort("iso");
    await h.rejectionOf(run);

    const mounts = info.Mounts.filter((m) => m.Destination.startsWith("/root/.pi/agent"))
      .map((m) => [m.Destination, m.Source, m.RW])
      .sort();
    const entry = (n) => [`/root/.pi/agent/${n}`, path.join(g, n), false];
    expect(mounts).toEqual([
      entry("AGENTS.md"),
      entry("extensions"),
      ["/root/.pi/agent/sessions", path.join(sessionsDir, "iso"), true],
      entry("settings.json"),
      entry("we,ird:name.md"),
      entry("with space.md"),
    ]);
    expect(info.Mounts.map((m) => m.Destination)).toContain("/spaces/iso");
    expect((fs.statSync(sessionsDir).mode & 0o777).toString(8)).toBe("700");
    const skipped = ctx.lines.find((l) => l.msg.startsWith("Agent folder entries not mounted"));
    expect(skipped).toMatchObject({ level: "warn", fields: { entries: '"prompts"' } });
    await h.expectRemoved(name);
  }, T);

  test("the counter in the name counts this runner's runs from 1", async () => {
    const ctx = h.makeRunner();
    await ctx.runner.reply(h.replyInput(ctx, "count"));
    await ctx.runner.reply(h.replyInput(ctx, "count"));
    const names = ctx.lines.filter((l) => l.msg === "Container started").map((l) => l.fields.container);
    expect(names.map((n) => n.split("-")[2])).toEqual(["1", "2"]);
  }, T);

  test("docs mounts are skipped when their source does not exist", async () => {
    const ctx = h.makeRunner();
    const pkg = path.join(ctx.root, "pkg");
    fs.mkdirSync(pkg, { recursive: true });
    fs.writeFileSync(path.join(pkg, "README.md"), "# only a readme\n");
    await ctx.runner.reply(h.replyInput(ctx, "docs"));
    const mounts = h.seen(ctx, "docs", "mounts.txt");
    expect(mounts).toContain(" /docs/mercury/README.md ");
    expect(mounts).not.toContain(" /docs/mercury/docs ");
    expect(fs.existsSync(path.join(pkg, "docs"))).toBe(false);
  }, T);

  test("relative globalDir and spacesDir resolve against the working directory and are created", async () => {
    const root = h.tempRoot();
    const cwd = process.cwd();
    process.chdir(root);
    try {
      const ctx = h.makeRunner({ globalDir: "./state/global", spacesDir: "state/x/../spaces" });
      ctx.config.spacesDir = path.join(root, "state/spaces");
      const result = await ctx.runner.reply(h.replyInput(ctx, "rel"));
      expect(result.reply).toBe("pong");
      expect(fs.statSync(path.join(root, "state/global")).isDirectory()).toBe(true);
      expect(JSON.parse(h.seen(ctx, "rel", "payload.json")).spaceWorkspace).toBe("/spaces/rel");
    } finally {
      process.chdir(cwd);
    }
  }, T);

  test("host.docker.internal reaches the host's API_URL from inside the container", async () => {
    const server = http.createServer((req, res) => res.end(req.url === "/ping" ? "pong-from-host" : "?"));
    await new Promise((r) => server.listen(0, "0.0.0.0", r));
    try {
      const ctx = h.makeRunner({ port: server.address().port });
      const result = await ctx.runner.reply(h.replyInput(ctx, "callhome", { extraEnv: { FIXTURE_MODE: "callhome" } }));
      expect(result.reply).toBe("host said: pong-from-host");
    } finally {
      server.close();
    }
  }, T);
});

describe("reply: environment", () => {
  const saved = {};
  // Sets (or, with undefined, removes) host variables for one test.
  const setEnv = (vars) => {
    for (const k of Object.keys(vars)) if (!(k in saved)) saved[k] = process.env[k];
    h.setEnv(vars);
  };
  afterEach(() => {
    h.setEnv(saved);
    for (const k of Object.keys(saved)) delete saved[k];
  });

  test("MERCURY_* variables pass unprefixed, except claimed ones; extraEnv comes last", async () => {
    setEnv({ MERCURY_ANTHROPIC_API_KEY: "sk-test-key", MERCURY_FEATURE: "on", MERCURY_CLAIMED_SECRET: "ext-only", MERCURY_EMPTY: "" });
    const ctx = h.makeRunner();
    await ctx.runner.reply(
      h.replyInput(ctx, "env", { extraEnv: { FEATURE: "from-extra", LAST: "yes" }, claimedEnvSources: new Set(["MERCURY_CLAIMED_SECRET"]) }),
    );
    const env = envLines(h.seen(ctx, "env", "env.txt"));
    expect(env).toContain("ANTHROPIC_API_KEY=sk-test-key");
    expect(env).toContain("FEATURE=from-extra");
    expect(env).toContain("LAST=yes");
    expect(env.some((l) => l.startsWith("CLAIMED_SECRET="))).toBe(false);
    expect(env.some((l) => l.startsWith("EMPTY="))).toBe(false);
    expect(env.some((l) => l.startsWith("MERCURY_"))).toBe(false);
    // An API key is present, so no OAuth token is added.
    expect(env.some((l) => l.startsWith("ANTHROPIC_OAUTH_TOKEN="))).toBe(false);

    // The order exec received (busybox `env` reorders; /proc/<pid>/environ does not).
    // The engine puts PATH and HOSTNAME first; everything after is ours, in our order.
    const order = envLines(h.seen(ctx, "env", "environ.txt")).filter((l) => !/^(PATH|HOSTNAME)=/.test(l));
    expect(order.slice(0, 5)).toEqual([
      "HOME=/root",
      "PI_CODING_AGENT_DIR=/root/.pi/agent",
      "CALLER_ID=caller-1",
      "SPACE_ID=env",
      "API_URL=http://host.docker.internal:3000",
    ]);
    expect(order.slice(-2)).toEqual(["FEATURE=from-extra", "LAST=yes"]);
    // The host's variables sit between the fixed five and extraEnv, and an
    // extraEnv entry replaces the host's variable of that name, not adds to it.
    const key = order.indexOf("ANTHROPIC_API_KEY=sk-test-key");
    expect(key).toBeGreaterThan(4);
    expect(key).toBeLessThan(order.length - 2);
    expect(order.filter((l) => l.startsWith("FEATURE="))).toEqual(["FEATURE=from-extra"]);
  }, T);

  test("extraEnv entries pass as given, an empty value included; empty host MERCURY_* values are dropped", async () => {
    setEnv({ MERCURY_EMPTY_HOST: "" });
    const ctx = h.makeRunner();
    await ctx.runner.reply(h.replyInput(ctx, "empty", { extraEnv: { EMPTY_EXTRA: "", FULL_EXTRA: "x" } }));
    const environ = envLines(h.seen(ctx, "empty", "environ.txt"));
    expect(environ).toContain("EMPTY_EXTRA=");
    expect(environ).toContain("FULL_EXTRA=x");
    expect(environ.some((l) => l.startsWith("EMPTY_HOST="))).toBe(false);
  }, T);

  test("an empty MERCURY_ANTHROPIC_API_KEY counts as a key present: no OAuth token is added", async () => {
    setEnv({ MERCURY_ANTHROPIC_API_KEY: "", MERCURY_ANTHROPIC_OAUTH_TOKEN: undefined });
    const ctx = h.makeRunner({}, { resolveCredential: () => "hook-token-unused" });
    await ctx.runner.reply(h.replyInput(ctx, "emptykey"));
    const environ = envLines(h.seen(ctx, "emptykey", "environ.txt"));
    expect(environ.some((l) => l.startsWith("ANTHROPIC_OAUTH_TOKEN="))).toBe(false);
    expect(environ.some((l) => l.startsWith("ANTHROPIC_API_KEY="))).toBe(false);
  }, T);

  test("a missing callerId is tolerated, as the host's runner did: the agent gets no CALLER_ID", async () => {
    const ctx = h.makeRunner();
    const input = h.replyInput(ctx, "nocaller");
    delete input.callerId;
    const result = await ctx.runner.reply(input);
    expect(result.reply).toBe("pong");
    expect(envLines(h.seen(ctx, "nocaller", "environ.txt")).some((l) => l.startsWith("CALLER_ID="))).toBe(false);
  }, T);

  test("built-in credential: an unexpired OAuth token from <globalDir>/auth.json", async () => {
    // No key or token from the host, so auth.json's token is the one that applies (restored after).
    setEnv({ MERCURY_ANTHROPIC_API_KEY: undefined, MERCURY_ANTHROPIC_OAUTH_TOKEN: undefined });
    const ctx = h.makeRunner();
    fs.mkdirSync(ctx.config.globalDir, { recursive: true });
    const auth = { anthropic: { type: "oauth", access: "oauth-access-1", refresh: "r", expires: Date.now() + 3_600_000 } };
    fs.writeFileSync(path.join(ctx.config.globalDir, "auth.json"), JSON.stringify(auth));
    await ctx.runner.reply(h.replyInput(ctx, "oauth"));
    expect(envLines(h.seen(ctx, "oauth", "env.txt"))).toContain("ANTHROPIC_OAUTH_TOKEN=oauth-access-1");
    expect(JSON.stringify(ctx.lines)).not.toContain("oauth-access-1");
  }, T);

  test("built-in credential: an expired token is not used, and a warning says so once", async () => {
    // Set here, not left over from the test before: this test must pass alone and in any order.
    setEnv({ MERCURY_ANTHROPIC_API_KEY: undefined, MERCURY_ANTHROPIC_OAUTH_TOKEN: undefined });
    const ctx = h.makeRunner();
    fs.mkdirSync(ctx.config.globalDir, { recursive: true });
    const authPath = path.join(ctx.root, "elsewhere-auth.json");
    ctx.runner = new h.AgentContainerRunner({ ...ctx.config, authPath }, { logger: makeLogger(ctx.lines) });
    const auth = { anthropic: { type: "oauth", access: "stale-token", refresh: "r", expires: Date.now() - 1000 } };
    fs.writeFileSync(authPath, JSON.stringify(auth));
    await ctx.runner.reply(h.replyInput(ctx, "expired"));
    expect(h.seen(ctx, "expired", "env.txt")).not.toContain("stale-token");
    const warns = ctx.lines.filter((l) => l.level === "warn" && /expired/.test(l.msg));
    expect(warns).toHaveLength(1);
    expect(warns[0].fields.authPath).toBe(authPath);
  }, T);

  test("resolveCredential: called with provider and authPath, its Promise's token is used", async () => {
    const calls = [];
    const ctx = h.makeRunner({}, {
      resolveCredential: async (req) => {
        calls.push(req);
        return "hook-token";
      },
    });
    await ctx.runner.reply(h.replyInput(ctx, "hook"));
    expect(calls).toEqual([{ provider: "anthropic", authPath: path.join(ctx.config.globalDir, "auth.json") }]);
    expect(envLines(h.seen(ctx, "hook", "env.txt"))).toContain("ANTHROPIC_OAUTH_TOKEN=hook-token");
  }, T);

  test("resolveCredential: a plain return value works, and another provider never gets the token", async () => {
    // No Anthropic key from the host, so the resolver's token is the one that applies.
    setEnv({ MERCURY_ANTHROPIC_API_KEY: undefined, MERCURY_ANTHROPIC_OAUTH_TOKEN: undefined });
    const anthropic = h.makeRunner({}, { resolveCredential: () => "sync-token" });
    await anthropic.runner.reply(h.replyInput(anthropic, "sync"));
    expect(envLines(h.seen(anthropic, "sync", "env.txt"))).toContain("ANTHROPIC_OAUTH_TOKEN=sync-token");

    // Asked all the same (the contract asks for every provider), its answer withheld.
    const asked = [];
    const openai = h.makeRunner({ modelProvider: "openai" }, {
      resolveCredential: (req) => {
        asked.push(req.provider);
        return "sync-token";
      },
    });
    await openai.runner.reply(h.replyInput(openai, "sync"));
    expect(asked).toEqual(["openai"]);
    expect(h.seen(openai, "sync", "env.txt")).not.toContain("sync-token");
  }, T);

  test("resolveCredential: called once globalDir exists; what it throws or rejects with reaches the caller as that very value", async () => {
    class RefreshError extends Error {}
    const thrown = new RefreshError("token refresh failed", { cause: new Error("HTTP 401") });
    let globalDirExisted;
    const rejecting = h.makeRunner({}, {
      resolveCredential: async () => {
        globalDirExisted = fs.existsSync(rejecting.config.globalDir);
        throw thrown;
      },
    });
    const e1 = await h.rejectionOf(rejecting.runner.reply(h.replyInput(rejecting, "cred-same")));
    expect(globalDirExisted).toBe(true);
    expect(e1).toBe(thrown);
    expect(e1).toBeInstanceOf(RefreshError);
    expect(e1.cause.message).toBe("HTTP 401");

    const weird = { not: "an Error" };
    const throwing = h.makeRunner({}, { resolveCredential: () => { throw weird; } });
    expect(await h.rejectionOf(throwing.runner.reply(h.replyInput(throwing, "cred-same")))).toBe(weird);
  }, T);

  test("resolveCredential: a rejection or a throw rejects the reply, and no run is left", async () => {
    const failing = h.makeRunner({}, { resolveCredential: async () => Promise.reject(new Error("refresh failed")) });
    const e1 = await h.rejectionOf(failing.runner.reply(h.replyInput(failing, "cred")));
    expect(e1.message).toBe("refresh failed");
    expect(failing.runner.activeCount).toBe(0);

    const throwing = h.makeRunner({}, { resolveCredential: () => { throw new Error("boom in resolver"); } });
    const e2 = await h.rejectionOf(throwing.runner.reply(h.replyInput(throwing, "cred")));
    expect(e2.message).toBe("boom in resolver");
    expect(throwing.runner.isRunning("cred")).toBe(false);
  }, T);
});

function makeLogger(lines) {
  const logger = {};
  for (const level of ["debug", "info", "warn", "error"]) logger[level] = (msg, fields) => lines.push({ level, msg, fields });
  return logger;
}

describe("reply: payload", () => {
  test("the whole input as JSON.stringify writes it, workspace rewritten, callerRole defaulted", async () => {
    const ctx = h.makeRunner();
    const input = h.replyInput(ctx, "payload", {
      messages: [{ id: 1, spaceId: "payload", role: "user", content: "héllo \"quoted\" \u2028", createdAt: 1, updatedAt: 2 }],
      attachments: [{ path: "/a.png", type: "image", mimeType: "image/png" }],
      authorName: "Ada",
      extraEnv: { FIXTURE_MODE: "echo" },
      claimedEnvSources: new Set(["MERCURY_X"]),
      hostOnlyField: { nested: [1, 2, 3] },
    });
    await ctx.runner.reply(input);
    const expected = JSON.stringify({ ...input, spaceWorkspace: "/spaces/payload", callerRole: "member" });
    expect(h.seen(ctx, "payload", "payload.json")).toBe(expected);
    expect(JSON.parse(expected).claimedEnvSources).toEqual({});
  }, T);

  test("a given callerRole is kept", async () => {
    const ctx = h.makeRunner();
    await ctx.runner.reply(h.replyInput(ctx, "role", { callerRole: "admin" }));
    expect(JSON.parse(h.seen(ctx, "role", "payload.json")).callerRole).toBe("admin");
  }, T);

  test("a 10 MiB history reaches the agent intact", async () => {
    const ctx = h.makeRunner();
    // Varied text (multi-byte characters, escapes, numbered lines): a lost,
    // repeated, reordered or re-encoded chunk changes the hash.
    const parts = [];
    let length = 0;
    for (let i = 0; length < 10 * 1024 * 1024; i++) {
      const part = `${i} héllo ✓ "quoted" \\ 😀\n`;
      parts.push(part);
      length += part.length;
    }
    const content = parts.join("");
    const input = h.replyInput(ctx, "big", {
      messages: [{ id: 1, spaceId: "big", role: "user", content, createdAt: 1, updatedAt: 1 }],
      extraEnv: { FIXTURE_MODE: "payload-hash" },
    });
    const result = await ctx.runner.reply(input);
    const expected = Buffer.from(JSON.stringify({ ...input, spaceWorkspace: "/spaces/big", callerRole: "member" }), "utf8");
    const sha256 = crypto.createHash("sha256").update(expected).digest("hex");
    expect(expected.length).toBeGreaterThan(10 * 1024 * 1024);
    expect(result.reply).toBe(`${expected.length} ${sha256}`);
  }, T);
});

describe("reply: result parsing", () => {
  test('no reply field gives "Done."', async () => {
    const ctx = h.makeRunner();
    const result = await ctx.runner.reply(h.replyInput(ctx, "done", { extraEnv: { FIXTURE_MODE: "noreply" } }));
    expect(result.reply).toBe("Done.");
  }, T);

  test("no markers: a plain Error quoting stdout", async () => {
    const ctx = h.makeRunner();
    const e = await h.rejectionOf(ctx.runner.reply(h.replyInput(ctx, "nomark", { extraEnv: { FIXTURE_MODE: "nomarkers" } })));
    expect(e).toBeInstanceOf(Error);
    expect(e).not.toBeInstanceOf(h.ContainerError);
    expect(e.message).toBe("Failed to parse container result: the agent said nothing useful\n");
  }, T);

  test("markers around something that is not JSON: a plain Error quoting it", async () => {
    const ctx = h.makeRunner();
    const e = await h.rejectionOf(ctx.runner.reply(h.replyInput(ctx, "bad", { extraEnv: { FIXTURE_MODE: "malformed" } })));
    expect(e).not.toBeInstanceOf(h.ContainerError);
    expect(e.message).toBe("Malformed container output: this is { not json");
  }, T);

  test("a chatty agent (64 MiB of stdout) still gets its reply through", async () => {
    const ctx = h.makeRunner();
    const result = await ctx.runner.reply(h.replyInput(ctx, "chatty", { extraEnv: { FIXTURE_MODE: "chatty", FIXTURE_MIB: "64" } }));
    expect(result.reply).toBe("survived the noise");
  }, T);
});

describe("reply: outbox", () => {
  test("fresh, visible, regular files up to 25 MiB, with the host's MIME types", async () => {
    const ctx = h.makeRunner();
    const outbox = path.join(ctx.config.spacesDir, "files", "outbox");
    fs.mkdirSync(outbox, { recursive: true });
    fs.writeFileSync(path.join(outbox, "old.txt"), "from an earlier turn");
    fs.utimesSync(path.join(outbox, "old.txt"), new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));

    const result = await ctx.runner.reply(h.replyInput(ctx, "files", { extraEnv: { FIXTURE_MODE: "files" } }));
    expect(result.reply).toBe("files written");
    const byName = Object.fromEntries(result.files.map((f) => [f.filename, f]));
    expect(Object.keys(byName).sort()).toEqual(["README", "chart.PNG", "notes.md", "report.pdf"]);
    expect(byName["report.pdf"]).toEqual({ path: expect.any(String), filename: "report.pdf", mimeType: "application/pdf", sizeBytes: 7 });
    // The path is the runner's private copy of what the agent wrote, not the outbox entry.
    for (const f of result.files) h.expectPrivateCopy(ctx, f);
    expect(fs.readFileSync(byName["report.pdf"].path, "utf8")).toBe("report\n");
    expect(byName["chart.PNG"].mimeType).toBe("image/png");
    expect(byName["notes.md"].mimeType).toBe("text/markdown");
    expect(byName.README.mimeType).toBe("application/octet-stream");
    const warn = ctx.lines.find((l) => l.msg === "Outbox file exceeds max size, skipping");
    expect(warn.level).toBe("warn");
    expect(warn.fields).toMatchObject({ path: path.join(outbox, "big.bin"), sizeBytes: 25 * 1048576 + 1, maxSizeBytes: 25 * 1048576 });
  }, T);

  test("the copies of a space go at its next turn, and killAll removes those of the runner's spaces", async () => {
    const ctx = h.makeRunner();
    const other = h.makeRunner();
    const turn = (c) => c.runner.reply(h.replyInput(c, "copies", { extraEnv: { FIXTURE_MODE: "some-files" } }));
    const first = await turn(ctx);
    expect(first.files).toHaveLength(2);
    for (const f of first.files) h.expectPrivateCopy(ctx, f);
    const second = await turn(ctx);
    const elsewhere = await turn(other);
    for (const f of [...second.files, ...elsewhere.files]) h.expectPrivateCopy(null, f);
    for (const f of first.files) expect(fs.existsSync(f.path)).toBe(false);
    for (const f of second.files) expect(fs.existsSync(f.path)).toBe(true);
    ctx.runner.killAll();
    // Removed on a thread of their own: killAll returns at once.
    await h.waitFor("copies removed", () => second.files.every((f) => !fs.existsSync(f.path)), 5_000);
    // Another runner's spaces keep theirs.
    for (const f of elsewhere.files) expect(fs.existsSync(f.path)).toBe(true);
  }, T);
});
