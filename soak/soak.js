// `npm run soak`: 500 replies at concurrency 8 through one runner (plus one
// with a short timeout), with random aborts, timeouts, failures and outbox
// files. Checks every outcome, then that nothing is left: no container
// labelled mercury.managed=true, activeCount 0, and reports host RSS.
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { execFileSync } = require("node:child_process");
const { AgentContainerRunner, ContainerError } = require("..");

const TOTAL = Number(process.env.SOAK_REPLIES || 500);
const CONCURRENCY = Number(process.env.SOAK_CONCURRENCY || 8);
const IMAGE = "mercury-test-agent:latest";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "mercury-soak-"));
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const config = (timeout) => ({
  agentContainerImage: IMAGE,
  containerTimeoutMs: timeout,
  globalDir: path.join(root, "global"),
  spacesDir: path.join(root, "spaces"),
  modelProvider: "anthropic",
  port: 3000,
});
const runner = new AgentContainerRunner(config(30_000), { logger: quiet, packageRoot: root });
const hasty = new AgentContainerRunner(config(400), { logger: quiet, packageRoot: root });

// Each kind: how to run it and what must come back.
const kinds = {
  ok: { weight: 40, mode: "echo", expect: (r) => r.ok && r.ok.reply === "pong" },
  files: { weight: 15, mode: "some-files", expect: (r) => r.ok && r.ok.files.length >= 2 },
  fail: { weight: 10, mode: "stderr-fail", expect: (r) => r.err instanceof ContainerError && r.err.reason === "error" && r.err.exitCode === 3 },
  oom: { weight: 5, mode: "exit137", expect: (r) => r.err instanceof ContainerError && r.err.reason === "oom" },
  abort: { weight: 15, mode: "sleep", abortAfter: true, expect: (r) => r.err instanceof ContainerError && r.err.reason === "aborted" },
  timeout: { weight: 10, mode: "sleep", hasty: true, expect: (r) => r.err instanceof ContainerError && r.err.reason === "timeout" },
  nomarkers: { weight: 5, mode: "nomarkers", expect: (r) => r.err && /^Failed to parse container result/.test(r.err.message) },
};
const bag = Object.entries(kinds).flatMap(([name, k]) => Array(k.weight).fill(name));

let seed = Number(process.env.SOAK_SEED || 42);
const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);

const rss = () => process.memoryUsage().rss / 1048576;
const rssStart = rss();
let rssPeak = rssStart;
const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, rss())), 50);

const tally = {};
const mismatches = [];
let next = 0;

async function one(i) {
  const kind = bag[Math.floor(random() * bag.length)];
  const k = kinds[kind];
  const spaceId = `soak-${i}`;
  const target = k.hasty ? hasty : runner;
  const run = target.reply({
    spaceId,
    spaceWorkspace: path.join(root, "spaces", spaceId),
    messages: [],
    prompt: "soak",
    callerId: "soak",
    extraEnv: { FIXTURE_MODE: k.mode },
  });
  if (k.abortAfter) setTimeout(() => target.abort(spaceId), Math.floor(random() * 800));
  const outcome = await run.then((ok) => ({ ok }), (err) => ({ err }));
  tally[kind] = (tally[kind] || 0) + 1;
  if (!k.expect(outcome)) mismatches.push({ i, kind, got: outcome.ok || String(outcome.err) });
  fs.rmSync(path.join(root, "spaces", spaceId), { recursive: true, force: true });
}

async function worker() {
  while (next < TOTAL) await one(next++);
}

function leftovers() {
  return execFileSync("docker", ["ps", "-aq", "--filter", "label=mercury.managed=true"], { encoding: "utf8" })
    .split("\n")
    .filter(Boolean).length;
}

(async () => {
  const t0 = Date.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const seconds = (Date.now() - t0) / 1000;
  let left = leftovers();
  for (let i = 0; i < 300 && left > 0; i++) {
    await new Promise((r) => setTimeout(r, 100));
    left = leftovers();
  }
  if (global.gc) global.gc();
  await new Promise((r) => setTimeout(r, 200));
  clearInterval(sampler);
  const summary = {
    runtime: process.versions.bun ? `bun ${process.versions.bun}` : `node ${process.version}`,
    replies: TOTAL,
    concurrency: CONCURRENCY,
    seconds,
    tally,
    mismatches: mismatches.length,
    leftoverContainers: left,
    activeCount: runner.activeCount + hasty.activeCount,
    rssMiB: { start: +rssStart.toFixed(1), peak: +rssPeak.toFixed(1), end: +rss().toFixed(1) },
  };
  console.log(JSON.stringify(summary, null, 2));
  for (const m of mismatches.slice(0, 10)) console.error("mismatch:", JSON.stringify(m));
  fs.rmSync(root, { recursive: true, force: true });
  const ok = mismatches.length === 0 && left === 0 && summary.activeCount === 0;
  console.log(ok ? "soak: passed" : "soak: FAILED");
  process.exit(ok ? 0 : 1);
})();
