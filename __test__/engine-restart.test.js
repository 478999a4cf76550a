// The engine restarts while a run is in flight: the run must settle, its entry must go, and the same
// runner must work once the engine is back. The engine restarted is one of this test's own
// (scripts/engines/restart-dockerd.sh), never the main one, so the test runs however the main engine
// was started, and no other user of it loses an agent. It needs root (it starts a dockerd), as npm
// test does; without it, it fails saying so rather than being skipped.
const fs = require("node:fs");
const path = require("node:path");
const { execFileSync } = require("node:child_process");
const h = require("./helpers");

const SCRIPT = path.join(__dirname, "..", "scripts", "engines", "restart-dockerd.sh");
// Starting a dockerd (and loading the image into it) on a loaded machine.
const START_MS = 120_000;

function engine(...args) {
  return execFileSync(SCRIPT, args, { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], timeout: START_MS }).trim();
}

describe("engine restart", () => {
  let dockerHost;
  beforeAll(() => {
    if (process.getuid && process.getuid() !== 0) throw new Error("the engine-restart test starts a dockerd of its own, which needs root");
    dockerHost = engine("start", h.IMAGE).split("\n").pop();
  }, START_MS);
  afterAll(() => {
    engine("stop");
  }, START_MS);

  const onEngine = (...args) => execFileSync("docker", ["-H", dockerHost, ...args], { encoding: "utf8" }).trim();

  test("a run in flight settles when the engine goes away, and the runner works again after", async () => {
    const ctx = h.makeRunner({}, { dockerHost });
    const run = ctx.runner.reply(h.replyInput(ctx, "restart", { extraEnv: { FIXTURE_MODE: "sleep" } }));
    const name = await h.runningContainer(ctx.lines);
    expect(onEngine("ps", "-q", "--filter", `name=^/${name}$`)).not.toBe("");

    const pid = Number(fs.readFileSync(engine("pidfile"), "utf8").trim());
    expect(fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim()).toBe("mcr-dockerd-r");
    process.kill(pid, "SIGTERM");
    const e = await h.rejectionOf(run);
    expect(e).toBeInstanceOf(h.ContainerError);
    expect(e.reason).toBe("error");
    expect(ctx.runner.isRunning("restart")).toBe(false);
    expect(ctx.runner.activeCount).toBe(0);
    await h.waitFor("dockerd to exit", () => !fs.existsSync(`/proc/${pid}`), 30_000);

    expect(engine("start", h.IMAGE).split("\n").pop()).toBe(dockerHost);
    const again = await ctx.runner.reply(h.replyInput(ctx, "restart"));
    expect(again.reply).toBe("pong");

    // The dead run's container is removed by the retried removal once the engine is back.
    await h.waitFor(`removal of ${name}`, () => onEngine("ps", "-aq", "--filter", `name=^/${name}$`) === "", 40_000);
    expect(onEngine("ps", "-aq", "--filter", "label=mercury.managed=true")).toBe("");
  }, 240_000);
});
