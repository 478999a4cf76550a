// The core reply tests through every kind of engine the docker CLI reaches:
// a TLS dockerd by environment variables and by a context, the same engine
// over ssh (a port other than 22), and Podman's Docker-compatible API; and an
// authenticated pull. scripts/test-engines.sh starts those engines, runs this
// file with MERCURY_TEST_ENGINES=1 and their addresses, and stops them after.
// Not a *.test.js file: it runs only under that script, and fails there when
// an engine is missing. Egress (docs/egress.md, "Engine kinds") through the
// second dockerd (TLS and ssh) and Podman: its servers listen only on that
// engine's own bridge gateway, an address of this machine.
const fs = require("node:fs");
const path = require("node:path");
const { execFileSync } = require("node:child_process");
const h = require("../helpers");
const { httpServer, canary, dnsServer, parseProbe, ownGateway, egressLeftovers } = require("../egress-servers");

const T = 60_000;

function need(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this file through scripts/test-engines.sh`);
  return value;
}

// Each endpoint: the runner options and the process.env entries that reach it.
const endpoints = {
  "TLS by DOCKER_HOST + DOCKER_TLS_VERIFY + DOCKER_CERT_PATH": () => ({
    env: { DOCKER_HOST: need("MERCURY_TLS_HOST"), DOCKER_TLS_VERIFY: "1", DOCKER_CERT_PATH: need("MERCURY_TLS_CERT_PATH") },
  }),
  "TLS by the config's currentContext": () => ({ env: { DOCKER_CONFIG: need("MERCURY_TLS_CONFIG") } }),
  "TLS by DOCKER_CONTEXT": () => ({
    env: { DOCKER_CONFIG: need("MERCURY_TLS_CONFIG"), DOCKER_CONTEXT: need("MERCURY_TLS_CONTEXT") },
  }),
  "ssh with a port": () => ({ options: { dockerHost: need("MERCURY_SSH_HOST") } }),
  "Podman": () => ({ options: { dockerHost: need("MERCURY_PODMAN_HOST") } }),
  "Podman with netavark": () => ({ options: { dockerHost: need("MERCURY_PODMAN_NETAVARK_HOST") } }),
};

// The endpoints whose engines the egress test runs through (one per engine), and what each needs.
// secondDockerd: the dockerd of tls-dockerd.sh runs without iptables beside the main engine, whose
// FORWARD policy is DROP while bridged frames pass through iptables (br_netfilter): the frames
// between two containers on one of its user-defined bridges (the agent and the sidecar) are
// dropped. A dockerd with iptables accepts them itself (`-i br-X -o br-X -j ACCEPT`, its
// inter-container rule); the test first shows that without it the agent reaches nothing, then
// adds that one rule for the egress network's bridge, and removes it.
// refuses: Podman with netavark drops the inhibit option and puts the internal network's gateway
// on the host (measured: a container there reaches a host listener on it), so egress is refused.
const EGRESS = {
  "TLS by DOCKER_HOST + DOCKER_TLS_VERIFY + DOCKER_CERT_PATH": { secondDockerd: true },
  "ssh with a port": { secondDockerd: true },
  "Podman": { secondDockerd: false },
  "Podman with netavark": { refuses: true },
};

/** Runs `iptables` with the arguments (the test runs as root, as the engines do). */
const iptables = (...args) => execFileSync("iptables", args, { stdio: ["ignore", "pipe", "pipe"] });

/** Accepts frames within the bridge of the one egress network on the engine; returns the rule, for its removal. */
function forwardWithinEgressBridge(docker) {
  const ids = docker("network", "ls", "--filter", "label=mercury.egress", "--format", "{{.ID}}").split("\n").filter(Boolean);
  expect(ids).toHaveLength(1);
  const bridge = `br-${ids[0].slice(0, 12)}`;
  // It is a bridge of this machine (the engine's, made for that network): the rule touches nothing else.
  execFileSync("ip", ["link", "show", bridge], { stdio: "ignore" });
  const rule = ["FORWARD", "-i", bridge, "-o", bridge, "-m", "comment", "--comment", "mercury-matrix-egress", "-j", "ACCEPT"];
  iptables("-I", ...rule);
  return rule;
}

// What the endpoint variables of this process would otherwise say (the script exports none of these).
const ENDPOINT_VARS = ["DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_CONFIG", "DOCKER_CONTEXT"];

for (const [name, reach] of Object.entries(endpoints)) {
  describe(`through ${name}`, () => {
    let target;
    const saved = {};
    beforeAll(() => {
      target = reach();
      for (const k of ENDPOINT_VARS) {
        saved[k] = process.env[k];
        delete process.env[k];
      }
      Object.assign(process.env, target.env || {});
    });
    afterAll(() => {
      for (const k of ENDPOINT_VARS) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
    });
    const runner = (overrides = {}) => h.makeRunner(overrides, target.options || {});
    // The docker CLI reaching the same engine (-H, or the endpoint variables set above).
    const cli = (...args) => {
      const host = target.options && target.options.dockerHost;
      return execFileSync("docker", [...(host ? ["-H", host] : []), ...args], { encoding: "utf8", env: process.env, stdio: ["ignore", "pipe", "pipe"] }).trim();
    };

    test("reply: payload in, reply and env out, mounts in place", async () => {
      const ctx = runner();
      const started = Date.now();
      const result = await ctx.runner.reply(h.replyInput(ctx, "matrix"));
      console.log(`[matrix] ${name}: reply in ${Date.now() - started} ms`);
      expect(result).toEqual({ reply: "pong", files: [] });
      const payload = JSON.parse(h.seen(ctx, "matrix", "payload.json"));
      expect(payload.spaceWorkspace).toBe("/spaces/matrix");
      const env = h.seen(ctx, "matrix", "env.txt").split("\n");
      expect(env).toContain("SPACE_ID=matrix");
      expect(env).toContain("CALLER_ID=caller-1");
      expect(h.seen(ctx, "matrix", "mounts.txt")).toMatch(/ \/spaces /);
    }, T);

    test("outbox: the agent's files come back", async () => {
      const ctx = runner();
      const result = await ctx.runner.reply(h.replyInput(ctx, "files", { extraEnv: { FIXTURE_MODE: "some-files" } }));
      expect(result.reply).toBe("two files");
      expect(result.files.map((f) => f.mimeType).sort()).toEqual(["application/json", "text/plain"]);
    }, T);

    test("a non-zero exit rejects with its code and stderr", async () => {
      const ctx = runner();
      const e = await h.rejectionOf(ctx.runner.reply(h.replyInput(ctx, "fail", { extraEnv: { FIXTURE_MODE: "stderr-fail" } })));
      expect(e).toBeInstanceOf(h.ContainerError);
      expect([e.reason, e.exitCode, e.message]).toEqual(["error", 3, "Container failed (exit code 3): boom on stderr\n"]);
    }, T);

    test("abort stops a running agent", async () => {
      const ctx = runner();
      const run = ctx.runner.reply(h.replyInput(ctx, "abort", { extraEnv: { FIXTURE_MODE: "sleep" } }));
      await h.runningContainer(ctx.lines);
      expect(ctx.runner.abort("abort")).toBe(true);
      const e = await h.rejectionOf(run);
      expect([e.reason, e.message]).toEqual(["aborted", "Container aborted for group abort"]);
    }, T);

    test("the timeout kills a running agent", async () => {
      const ctx = runner({ containerTimeoutMs: 3000 });
      const e = await h.rejectionOf(ctx.runner.reply(h.replyInput(ctx, "slow", { extraEnv: { FIXTURE_MODE: "sleep" } })));
      expect([e.reason, e.message]).toEqual(["timeout", "Container timed out for group slow"]);
    }, T);

    if (EGRESS[name] && EGRESS[name].refuses) {
      test("egress: the host would have an address on the internal network: ContainerError 125, the turn did not run, nothing left", async () => {
        const ctx = h.makeRunner({}, { ...(target.options || {}), egress: { allow: [] } });
        const e = await h.rejectionOf(ctx.runner.reply(h.replyInput(ctx, "walled", { extraEnv: { FIXTURE_MODE: "echo" } })));
        expect(e).toBeInstanceOf(h.ContainerError);
        expect(e.exitCode).toBe(125);
        expect(e.message).toMatch(
          /^Container failed \(exit code 125\): egress cannot be enforced, so the turn did not run: the engine's internal network gives the host an address on it \(gateway \d+\.\d+\.\d+\.\d+\)/,
        );
        // The echo agent writes what it saw into the workspace: it never ran.
        expect(fs.existsSync(path.join(ctx.config.spacesDir, "walled", "fixture"))).toBe(false);
        // At once: the failed turn removed what it had made (the engine is the matrix's own).
        expect(egressLeftovers(cli)).toEqual({ containers: [], networks: [] });
        expect(cli("ps", "-aq", "--filter", "label=mercury.managed=true")).toBe("");
      }, T);
    } else if (EGRESS[name]) {
      test("egress: allowed server and API_URL through the sidecar, others 403, no direct TCP, no DNS; killAll removes sidecar and network", async () => {
        const gw = ownGateway(cli("network", "inspect", "bridge", "--format", "{{range .IPAM.Config}}{{.Gateway}}{{end}}"), `${name}'s bridge`);
        const allowed = httpServer(gw, "allowed-ok");
        const denied = httpServer(gw, "denied-reached");
        const api = httpServer(gw, "api-ok");
        await Promise.all([allowed.start(), denied.start(), api.start()]);
        const direct = await canary(gw);
        // A name server on the engine's gateway: a name only it knows resolves only through a packet that reaches it.
        const dns = await dnsServer(gw);
        const dnsName = "probe.mercury-egress.test";
        const ctx = h.makeRunner({ port: api.port(), containerTimeoutMs: 60_000 }, { ...(target.options || {}), egress: { allow: [`${gw}:${allowed.port()}`] } });
        const probe = {
          FIXTURE_MODE: "egress-probe",
          FIXTURE_GET_ALLOWED: `http://${gw}:${allowed.port()}/a`,
          FIXTURE_GET_API: `http://host.docker.internal:${api.port()}/api`,
          FIXTURE_GET_DENIED: `http://${gw}:${denied.port()}/d`,
          FIXTURE_CONNECT: `${gw}:${allowed.port()}`,
          FIXTURE_DIRECT: `${gw}:${direct.port}`,
          FIXTURE_DNS: dnsName,
          FIXTURE_DNS_VIA: `${gw} ${dnsName}`,
        };
        let rule = null;
        try {
          // Control, without egress: the name server on the gateway answers the agent.
          const plain = h.makeRunner({ containerTimeoutMs: 60_000 }, { ...(target.options || {}) });
          const control = { FIXTURE_MODE: "egress-probe", FIXTURE_DNS_VIA: probe.FIXTURE_DNS_VIA };
          expect(parseProbe((await plain.runner.reply(h.replyInput(plain, "open", { extraEnv: control }))).reply)).toMatchObject({ dnsvia: "ok" });
          expect(dns.names).toContain(dnsName);
          dns.names.length = 0;
          if (EGRESS[name].secondDockerd) {
            // Without the engine's own forwarding rule: the agent reaches nothing, not even the sidecar.
            const env = { FIXTURE_MODE: "egress-probe", FIXTURE_GET_ALLOWED: probe.FIXTURE_GET_ALLOWED, FIXTURE_DIRECT: probe.FIXTURE_DIRECT };
            const first = parseProbe((await ctx.runner.reply(h.replyInput(ctx, "walled", { extraEnv: env }))).reply);
            expect(first).toMatchObject({ allowed: "ERR-", direct1: "fail" });
            expect(allowed.hits).toEqual([]);
            rule = forwardWithinEgressBridge(cli);
          }
          const started = Date.now();
          const p = parseProbe((await ctx.runner.reply(h.replyInput(ctx, "walled", { extraEnv: probe }))).reply);
          console.log(`[matrix] ${name}: egress probe turn in ${Date.now() - started} ms: ${JSON.stringify(p)}`);
          expect(p).toMatchObject({ allowed: "allowed-ok", tunnel: "allowed-ok", api: "api-ok", denied: "ERR-403", direct1: "fail", dns: "fail", dns11: "fail", dnsvia: "fail" });
          expect(dns.names).toEqual([]);
          expect(allowed.hits).toEqual(expect.arrayContaining(["/a", "/c"]));
          expect(api.hits).toEqual(["/api"]);
          expect(denied.hits).toEqual([]);
          expect(direct.hits).toBe(0);
          const destination = `${gw}:${denied.port()}`;
          await h.waitFor("the warn line", () => ctx.lines.some((l) => l.msg === "Egress refused" && l.fields.destination === destination));
          // The engine is the matrix's own: whatever egress made on it is this runner's.
          const made = egressLeftovers(cli);
          expect([made.containers.length, made.networks.length]).toEqual([1, 1]);
        } finally {
          ctx.runner.killAll();
          if (rule) iptables("-D", ...rule);
          for (const s of [allowed, denied, api]) s.server.close();
          direct.server.close();
          dns.close();
        }
        await h.waitFor("the sidecar and its network removed", () => {
          const left = egressLeftovers(cli);
          return left.containers.length === 0 && left.networks.length === 0;
        }, 30_000);
      }, 150_000);
    }

    test("nothing is left on the engine", async () => {
      // Asked of the engine itself, through the docker CLI reaching it the same way (cleanupOrphans
      // would resolve 0 on any error, so it cannot tell an empty engine from an unreachable one).
      // These engines are the matrix's own: any labelled container on them is one of these runs'.
      const host = target.options && target.options.dockerHost;
      const labelled = () =>
        execFileSync("docker", [...(host ? ["-H", host] : []), "ps", "-aq", "--filter", "label=mercury.managed=true"], {
          encoding: "utf8",
          env: process.env,
          stdio: ["ignore", "pipe", "pipe"],
        }).trim();
      // The engine answers (a failure here throws, and fails the test).
      expect(execFileSync("docker", [...(host ? ["-H", host] : []), "version", "--format", "{{.Server.Version}}"], { encoding: "utf8", env: process.env }).trim()).not.toBe("");
      await h.waitFor("every container removed", () => labelled() === "", 30_000);
    }, T);
  });
}

