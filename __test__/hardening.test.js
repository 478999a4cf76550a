// Opt-in hardening options (the constructor's second argument, beside
// memoryLimit), each checked by what the agent can and cannot do inside the
// container, not by `docker inspect`. The fixture's probe mode reports in its
// reply (a non-root agent cannot write into the host-owned mounts):
//   uid, gid, nnp (NoNewPrivs), capeff (CapEff), tmp / rootfs (could write
//   /tmp, /), mknod / chown (as root: need CAP_MKNOD / CAP_CHOWN), ifaces,
//   addrs (IPv4 of interfaces other than lo), cpuquota (its cgroup's
//   quota/period), cpums (CPU time two busy loops got in FIXTURE_BURN s),
//   forked (background processes a fork bomb of FIXTURE_FORKS got started).
const http = require("node:http");
const h = require("./helpers");

const T = 90_000;

function parseProbe(reply) {
  return Object.fromEntries(
    reply.split(" ").map((kv) => {
      const i = kv.indexOf("=");
      return [kv.slice(0, i), kv.slice(i + 1)];
    }),
  );
}

/** One probe run with these runner options; the parsed report, and the runner's context. */
async function probe(options, extraEnv = {}) {
  const ctx = h.makeRunner({}, options);
  const result = await ctx.runner.reply(h.replyInput(ctx, "probe", { extraEnv: { FIXTURE_MODE: "probe", ...extraEnv } }));
  return { ...parseProbe(result.reply), ctx };
}

const FORKS = "100";

describe("defaults stay as today", () => {
  test("no option: root, default capabilities, writable rootfs, a bridge interface, no CPU or pids cap", async () => {
    const p = await probe({}, { FIXTURE_FORKS: FORKS });
    expect(p).toMatchObject({ uid: "0", gid: "0", nnp: "0", tmp: "ok", rootfs: "ok", mknod: "ok", chown: "ok", forked: FORKS });
    expect(p.ifaces.split(",")).toContain("eth0");
    expect(p.cpuquota.startsWith("-1/") || p.cpuquota.startsWith("max ")).toBe(true);
  }, T);
});

