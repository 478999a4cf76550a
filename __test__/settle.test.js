// Every wait of a turn is under its deadline: with the engine hanging at any
// one call (the test proxy holds that request before the engine sees it), the
// reply still settles by its deadline plus the stated grace, as the contract's
// timeout (or aborted) error; and what the held call leaves behind is removed
// once the engine answers again.
const fs = require("node:fs");
const path = require("node:path");
const h = require("./helpers");
const { startEngineProxy } = require("./engine-proxy");

const T = 90_000;
// SETTLE_GRACE in src/core/turn/one_turn.rs: after the deadline or an abort, a turn settles within this.
const GRACE_MS = 5_000;
const DEADLINE_MS = 3_000;
// Timers, the JS thread and a loaded engine: what a settle may take beyond its bound.
const SLACK_MS = 1_500;

const measured = [];
afterAll(() => {
  // The figures for the before/after table.
  const file = process.env.MERCURY_SETTLE_REPORT;
  if (file) fs.appendFileSync(file, measured.map((m) => JSON.stringify(m)).join("\n") + "\n");
});

/** How `promise` settled and after how long. */
async function timed(promise, from) {
  try {
    const value = await promise;
    return { state: "resolved", value, ms: Date.now() - from };
  } catch (error) {
    return { state: "rejected", error, ms: Date.now() - from };
  }
}

/** The run's container name, from its log lines (the span field every line carries). */
function containerOf(lines) {
  const line = lines.find((l) => l.fields && l.fields.container);
  return line && line.fields.container;
}

/** Whether the engine has destroyed a container of that name since `sinceMs`. */
function destroyed(name, sinceMs) {
  const until = Math.ceil(Date.now() / 1000) + 1;
  const since = Math.floor(sinceMs / 1000) - 1;
  const events = h.docker("events", "--since", String(since), "--until", String(until), "--filter", `container=${name}`, "--filter", "event=destroy", "--format", "{{.Action}}");
  return events.split("\n").includes("destroy");
}

/**
 * The run's container is gone once the engine answers again, before the proxy
 * (the runner's only way to the engine) closes. A held create makes its
 * container only after the release: wait for the engine to have destroyed it.
 */
async function expectNothingLeft(ctx, name, sinceMs, call) {
  expect(name).toMatch(/^mercury-\d+-\d+$/);
  if (call === "create") await h.waitFor(`late container ${name} destroyed`, () => destroyed(name, sinceMs), 40_000);
  await h.waitFor(`container ${name} removed`, () => h.containersNamed(name).length === 0, 40_000);
}

// call: the held call; mode: the agent's behaviour that makes the turn reach it.
const CASES = [
  { call: "create", mode: "sleep" },
  { call: "attach", mode: "sleep" },
  { call: "start", mode: "sleep" },
  // The agent ends at once: its exit status is what the turn waits for.
  { call: "wait", mode: "echo" },
  // The agent sleeps: the deadline's kill is what hangs, the container runs on.
  { call: "kill", mode: "sleep" },
  // Exit 137: the engine's OOM verdict is what the turn waits for.
  { call: "inspect", mode: "exit137" },
];

describe("the engine hangs at one call: the reply settles by its deadline plus the grace", () => {
  for (const { call, mode } of CASES) {
    test(`${call}: rejects as timeout within ${DEADLINE_MS} + ${GRACE_MS} ms, and nothing is left once the engine answers`, async () => {
      const root = h.tempRoot();
      const proxy = await startEngineProxy(root);
      try {
        const ctx = h.makeRunner({ containerTimeoutMs: DEADLINE_MS }, { dockerHost: proxy.dockerHost });
        const hold = proxy.holdNextCall(call);
        const from = Date.now();
        const run = timed(ctx.runner.reply(h.replyInput(ctx, `held-${call}`, { extraEnv: { FIXTURE_MODE: mode } })), from);
        const arrived = await Promise.race([hold.arrived.then(() => true), run.then(() => false)]);
        expect(arrived).toBe(true);
        const settled = await run;
        measured.push({ call, how: "deadline", ms: settled.ms, state: settled.state, reason: settled.error && settled.error.reason });
        hold.release();
        expect(settled.state).toBe("rejected");
        expect(settled.error).toBeInstanceOf(h.ContainerError);
        expect(settled.error.reason).toBe("timeout");
        expect(settled.error.message).toBe(`Container timed out for group held-${call}`);
        expect(settled.ms).toBeGreaterThanOrEqual(DEADLINE_MS - 50);
        expect(settled.ms).toBeLessThanOrEqual(DEADLINE_MS + GRACE_MS + SLACK_MS);
        expect(ctx.runner.activeCount).toBe(0);
        await expectNothingLeft(ctx, containerOf(ctx.lines), from, call);
      } finally {
        await proxy.close();
      }
    }, T);
  }

  for (const { call, mode } of [CASES[0], CASES[2], CASES[4]]) {
    test(`${call}, then abort(): rejects as aborted within ${GRACE_MS} ms of the abort`, async () => {
      const root = h.tempRoot();
      const proxy = await startEngineProxy(root);
      try {
        const ctx = h.makeRunner({ containerTimeoutMs: 60_000 }, { dockerHost: proxy.dockerHost });
        const hold = proxy.holdNextCall(call);
        const reply = ctx.runner.reply(h.replyInput(ctx, `abort-${call}`, { extraEnv: { FIXTURE_MODE: mode } }));
        const rejected = timed(reply, Date.now());
        if (call === "kill") {
          // The agent runs; the abort's kill is the call that hangs.
          await h.runningContainer(ctx.lines);
        } else {
          await hold.arrived;
        }
        const from = Date.now();
        expect(ctx.runner.abort(`abort-${call}`)).toBe(true);
        const settled = await rejected;
        const ms = Date.now() - from;
        measured.push({ call, how: "abort", ms, state: settled.state, reason: settled.error && settled.error.reason });
        hold.release();
        expect(settled.state).toBe("rejected");
        expect(settled.error.reason).toBe("aborted");
        expect(ms).toBeLessThanOrEqual(GRACE_MS + SLACK_MS);
        await expectNothingLeft(ctx, containerOf(ctx.lines), from, call);
      } finally {
        await proxy.close();
      }
    }, T);
  }

  test("remove: the reply does not wait for the removal; the container goes once the engine answers", async () => {
    const root = h.tempRoot();
    const proxy = await startEngineProxy(root);
    try {
      const ctx = h.makeRunner({ containerTimeoutMs: DEADLINE_MS }, { dockerHost: proxy.dockerHost });
      const hold = proxy.holdNextCall("remove");
      const from = Date.now();
      const settled = await timed(ctx.runner.reply(h.replyInput(ctx, "held-remove")), from);
      measured.push({ call: "remove", how: "deadline", ms: settled.ms, state: settled.state, error: settled.error && settled.error.message });
      expect(settled.state).toBe("resolved");
      expect(settled.value.reply).toBe("pong");
      expect(settled.ms).toBeLessThan(DEADLINE_MS);
      await hold.arrived;
      hold.release();
      await expectNothingLeft(ctx, containerOf(ctx.lines), from, "remove");
    } finally {
      await proxy.close();
    }
  }, T);
});
