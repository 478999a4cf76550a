// The core reply tests through every kind of engine the docker CLI reaches:
// a TLS dockerd by environment variables and by a context, the same engine
// over ssh (a port other than 22), and Podman's Docker-compatible API; and an
// authenticated pull. scripts/test-engines.sh starts those engines, runs this
// file with MERCURY_TEST_ENGINES=1 and their addresses, and stops them after.
// Not a *.test.js file: it runs only under that script, and fails there when
// an engine is missing.
const fs = require("node:fs");
const path = require("node:path");
const { execFileSync } = require("node:child_process");
const h = require("../helpers");

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
};

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
