// options.egress on rootless Docker (docs/egress.md, "Engine kinds"): a rootless dockerd
// (rootlesskit + slirp4netns) started by scripts/test-rootless-egress.sh with host.docker.internal
// at the host's loopback (slirp4netns' 10.0.2.2), the setup in which a Mercury on the host is
// reachable from its containers at all. Run as the engine's own user (the engine binds folders
// that user owns). Not a *.test.js file, and not in __test__/matrix (scripts/test-engines.sh runs
// every file there): it runs only under that script.
//
// Every address used: 127.0.0.1 (the test's servers, reached from the containers as
// host.docker.internal = 10.0.2.2, slirp4netns' address for the host's loopback) and the rootless
// engine's own default bridge (a peer container). Nothing else.
const path = require("node:path");
const { spawnSync } = require("node:child_process");
const h = require("../helpers");
const { httpServer, canary: canaryOn, parseProbe: parse, egressLeftovers } = require("../egress-servers");

const T = 60_000;
// slirp4netns' address for the host's loopback, what host.docker.internal is on this engine.
const SLIRP_HOST = "10.0.2.2";
const CHILD = path.join(__dirname, "..", "fixtures", "scripts", "egress-child.js");

const dockerHost = process.env.MERCURY_ROOTLESS_HOST;
if (!dockerHost || process.env.DOCKER_HOST !== dockerHost) {
  throw new Error("MERCURY_ROOTLESS_HOST and DOCKER_HOST are not the rootless engine: run this file through scripts/test-rootless-egress.sh");
}

const egressContainers = () => egressLeftovers(h.docker).containers;
const egressNetworks = () => egressLeftovers(h.docker).networks;

let allowed, denied, api, canary, peer, peerIp;

beforeAll(async () => {
  allowed = httpServer("127.0.0.1", "allowed-ok");
  denied = httpServer("127.0.0.1", "denied-reached");
  api = httpServer("127.0.0.1", "api-ok");
  await Promise.all([allowed.start(), denied.start(), api.start()]);
  canary = await canaryOn("127.0.0.1");
  peer = h.docker("run", "-d", "--label", "mercury.rootless-egress-test=1", "--entrypoint", "/bin/sh", h.IMAGE, "-c", "while :; do nc -l -p 8080 < /dev/null; done");
  peerIp = h.docker("inspect", peer, "--format", "{{.NetworkSettings.Networks.bridge.IPAddress}}");
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(peerIp)) throw new Error(`the peer container has no bridge address (${peerIp})`);
}, T);

afterAll(() => {
  if (peer) h.removeContainers(peer);
  for (const s of [allowed, denied, api]) if (s) s.server.close();
  if (canary) canary.server.close();
});

// wget (busybox, proxy-aware: it finds $http_proxy itself) of the allowed, the denied and the API server,
// and a plain TCP connect to the host's loopback canary and to the peer. No DNS probe: the agent's
// resolver (Dns 127.0.0.1) is the container's own setting, the same on every engine, and
// egress.test.js checks it against a name server of its own; its lookups take seconds of timeouts.
function probeEnv() {
  const url = (s, p) => `http://host.docker.internal:${s.port()}${p}`;
  return {
    FIXTURE_MODE: "egress-probe",
    FIXTURE_WGET: `${url(allowed, "/w")} ${url(denied, "/wd")} ${url(api, "/wapi")}`,
    FIXTURE_DIRECT: `${SLIRP_HOST}:${canary.port} ${peerIp}:8080`,
  };
}

