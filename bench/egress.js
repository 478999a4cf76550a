"use strict";
// What options.egress costs a turn (docs/egress.md): a whole reply of the
// fixture's echo mode, without egress and with it (the sidecar made before the
// first measured round), rounds alternating. Reports per variant the median and
// p90 of the reply's wall time, and the host's CPU time per turn (all of the
// machine's busy time from /proc/stat over the variant's turns: this process,
// dockerd, containerd, runc and the sidecar; other load on the machine counts
// too, so compare the two on a quiet machine). Also the sidecar's first start.
//
//   node bench/egress.js            # ROUNDS=15 by default
// Needs the fixture image and egress-proxy/dist (scripts/build-egress-proxy.sh).

const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { AgentContainerRunner } = require("..");

const IMAGE = process.env.BENCH_IMAGE || "mercury-test-agent:latest";
const ROUNDS = Number(process.env.ROUNDS || 15);
const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "mcr-egress-bench-")));

function busyJiffies() {
  const cpu = fs.readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: busy is all but idle and iowait.
  return cpu.reduce((a, b) => a + b, 0) - cpu[3] - cpu[4];
}
const TICK_MS = 1000 / 100; // USER_HZ

function runner(options) {
  const quiet = { debug() {}, info() {}, warn() {}, error() {} };
  return new AgentContainerRunner(
    {
      agentContainerImage: IMAGE,
      containerTimeoutMs: 60000,
      globalDir: path.join(root, "global"),
      spacesDir: path.join(root, "spaces"),
      modelProvider: "anthropic",
      port: 3000,
    },
    { logger: quiet, packageRoot: root, ...options },
  );
}

async function turn(r, space) {
  const t0 = process.hrtime.bigint();
  const j0 = busyJiffies();
  await r.reply({ spaceId: space, spaceWorkspace: path.join(root, "spaces", space), messages: [], prompt: "hi", callerId: "c", extraEnv: { FIXTURE_MODE: "echo" } });
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, cpuMs: (busyJiffies() - j0) * TICK_MS };
}

function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { median: Math.round(q(0.5)), p90: Math.round(q(0.9)) };
}

(async () => {
  const plain = runner({});
  const walled = runner({ egress: { allow: ["api.anthropic.com"] } });
  const first = await turn(walled, "egress");
  await turn(plain, "plain");
  const results = { plain: [], egress: [] };
  for (let i = 0; i < ROUNDS; i++) {
    results.plain.push(await turn(plain, "plain"));
    results.egress.push(await turn(walled, "egress"));
  }
  walled.killAll();
  const report = {
    rounds: ROUNDS,
    firstEgressTurnMs: Math.round(first.ms),
    plain: { wallMs: stats(results.plain.map((r) => r.ms)), hostCpuMs: stats(results.plain.map((r) => r.cpuMs)) },
    egress: { wallMs: stats(results.egress.map((r) => r.ms)), hostCpuMs: stats(results.egress.map((r) => r.cpuMs)) },
  };
  console.log(JSON.stringify(report, null, 2));
  // The sidecar's removal (killAll) runs in the background: give it a moment before the exit hook.
  await new Promise((r) => setTimeout(r, 2000));
  fs.rmSync(root, { recursive: true, force: true });
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