describe("hardening options", () => {
  test("pidsLimit: a fork bomb is capped", async () => {
    const p = await probe({ pidsLimit: 32 }, { FIXTURE_FORKS: FORKS });
    // The agent's shell, the subshell and the probe's own processes count too.
    expect(Number(p.forked)).toBeGreaterThan(0);
    expect(Number(p.forked)).toBeLessThan(32);
  }, T);

  test("cpus: the agent's cgroup gets at most that many CPUs' time", async () => {
    const burnSeconds = 2;
    const p = await probe({ cpus: 0.25 }, { FIXTURE_BURN: String(burnSeconds) });
    expect(p.cpuquota).toBe("25000/100000");
    // Two busy loops for 2 s would get up to 4000 ms of CPU on two free cores;
    // a quarter CPU caps them at 500 ms (slack: one period at each end, and the sleep's overrun).
    expect(Number(p.cpums)).toBeLessThanOrEqual(0.25 * burnSeconds * 1000 * 1.2 + 100);
  }, T);

  test('user: "1000:1000" runs the agent as that uid and gid', async () => {
    const p = await probe({ user: "1000:1000" });
    expect(p).toMatchObject({ uid: "1000", gid: "1000" });
  }, T);

  test('capDrop: ["ALL"] leaves the agent no capability: mknod and chown fail', async () => {
    const p = await probe({ capDrop: ["ALL"] });
    expect(p).toMatchObject({ uid: "0", capeff: "0000000000000000", mknod: "denied", chown: "denied", tmp: "ok" });
  }, T);

  test('capAdd: ["CHOWN"] after capDrop ["ALL"] gives back exactly that one', async () => {
    const p = await probe({ capDrop: ["ALL"], capAdd: ["CHOWN"] });
    // CAP_CHOWN is bit 0.
    expect(p).toMatchObject({ capeff: "0000000000000001", chown: "ok", mknod: "denied" });
  }, T);

  test("noNewPrivileges: the agent's processes carry NoNewPrivs", async () => {
    const p = await probe({ noNewPrivileges: true });
    expect(p.nnp).toBe("1");
  }, T);

  test("readOnlyRootfs: / cannot be written, /tmp can, and an ordinary turn still works", async () => {
    const p = await probe({ readOnlyRootfs: true });
    expect(p).toMatchObject({ rootfs: "denied", tmp: "ok" });
    // The echo agent keeps its payload in /tmp.
    const ctx = h.makeRunner({}, { readOnlyRootfs: true });
    const result = await ctx.runner.reply(h.replyInput(ctx, "ro"));
    expect(result.reply).toBe("pong");
    expect(JSON.parse(h.seen(ctx, "ro", "payload.json")).spaceWorkspace).toBe("/spaces/ro");
  }, T);

  test("readOnlyRootfs: /tmp is bounded at 512 MiB, noexec, nosuid and nodev, as the engine and the agent see it", async () => {
    const MIB = 1024 * 1024;
    const p = await probe({ readOnlyRootfs: true }, { FIXTURE_MODE: "tmp-probe", FIXTURE_FILL_MIB: "520" });
    expect(p.opts.split(",")).toEqual(expect.arrayContaining(["rw", "noexec", "nosuid", "nodev", "size=524288k"]));
    // A 520 MiB file stops at the cap (less the pages of the payload the agent keeps there); a binary copied there does not run.
    expect(p).toMatchObject({ fill: "full", exec: "denied" });
    expect(Number(p.filled)).toBeGreaterThan(512 * MIB - 64 * 1024);
    expect(Number(p.filled)).toBeLessThanOrEqual(512 * MIB);

    // The engine's own record of the container, while it runs.
    const ctx = h.makeRunner({}, { readOnlyRootfs: true });
    const reply = ctx.runner.reply(h.replyInput(ctx, "ro-inspect", { extraEnv: { FIXTURE_MODE: "sleep" } }));
    const rejected = h.rejectionOf(reply);
    const name = await h.runningContainer(ctx.lines);
    const tmpfs = JSON.parse(h.docker("inspect", "-f", "{{json .HostConfig.Tmpfs}}", name));
    ctx.runner.abort("ro-inspect");
    expect((await rejected).reason).toBe("aborted");
    expect(tmpfs).toEqual({ "/tmp": "rw,noexec,nosuid,nodev,size=512m" });
  }, T);

  test('network: "none" leaves the agent only the loopback interface', async () => {
    const p = await probe({ network: "none" });
    expect(p.ifaces).toBe("lo,");
    expect(p.addrs).toBe("");
  }, T);

  test("network: a named network puts the agent on that network's subnet", async () => {
    const net = `mercury-test-net-${process.pid}-${Date.now()}`;
    h.docker("network", "create", "--internal", net);
    try {
      const subnet = h.docker("network", "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}}", net);
      const p = await probe({ network: net });
      const addrs = p.addrs.split(",").filter(Boolean);
      expect(addrs).toHaveLength(1);
      expect(inSubnet(addrs[0].split("/")[0], subnet)).toBe(true);
      // The network can go only once the probe's container has.
      await h.expectRemoved(h.containerOf(p.ctx.lines));
    } finally {
      h.docker("network", "rm", net);
    }
  }, T);

  // scripts/ensure-docker.sh registers runsc (gVisor) with the test engine: an engine
  // without it fails this test, it is never skipped. The agent reads its kernel's own
  // answers: the same fixture under runc shows the host's, so each check can fail.
  test('runtime: "runsc" runs the agent on gVisor\'s kernel, runc on the host\'s', async () => {
    const runtimes = Object.keys(JSON.parse(h.docker("info", "--format", "{{json .Runtimes}}")));
    if (!runtimes.includes("runsc")) {
      throw new Error(`the engine has no runsc runtime (it has ${runtimes.join(", ")}): run scripts/ensure-docker.sh as root, or register it (README, "gVisor")`);
    }
    const kernel = async (runtime) => {
      const ctx = h.makeRunner({}, { runtime });
      const result = await ctx.runner.reply(h.replyInput(ctx, "kernel", { extraEnv: { FIXTURE_MODE: "kernel" } }));
      expect(result.reply).toBe("kernel seen");
      return { version: h.seen(ctx, "kernel", "version.txt"), dmesg: h.seen(ctx, "kernel", "dmesg.txt") };
    };
    const host = require("node:fs").readFileSync("/proc/version", "utf8");
    const runc = await kernel("runc");
    expect(runc.version).toBe(host);
    expect(runc.dmesg).not.toMatch(/gVisor/);
    const gvisor = await kernel("runsc");
    expect(gvisor.version).not.toBe(host);
    expect(gvisor.dmesg).toMatch(/^\[ *0\.0+\] Starting gVisor\.\.\.$/m);
  }, T);

  test('runtime: "runsc" as scripts/ensure-docker.sh registers it (--network=host): the agent reaches API_URL at host.docker.internal', async () => {
    const server = http.createServer((req, res) => res.end(req.url === "/ping" ? "pong-from-host" : "?"));
    await new Promise((r) => server.listen(0, "0.0.0.0", r));
    try {
      const ctx = h.makeRunner({ port: server.address().port }, { runtime: "runsc" });
      const result = await ctx.runner.reply(h.replyInput(ctx, "callhome", { extraEnv: { FIXTURE_MODE: "callhome" } }));
      expect(result.reply).toBe("host said: pong-from-host");
    } finally {
      server.close();
    }
  }, T);

  test("all together (the README's hardened configuration): the agent runs, and every limit holds", async () => {
    const options = {
      pidsLimit: 64,
      cpus: 1,
      user: "1000:1000",
      capDrop: ["ALL"],
      noNewPrivileges: true,
      readOnlyRootfs: true,
      network: "none",
      isolateSpaces: true,
    };
    const p = await probe(options, { FIXTURE_FORKS: FORKS });
    expect(p).toMatchObject({ uid: "1000", gid: "1000", nnp: "1", capeff: "0000000000000000", rootfs: "denied", tmp: "ok", ifaces: "lo," });
    expect(Number(p.forked)).toBeLessThan(64);
    // cpus: 1 is a quota of one period per period.
    expect(p.cpuquota).toBe("100000/100000");

    // isolateSpaces: under the same options, an agent that reads and plants in another space finds
    // nothing of it (without isolateSpaces it reads the other space's file, hostile.test.js). The
    // agent runs as uid 1000, so its own space folder is made writable for it, as the README asks
    // of a host that sets `user`; its own file arriving shows the turn really ran.
    const fs = require("node:fs");
    const path = require("node:path");
    const ctx = h.makeRunner({}, options);
    const other = path.join(ctx.config.spacesDir, "other");
    fs.mkdirSync(other, { recursive: true });
    fs.writeFileSync(path.join(other, "secret.txt"), "other-space-secret");
    const mine = path.join(ctx.config.spacesDir, "mine");
    fs.mkdirSync(mine);
    fs.chmodSync(mine, 0o777);
    const result = await ctx.runner.reply(h.replyInput(ctx, "mine", { extraEnv: { FIXTURE_MODE: "cross-space", FIXTURE_OTHER: "other" } }));
    expect(result.reply).toBe("read=denied wrote=denied");
    expect(fs.readFileSync(path.join(mine, "own.txt"), "utf8")).toBe("own\n");
    expect(fs.readdirSync(other)).toEqual(["secret.txt"]);
  }, T);
});

function inSubnet(ip, cidr) {
  const [base, bits] = cidr.split("/");
  const toInt = (a) => a.split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
  const size = 2 ** (32 - Number(bits));
  return Math.floor(toInt(ip) / size) === Math.floor(toInt(base) / size);
}