describe("egress on rootless Docker (host.docker.internal = the host's loopback through slirp4netns)", () => {
  test("without egress (control): the agent reaches API_URL, and every loopback service of the host, and the peer, directly", async () => {
    const ctx = h.makeRunner({ port: api.port() }, { dockerHost });
    const before = canary.hits;
    const p = parse((await ctx.runner.reply(h.replyInput(ctx, "control", { extraEnv: probeEnv() }))).reply);
    expect(p).toMatchObject({ wget1: "allowed-ok", wget2: "denied-reached", wget3: "api-ok", direct1: "ok", direct2: "ok" });
    expect(canary.hits).toBe(before + 1);
  }, T);

  test("with egress: the allowed server and API_URL through the proxy, another 403 and one warn line; no direct TCP to the host's loopback or the peer", async () => {
    const ctx = h.makeRunner({ port: api.port() }, { dockerHost, egress: { allow: [`host.docker.internal:${allowed.port()}`] } });
    const before = { canary: canary.hits, denied: denied.hits.length };
    try {
      const p = parse((await ctx.runner.reply(h.replyInput(ctx, "walled", { extraEnv: probeEnv() }))).reply);
      expect(p).toMatchObject({ wget1: "allowed-ok", wget2: "ERR-403", wget3: "api-ok", direct1: "fail", direct2: "fail" });
      expect(allowed.hits).toContain("/w");
      expect(api.hits).toContain("/wapi");
      expect(denied.hits).toHaveLength(before.denied);
      expect(canary.hits).toBe(before.canary);
      const destination = `host.docker.internal:${denied.port()}`;
      await h.waitFor("the warn line", () => ctx.lines.some((l) => l.msg === "Egress refused"));
      expect(ctx.lines.filter((l) => l.msg === "Egress refused")).toEqual([
        { level: "warn", msg: "Egress refused", fields: { spaceId: "walled", destination } },
      ]);
    } finally {
      ctx.runner.killAll();
    }
    await h.waitFor("killAll's removal of the sidecar and network", () => egressContainers().length === 0 && egressNetworks().length === 0);
  }, T);

  test("process exit removes the sidecar and its network; after a crash cleanupOrphans does", async () => {
    const root = h.tempRoot();
    const exited = spawnSync(process.execPath, [CHILD, root, h.IMAGE, "exit", "", dockerHost], { encoding: "utf8", timeout: T });
    expect(exited.stdout).toMatch(/^REPLIED /m);
    expect(exited.stdout).toMatch(/^CONTAINERS mercury-egress-proxy-/m);
    expect(egressContainers()).toEqual([]);
    expect(egressNetworks()).toEqual([]);

    const crashed = spawnSync(process.execPath, [CHILD, root, h.IMAGE, "crash", "", dockerHost], { encoding: "utf8", timeout: T });
    expect(crashed.signal).toBe("SIGKILL");
    expect(egressContainers()).toHaveLength(1);
    expect(egressNetworks()).toHaveLength(1);
    const ctx = h.makeRunner({}, { dockerHost });
    expect(await ctx.runner.cleanupOrphans()).toBe(1);
    expect(egressContainers()).toEqual([]);
    expect(egressNetworks()).toEqual([]);
  }, T);
});

describe("resource limits on rootless Docker", () => {
  // On a cgroup v1 host (this machine) a rootless engine runs without cgroups: it accepts memory,
  // pids and CPU limits at a create and drops them, with no warning in its answer (only
  // `docker info` says so).
  test("the limits such an engine drops are named in one warn line per runner", async () => {
    const driver = h.docker("info", "--format", "{{.CgroupDriver}}");
    const ctx = h.makeRunner({}, { dockerHost, memoryLimit: 64 * 1024 * 1024, pidsLimit: 64 });
    const echo = { extraEnv: { FIXTURE_MODE: "echo" } };
    await ctx.runner.reply(h.replyInput(ctx, "limits", echo));
    await ctx.runner.reply(h.replyInput(ctx, "limits", echo));
    const started = ctx.lines.filter((l) => l.msg === "Container started");
    expect(started).toHaveLength(2);
    const warned = ctx.lines.filter((l) => l.msg.startsWith("The engine runs without cgroups"));
    if (driver === "none") {
      expect(warned).toEqual([
        {
          level: "warn",
          msg: "The engine runs without cgroups (rootless on a cgroup v1 host): these limits are not applied",
          fields: { spaceId: "limits", container: started[0].fields.container, limits: "memoryLimit, pidsLimit" },
        },
      ]);
    } else {
      expect(warned).toEqual([]);
    }
  }, T);
});
