// The engine restarts while a run is in flight: the run must settle, its entry
// must go, and the same runner must work once the engine is back. This stops
// the dockerd that the test script started (never an engine it did not start).
const fs = require("node:fs");
const path = require("node:path");
const { execFileSync } = require("node:child_process");
const h = require("./helpers");

const OWNER = "/var/run/mercury-dockerd.owner";

function ourEngine() {
  try {
    const pid = fs.readFileSync(OWNER, "utf8").trim();
    return pid && fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "dockerd" ? Number(pid) : null;
  } catch {
    return null;
  }
}

const pid = ourEngine();
const maybe = pid ? describe : describe.skip;
if (!pid) console.warn(`engine-restart: skipped, the running dockerd was not started by scripts/ensure-docker.sh (${OWNER})`);

maybe("engine restart", () => {
  test("a run in flight settles when the engine goes away, and the runner works again after", async () => {
    const ctx = h.makeRunner();
    const run = ctx.runner.reply(h.replyInput(ctx, "restart", { extraEnv: { FIXTURE_MODE: "sleep" } }));
    const name = await h.runningContainer(ctx.lines);

    process.kill(pid, "SIGTERM");
    const e = await h.rejectionOf(run);
    expect(e).toBeInstanceOf(h.ContainerError);
    expect(e.reason).toBe("error");
    expect(ctx.runner.isRunning("restart")).toBe(false);
    expect(ctx.runner.activeCount).toBe(0);
    await h.waitFor("dockerd to exit", () => !fs.existsSync(`/proc/${pid}`), 30_000);

    execFileSync(path.join(__dirname, "..", "scripts", "ensure-docker.sh"), { stdio: "ignore" });
    const again = await ctx.runner.reply(h.replyInput(ctx, "restart"));
    expect(again.reply).toBe("pong");

    // The dead run's container is removed by the retried removal once the engine is back.
    await h.waitFor(`removal of ${name}`, () => h.containersNamed(name).length === 0, 40_000);
  }, 120_000);
});