describe("registry credentials for pulls", () => {
  const image = () => need("MERCURY_AUTH_IMAGE");
  const tls = () => ({ DOCKER_HOST: need("MERCURY_TLS_HOST"), DOCKER_TLS_VERIFY: "1", DOCKER_CERT_PATH: need("MERCURY_TLS_CERT_PATH") });
  const withEnv = async (env, fn) => {
    const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    Object.assign(process.env, env);
    try {
      return await fn();
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  };
  const removeImage = (env) => require("node:child_process").spawnSync("docker", ["image", "rm", "-f", image()], { env: { ...process.env, ...env } });

  test("logged in (auths in DOCKER_CONFIG/config.json): ensureImage pulls", async () => {
    const env = { ...tls(), DOCKER_CONFIG: need("MERCURY_AUTH_CONFIG") };
    removeImage(env);
    await withEnv(env, async () => {
      const ctx = h.makeRunner({ agentContainerImage: image() });
      await ctx.runner.ensureImage();
      expect(ctx.lines.map((l) => l.msg)).toContain("Agent image pulled successfully");
    });
  }, T);

  test("not logged in: ensureImage fails with the host's exact message", async () => {
    const scratch = path.join(h.tempRoot(), "docker-config");
    fs.mkdirSync(scratch);
    const env = { ...tls(), DOCKER_CONFIG: scratch };
    removeImage(env);
    await withEnv(env, async () => {
      const ctx = h.makeRunner({ agentContainerImage: image() });
      const e = await h.rejectionOf(ctx.runner.ensureImage());
      expect(e.message).toBe(`Failed to pull agent image: ${image()}\nRun manually: docker pull ${image()}`);
      expect(String(e.cause && e.cause.message)).toMatch(/auth|credential/i);
    });
  }, T);

  test("a credential helper (credsStore) is asked, with the registry on stdin", async () => {
    const dir = path.join(h.tempRoot(), "helper");
    fs.mkdirSync(dir);
    const asked = path.join(dir, "asked.txt");
    const password = fs.readFileSync(need("MERCURY_AUTH_PASSWORD_FILE"), "utf8").trim();
    const helper = path.join(dir, "docker-credential-matrix");
    fs.writeFileSync(
      helper,
      `#!/bin/sh\n[ "$1" = get ] || exit 1\ncat > ${JSON.stringify(asked)}\n` +
        `printf '{"ServerURL":"%s","Username":"%s","Secret":"%s"}' "${need("MERCURY_AUTH_REGISTRY")}" "${need("MERCURY_AUTH_USER")}" "${password}"\n`,
      { mode: 0o755 },
    );
    const config = path.join(dir, "config");
    fs.mkdirSync(config);
    fs.writeFileSync(path.join(config, "config.json"), JSON.stringify({ credsStore: "matrix" }));
    const env = { ...tls(), DOCKER_CONFIG: config };
    removeImage(env);
    // The helper is found on PATH, as the CLI finds it.
    process.env.PATH = `${dir}:${process.env.PATH}`;
    await withEnv(env, async () => {
      const ctx = h.makeRunner({ agentContainerImage: image() });
      await ctx.runner.ensureImage();
    });
    expect(fs.readFileSync(asked, "utf8").trim()).toBe(need("MERCURY_AUTH_REGISTRY"));
  }, T);
});
