"use strict";
// The runner bench: the same workloads through our addon and the two reference
// runners (docker CLI, dockerode), alternating implementations round by round.
// Runs under Node (`node --expose-gc bench/run.js`) and Bun (`bun bench/run.js`).
// Prints a table and writes bench/results/<runtime>-<timestamp>.json and
// bench/results/latest-<runtime>.json. See bench/README.md for what each
// figure means, and the environment variables below for the knobs.

const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { spawn } = require("node:child_process");
const { performance } = require("node:perf_hooks");
const Docker = require("dockerode");

const IS_BUN = typeof Bun !== "undefined";
const RUNTIME = IS_BUN ? { name: "bun", version: Bun.version } : { name: "node", version: process.versions.node };
const RESULTS = path.join(__dirname, "results");
const FLOOR_BIN = process.env.BENCH_FLOOR_BIN || path.join(__dirname, "floor", "target", "release", "mercury-bench-floor");

function num(name, dflt) {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : dflt;
}
function list(name, dflt) {
  return (process.env[name] || dflt).split(",").map((s) => s.trim()).filter(Boolean);
}

const CFG = {
  image: process.env.BENCH_IMAGE || "mercury-bench-agent:latest",
  // Containers of the bench carry this label (from the bench image): the bench waits on
  // them only, so that other users of the engine (a test suite...) do not stall it.
  benchLabel: process.env.BENCH_LABEL || "mercury.bench=true",
  impls: list("BENCH_IMPLS", "ours,cli,dockerode"),
  workloads: list("BENCH_ONLY", "binding,latency,concurrent,killall,payload,chatty,standby,scale"),
  rounds: num("BENCH_ROUNDS", 15), // sequential latency
  heavyRounds: num("BENCH_HEAVY_ROUNDS", 5), // concurrent, killAll, payload
  chattyRounds: num("BENCH_CHATTY_ROUNDS", 2),
  chattyImpls: list("BENCH_CHATTY_IMPLS", "ours,cli,dockerode"),
  chattyMiB: num("BENCH_CHATTY_MIB", 200),
  concurrency: num("BENCH_CONCURRENCY", 16),
  concurrentMode: process.env.BENCH_CONCURRENT_MODE || "echo",
  killN: num("BENCH_KILL_N", 8),
  payloadMiB: num("BENCH_PAYLOAD_MIB", 10),
  bindingMs: num("BENCH_BINDING_MS", 1000),
  standbyRounds: num("BENCH_STANDBY_ROUNDS", 15), // cold vs claimed
  standbyTurns: num("BENCH_STANDBY_TURNS", 50), // per conversation
  timeoutMs: num("BENCH_CONTAINER_TIMEOUT_MS", 60_000),
  scaleN: list("BENCH_SCALE_N", "16,64,128").map(Number).filter((n) => n > 0),
  scaleImpls: list("BENCH_SCALE_IMPLS", "ours,cli"),
  scaleRounds: num("BENCH_SCALE_ROUNDS", 3),
  // 128 turns at once on 2 CPUs take tens of seconds: the turns' own time limit must not end them.
  scaleTimeoutMs: num("BENCH_SCALE_TIMEOUT_MS", 300_000),
};

// ---------------------------------------------------------------- statistics

function quantile(sorted, q) {
  if (sorted.length === 0) return NaN;
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}
function stats(samples) {
  const s = samples.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return {
    n: s.length,
    median: quantile(s, 0.5),
    p10: quantile(s, 0.1),
    p90: quantile(s, 0.9),
    min: s.length ? s[0] : NaN,
    max: s.length ? s[s.length - 1] : NaN,
  };
}

// ---------------------------------------------------------------- measuring

const gc = typeof global.gc === "function" ? () => global.gc() : IS_BUN ? () => Bun.gc(true) : null;
function collect() {
  if (gc) {
    gc();
    gc();
  }
}
const MiB = 1024 * 1024;
const PAGE = 4096;

/** Child processes of this process (direct children, any thread), with their RSS in bytes. */
function children() {
  const out = [];
  let tasks;
  try {
    tasks = fs.readdirSync(`/proc/${process.pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tasks) {
    let text;
    try {
      text = fs.readFileSync(`/proc/${process.pid}/task/${tid}/children`, "utf8");
    } catch {
      continue;
    }
    for (const pid of text.split(" ")) {
      if (!pid.trim()) continue;
      let rss = 0;
      try {
        rss = Number(fs.readFileSync(`/proc/${pid.trim()}/statm`, "utf8").split(" ")[1]) * PAGE;
      } catch {
        // Gone already.
      }
      out.push({ pid: pid.trim(), rss });
    }
  }
  return out;
}

/**
 * Samples, while a workload runs: the largest gap between ticks of a 1 ms
 * interval timer (the event-loop stall), this process's RSS (every 5 ms), and
 * its child processes and their summed RSS (every 20 ms).
 */
class Monitor {
  start({ procs = true } = {}) {
    this.procs = procs;
    this.maxGap = 0;
    this.rss0 = process.memoryUsage().rss;
    this.rssPeak = this.rss0;
    this.maxChildren = 0;
    this.maxChildRss = 0;
    this.pids = new Set();
    const t = performance.now();
    this.last = t;
    this.lastRss = t;
    this.lastProcs = -Infinity;
    this.timer = setInterval(() => this.tick(), 1);
  }
  tick() {
    const now = performance.now();
    const gap = now - this.last;
    if (gap > this.maxGap) this.maxGap = gap;
    if (now - this.lastRss >= 5) {
      const rss = process.memoryUsage().rss;
      if (rss > this.rssPeak) this.rssPeak = rss;
      this.lastRss = now;
    }
    if (this.procs && now - this.lastProcs >= 20) {
      const kids = children();
      if (kids.length > this.maxChildren) this.maxChildren = kids.length;
      let sum = 0;
      for (const k of kids) {
        sum += k.rss;
        this.pids.add(k.pid);
      }
      if (sum > this.maxChildRss) this.maxChildRss = sum;
      this.lastProcs = now;
    }
    // Timestamp after the sampling, so that the sampling's own cost is not counted as a stall.
    this.last = performance.now();
  }
  stop() {
    clearInterval(this.timer);
    this.tick();
    return {
      maxGapMs: this.maxGap,
      rssGrowthMiB: (this.rssPeak - this.rss0) / MiB,
      rssStartMiB: this.rss0 / MiB,
      maxChildren: this.maxChildren,
      childPids: this.pids.size,
      maxChildRssMiB: this.maxChildRss / MiB,
    };
  }
}

// ---------------------------------------------------------------- the engine, for the harness

const docker = new Docker();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function benchContainers(running) {
  const filters = { label: [CFG.benchLabel] };
  if (running) filters.status = ["running"];
  return docker.listContainers({ all: !running, filters });
}

/** Waits until no container of the bench exists (our addon removes them in the background). */
async function waitClean(timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if ((await benchContainers(false)).length === 0) return;
    if (Date.now() > deadline) throw new Error(`bench containers still present after ${timeoutMs / 1000} s`);
    await sleep(25);
  }
}

// ---------------------------------------------------------------- implementations

const TMP = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "mcr-bench-")));
const PKG = path.join(TMP, "pkg");
fs.mkdirSync(path.join(PKG, "docs"), { recursive: true });
fs.writeFileSync(path.join(PKG, "README.md"), "# bench package\n");

const problems = [];
function benchLogger(impl) {
  const note = (level) => (msg, fields) => {
    if (msg === "Using custom agent image") return;
    problems.push({ impl, level, msg, fields });
  };
  return { debug() {}, info() {}, warn: note("warn"), error: note("error") };
}

function makeImpl(name, root = path.join(TMP, name), timeoutMs = CFG.timeoutMs) {
  const config = {
    agentContainerImage: CFG.image,
    containerTimeoutMs: timeoutMs,
    globalDir: path.join(root, "global"),
    spacesDir: path.join(root, "spaces"),
    modelProvider: "anthropic",
    port: 3000,
  };
  const options = { logger: benchLogger(name), packageRoot: PKG };
  let runner;
  if (name === "ours") {
    const { AgentContainerRunner } = require(path.join(__dirname, ".."));
    runner = new AgentContainerRunner(config, options);
  } else if (name === "cli") {
    runner = new (require("./cli-runner.js").CliRunner)(config, options);
  } else if (name === "dockerode") {
    runner = new (require("./dockerode-runner.js").DockerodeRunner)(config, options);
  } else {
    throw new Error(`unknown implementation ${name}`);
  }
  return { name, runner, config };
}

function input(impl, spaceId, extraEnv, extra = {}) {
  return {
    spaceId,
    spaceWorkspace: path.join(impl.config.spacesDir, spaceId),
    messages: [],
    prompt: "hello agent",
    callerId: "bench-caller",
    extraEnv,
    ...extra,
  };
}

/** The payload as every implementation writes it (contract, reply step 5). */
function payloadBytes(impl, inp) {
  const spacesDir = path.resolve(impl.config.spacesDir);
  return Buffer.byteLength(
    JSON.stringify({ ...inp, spaceWorkspace: inp.spaceWorkspace.replace(spacesDir, "/spaces"), callerRole: inp.callerRole ?? "member" }),
  );
}

/** The implementations in a different order each round. */
function rotated(impls, round) {
  const k = round % impls.length;
  return impls.slice(k).concat(impls.slice(0, k));
}

// ---------------------------------------------------------------- results

const results = {};
function record(workload, impl, metric, value, unit) {
  const w = (results[workload] ??= { impls: {} });
  const i = (w.impls[impl] ??= { metrics: {} });
  const m = (i.metrics[metric] ??= { unit, samples: [] });
  m.samples.push(value);
}
function count(workload, impl, key, ok) {
  const w = (results[workload] ??= { impls: {} });
  const i = (w.impls[impl] ??= { metrics: {} });
  const c = (i[key] ??= { ok: 0, total: 0 });
  c.total++;
  if (ok) c.ok++;
}
function describe(e) {
  return e && e.message ? e.message.slice(0, 200) : String(e);
}
function failure(workload, impl, e) {
  const w = (results[workload] ??= { impls: {} });
  const i = (w.impls[impl] ??= { metrics: {} });
  (i.errors ??= []).push(describe(e));
}

// ---------------------------------------------------------------- workloads

/** isRunning / activeCount calls per second on an idle runner. */
async function binding(impls) {
  const perSec = (fn) => {
    let calls = 0;
    const t0 = performance.now();
    let t = t0;
    while (t - t0 < CFG.bindingMs) {
      for (let i = 0; i < 10_000; i++) fn();
      calls += 10_000;
      t = performance.now();
    }
    return calls / ((t - t0) / 1000);
  };
  for (const impl of impls) {
    const r = impl.runner;
    let sink = 0;
    record("binding", impl.name, "isRunningPerSec", perSec(() => (sink += r.isRunning("nobody") ? 1 : 0)), "calls/s");
    record("binding", impl.name, "activeCountPerSec", perSec(() => (sink += r.activeCount)), "calls/s");
    await sleep(0);
  }
}

/**
 * The engine's floor (bench/floor, the raw bollard calls), served one round
 * per request so that it takes its turn in the same alternation as the runners.
 */
function floorServer() {
  if (process.env.BENCH_FLOOR === "0" || !fs.existsSync(FLOOR_BIN)) return null;
  const server = lineChild(FLOOR_BIN, ["--serve"], (line) => (line.startsWith("{") ? JSON.parse(line) : undefined));
  return {
    name: "floor",
    ready: server.next(),
    async round(kind = "go") {
      server.send(kind);
      const r = await server.next();
      if (r.error) throw new Error(`floor: ${r.error}`);
      return r;
    },
    async close() {
      server.end();
      await server.closed;
    },
  };
}

/** Sequential replies of an agent that answers at once (it does not even read its stdin). */
async function latency(impls) {
  const env = { FIXTURE_MODE: "ignore-stdin" };
  for (const impl of impls) {
    await waitClean();
    await impl.runner.reply(input(impl, "latency", env)); // warm-up: connections, code paths
  }
  await waitClean();
  const floor = floorServer();
  try {
    if (floor) {
      const ready = await floor.ready;
      if (ready.error) throw new Error(`floor: ${ready.error}`);
    }
    await latencyRounds(floor ? [...impls, floor] : impls, env);
  } finally {
    if (floor) await floor.close();
  }
}

async function latencyRounds(impls, env) {
  for (let round = 0; round < CFG.rounds; round++) {
    for (const impl of rotated(impls, round)) {
      await waitClean();
      if (impl.name === "floor") {
        try {
          const r = await impl.round();
          record("latency", "floor", "replyMs", r.createToExitMs, "ms");
          record("latency", "floor", "removeMs", r.removeMs, "ms");
        } catch (e) {
          failure("latency", "floor", e);
        }
        continue;
      }
      const t0 = performance.now();
      try {
        const res = await impl.runner.reply(input(impl, "latency", env));
        record("latency", impl.name, "replyMs", performance.now() - t0, "ms");
        count("latency", impl.name, "correct", res.reply === "did not read");
      } catch (e) {
        failure("latency", impl.name, e);
      }
    }
  }
}

/**
 * The stall floor: this process idles (no runner work on its thread) and
 * times its event loop while a child process (our addon, same runtime) runs
 * the same concurrent replies: on a small machine the engine, the containers
 * and the runner's threads take the CPUs from the JavaScript thread too.
 */
async function concurrentFloor() {
  const c = benchChild({ task: "load", impl: "ours", root: path.join(TMP, "load") });
  try {
    const ready = await c.next();
    if (ready.error) throw new Error(ready.error);
    collect();
    const mon = new Monitor();
    mon.start({ procs: false });
    c.send("go");
    const done = await c.next();
    const m = mon.stop();
    if (done.error) throw new Error(done.error);
    record("concurrent", "floor", "wallMs", done.wallMs, "ms");
    record("concurrent", "floor", "maxGapMs", m.maxGapMs, "ms");
  } finally {
    c.end();
    await c.closed;
  }
}

/** CFG.concurrency replies at once: wall time, child processes, RSS, event-loop stall. */
async function concurrent(impls) {
  const mon = new Monitor();
  const withFloor = process.env.BENCH_FLOOR === "0" ? impls : [...impls, { name: "floor" }];
  for (let round = 0; round < CFG.heavyRounds; round++) {
    for (const impl of rotated(withFloor, round)) {
      await waitClean();
      if (impl.name === "floor") {
        try {
          await concurrentFloor();
        } catch (e) {
          failure("concurrent", "floor", e);
        }
        continue;
      }
      collect();
      mon.start();
      const t0 = performance.now();
      const settled = await Promise.allSettled(
        Array.from({ length: CFG.concurrency }, (_, i) =>
          impl.runner.reply(input(impl, `conc-${i}`, { FIXTURE_MODE: CFG.concurrentMode })),
        ),
      );
      const wall = performance.now() - t0;
      const m = mon.stop();
      record("concurrent", impl.name, "wallMs", wall, "ms");
      record("concurrent", impl.name, "maxGapMs", m.maxGapMs, "ms");
      record("concurrent", impl.name, "rssGrowthMiB", m.rssGrowthMiB, "MiB");
      record("concurrent", impl.name, "maxChildProcesses", m.maxChildren, "processes");
      record("concurrent", impl.name, "childProcessesSpawned", m.childPids, "processes");
      record("concurrent", impl.name, "maxChildRssMiB", m.maxChildRssMiB, "MiB");
      for (const s of settled) {
        count("concurrent", impl.name, "correct", s.status === "fulfilled" && s.value.reply !== undefined);
        if (s.status === "rejected") failure("concurrent", impl.name, s.reason);
      }
    }
  }
}

/** killAll() with CFG.killN running containers: the call's own duration, time until all rejected, stall. */
async function killall(impls) {
  const mon = new Monitor();
  for (let round = 0; round < CFG.heavyRounds; round++) {
    for (const impl of rotated(impls, round)) {
      await waitClean();
      const runs = Array.from({ length: CFG.killN }, (_, i) =>
        impl.runner.reply(input(impl, `kill-${i}`, { FIXTURE_MODE: "sleep" })),
      );
      runs.forEach((p) => p.catch(() => {}));
      const deadline = Date.now() + 60_000;
      while ((await benchContainers(true)).length < CFG.killN || impl.runner.activeCount < CFG.killN) {
        if (Date.now() > deadline) throw new Error(`${impl.name}: ${CFG.killN} containers never ran`);
        await sleep(20);
      }
      await sleep(50); // let the runs reach their steady state (reading output)
      collect();
      mon.start();
      const t0 = performance.now();
      impl.runner.killAll();
      const callMs = performance.now() - t0;
      const settled = await Promise.allSettled(runs);
      const allMs = performance.now() - t0;
      const m = mon.stop();
      record("killall", impl.name, "callMs", callMs, "ms");
      record("killall", impl.name, "allRejectedMs", allMs, "ms");
      record("killall", impl.name, "maxGapMs", m.maxGapMs, "ms");
      record("killall", impl.name, "childProcessesSpawned", m.childPids, "processes");
      for (const s of settled) {
        count("killall", impl.name, "aborted", s.status === "rejected" && s.reason && s.reason.reason === "aborted");
      }
    }
  }
}

/** A long history: CFG.payloadMiB of messages, delivered intact? Also a tiny payload, for the difference. */
function history(mib) {
  const line = "Une réponse assez longue, avec des accents et un emoji 🚀, pour remplir l'historique. ";
  const content = line.repeat(Math.ceil(4096 / Buffer.byteLength(line)));
  const messages = [];
  let bytes = 0;
  for (let id = 1; bytes < mib * MiB; id++) {
    const m = { id, spaceId: "payload", role: id % 2 ? "user" : "assistant", content, createdAt: 1_700_000_000_000 + id, updatedAt: 1_700_000_000_000 + id };
    bytes += Buffer.byteLength(JSON.stringify(m)) + 1;
    messages.push(m);
  }
  return messages;
}
async function payload(impls) {
  const messages = history(CFG.payloadMiB);
  for (let round = 0; round < CFG.heavyRounds; round++) {
    for (const impl of rotated(impls, round)) {
      for (const [metric, msgs] of [["smallMs", []], ["bigMs", messages]]) {
        await waitClean();
        const inp = input(impl, "payload", { FIXTURE_MODE: "payload-size" }, { messages: msgs });
        const expected = payloadBytes(impl, inp);
        const mon = new Monitor();
        if (metric === "bigMs") {
          collect();
          mon.start({ procs: false });
        }
        const t0 = performance.now();
        try {
          const res = await impl.runner.reply(inp);
          record("payload", impl.name, metric, performance.now() - t0, "ms");
          if (metric === "bigMs") {
            const m = mon.stop();
            record("payload", impl.name, "bigMaxGapMs", m.maxGapMs, "ms");
            record("payload", impl.name, "bigRssGrowthMiB", m.rssGrowthMiB, "MiB");
            count("payload", impl.name, "intact", res.reply === String(expected));
            if (res.reply !== String(expected)) failure("payload", impl.name, `agent got ${res.reply} bytes, expected ${expected}`);
          }
        } catch (e) {
          failure("payload", impl.name, e);
        } finally {
          if (mon.timer) clearInterval(mon.timer);
        }
      }
    }
  }
  (results.payload ??= { impls: {} }).payloadBytes = payloadBytes({ config: { spacesDir: "/x" } }, { spaceWorkspace: "/x/payload", spaceId: "payload", messages, prompt: "hello agent", callerId: "bench-caller", extraEnv: { FIXTURE_MODE: "payload-size" } });
}

/**
 * An agent that writes CFG.chattyMiB MiB to stdout before its result. Each
 * round of each implementation runs in a fresh child process (same runtime),
 * so that one implementation's heap does not hide or inflate another's RSS.
 */
async function chatty(impls) {
  const names = impls.map((i) => i.name).filter((n) => CFG.chattyImpls.includes(n));
  for (let round = 0; round < CFG.chattyRounds; round++) {
    for (const name of rotated(names, round)) {
      await waitClean();
      let out;
      try {
        const c = benchChild({ task: "chatty", impl: name, root: path.join(TMP, `chatty-${name}`) });
        out = await c.next();
        c.end();
        await c.closed;
      } catch (e) {
        failure("chatty", name, e);
        continue;
      }
      if (out.error) {
        failure("chatty", name, out.error);
        continue;
      }
      record("chatty", name, "rssGrowthMiB", out.rssGrowthMiB, "MiB");
      record("chatty", name, "durationMs", out.durationMs, "ms");
      record("chatty", name, "maxGapMs", out.maxGapMs, "ms");
      record("chatty", name, "maxChildRssMiB", out.maxChildRssMiB, "MiB");
      count("chatty", name, "correct", out.reply === "survived the noise");
      if (out.problems) problems.push(...out.problems);
    }
  }
}

/** A child process that speaks in lines: `next()` resolves the next line that `accept` keeps. */
function lineChild(command, args, accept) {
  const child = spawn(command, args, { stdio: ["pipe", "pipe", "inherit"], env: process.env });
  const queue = [];
  const waiters = [];
  let ended = false;
  let tail = "";
  const deliver = (item) => (waiters.length ? waiters.shift()(item) : queue.push(item));
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (d) => {
    const parts = (tail + d).split("\n");
    tail = parts.pop();
    for (const line of parts) {
      const item = accept(line);
      if (item !== undefined) deliver(item);
    }
  });
  const closed = new Promise((resolve) => {
    child.on("error", (e) => resolve(e.message));
    child.on("close", (code) => resolve(`exit ${code}`));
  }).then((why) => {
    ended = true;
    while (waiters.length) waiters.shift()({ error: `child ended (${why}) without an answer` });
    return why;
  });
  return {
    child,
    closed,
    next: () => (queue.length ? Promise.resolve(queue.shift()) : ended ? Promise.resolve({ error: "child ended" }) : new Promise((r) => waiters.push(r))),
    send: (line) => child.stdin.write(line + "\n"),
    end: () => child.stdin.end(),
  };
}

/** This script again, same runtime and flags, as a child doing one task; it answers with `BENCH_CHILD <json>` lines. */
function benchChild(task) {
  return lineChild(process.execPath, [...process.execArgv, __filename, "--child", JSON.stringify(task)], (line) =>
    line.startsWith("BENCH_CHILD ") ? JSON.parse(line.slice("BENCH_CHILD ".length)) : undefined,
  );
}
function childSay(obj) {
  process.stdout.write(`BENCH_CHILD ${JSON.stringify(obj)}\n`);
}
function childHears() {
  return new Promise((resolve) => {
    let text = "";
    const onData = (d) => {
      text += d;
      if (text.includes("\n")) {
        process.stdin.off("data", onData);
        process.stdin.pause();
        resolve(text.trim());
      }
    };
    process.stdin.setEncoding("utf8");
    process.stdin.on("data", onData);
    process.stdin.resume();
  });
}

async function childMain(task) {
  const impl = makeImpl(task.impl, task.root);
  try {
    // Warm-up, so that one-time set-up (the addon's runtime, a client's modules) is not counted.
    await impl.runner.reply(input(impl, "warm-up", { FIXTURE_MODE: "ignore-stdin" }));
    await waitClean();
    if (task.task === "chatty") {
      collect();
      const mon = new Monitor();
      mon.start();
      const t0 = performance.now();
      const res = await impl.runner.reply(input(impl, "chatty", { FIXTURE_MODE: "chatty", FIXTURE_MIB: String(CFG.chattyMiB) }));
      const durationMs = performance.now() - t0;
      const m = mon.stop();
      childSay({ reply: res.reply, durationMs, ...m, problems });
    } else if (task.task === "load") {
      // The concurrent workload's floor: the parent idles and times its own event loop while we work.
      childSay({ ready: true });
      await childHears();
      const t0 = performance.now();
      const settled = await Promise.allSettled(
        Array.from({ length: CFG.concurrency }, (_, i) => impl.runner.reply(input(impl, `load-${i}`, { FIXTURE_MODE: CFG.concurrentMode }))),
      );
      childSay({ wallMs: performance.now() - t0, ok: settled.filter((s) => s.status === "fulfilled").length });
    } else {
      throw new Error(`unknown child task ${task.task}`);
    }
  } catch (e) {
    childSay({ error: describe(e) });
  }
}

// ---------------------------------------------------------------- standby

/** Our addon with `options.standby`, counting its standby lines (the bench logger drops debug). */
function standbyImpl(name) {
  const impl = makeImpl("ours", path.join(TMP, name));
  const { AgentContainerRunner } = require(path.join(__dirname, ".."));
  const seen = { ready: 0, claimed: 0, notUsed: 0 };
  const logger = benchLogger("ours");
  logger.debug = (msg) => {
    if (msg === "Standby ready") seen.ready++;
    else if (msg === "Standby claimed") seen.claimed++;
    else if (msg === "Standby not used") seen.notUsed++;
  };
  impl.runner = new AgentContainerRunner(impl.config, { logger, packageRoot: PKG, standby: { idleMs: 120_000, max: 4 } });
  impl.seen = seen;
  return impl;
}

/** Waits until `n` bench containers exist, all running (the standbys), nothing else. */
async function waitStandbys(n, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const all = await benchContainers(false);
    if (all.length === n && all.every((c) => c.State === "running")) return all;
    if (Date.now() > deadline) throw new Error(`expected ${n} standby container(s), found ${all.length}`);
    await sleep(25);
  }
}

/** The engine's view of one idle standby: memory, and CPU over `ms`. */
async function idleCost(id, ms = 2000) {
  const c = docker.getContainer(id);
  const a = await c.stats({ stream: false });
  await sleep(ms);
  const b = await c.stats({ stream: false });
  const cpuNs = b.cpu_stats.cpu_usage.total_usage - a.cpu_stats.cpu_usage.total_usage;
  const mem = b.memory_stats;
  // As `docker stats` shows it: usage less the page cache (inactive_file on cgroup v2, cache on v1).
  const cache = mem.stats ? (mem.stats.inactive_file ?? mem.stats.cache ?? 0) : 0;
  return { memMiB: (mem.usage - cache) / MiB, cpuPct: (cpuNs / 1e6 / ms) * 100 };
}

/** Process CPU time (user + system, ms) spent while `fn` runs: the runner's host-side work. */
async function cpuMsOf(fn) {
  const c0 = process.cpuUsage();
  await fn();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000;
}

/** A conversation of CFG.standbyTurns back-to-back turns; `caller(i)` picks each turn's caller. */
async function conversation(impl, spaceId, caller) {
  const seen = impl.seen || { claimed: 0 };
  const before = { ...seen };
  const cpuMs = await cpuMsOf(async () => {
    for (let i = 0; i < CFG.standbyTurns; i++) {
      const inp = input(impl, spaceId, { FIXTURE_MODE: "payload-size" }, { callerId: caller(i), prompt: `turn ${i}` });
      await impl.runner.reply(inp);
    }
  });
  return { hits: seen.claimed - before.claimed, cpuMsPerTurn: cpuMs / CFG.standbyTurns };
}

/**
 * Cold replies (our addon as it is) against claimed-standby replies and the
 * warm floor (bench/floor's warm round: the raw engine calls of a claimed
 * turn, write → exit), rounds alternated; hit rates of a DM and a 3-caller
 * group conversation; what an idle standby costs the engine and a turn costs the host; killAll's cleanup.
 */
async function standby(impls) {
  if (!impls.some((i) => i.name === "ours")) return;
  const cold = makeImpl("ours", path.join(TMP, "standby-cold"));
  const warm = standbyImpl("standby-warm");
  const env = { FIXTURE_MODE: "payload-size" };
  const floor = floorServer();
  try {
    await waitClean();
    if (floor) {
      const ready = await floor.ready;
      if (ready.error) throw new Error(`floor: ${ready.error}`);
    }
    await cold.runner.reply(input(cold, "sb", env)); // warm-up
    await waitClean();
    await warm.runner.reply(input(warm, "sb", env)); // prepares the first standby
    for (let round = 0; round < CFG.standbyRounds; round++) {
      for (const which of rotated(floor ? ["cold", "claimed", "warmFloor"] : ["cold", "claimed"], round)) {
        // Same engine state for all: only the idle standby exists (and the floor's own container).
        await waitStandbys(1);
        if (which === "warmFloor") {
          try {
            const r = await floor.round("warm");
            record("standby", "floor", "warmWriteToExitMs", r.writeToExitMs, "ms");
          } catch (e) {
            failure("standby", "floor", e);
          }
          continue;
        }
        const impl = which === "cold" ? cold : warm;
        const claimedBefore = warm.seen.claimed;
        const t0 = performance.now();
        const res = await impl.runner.reply(input(impl, "sb", env));
        record("standby", "ours", which === "cold" ? "coldReplyMs" : "claimedReplyMs", performance.now() - t0, "ms");
        if (which === "claimed") count("standby", "ours", "claimed", warm.seen.claimed === claimedBefore + 1);
        count("standby", "ours", "correct", /^\d+$/.test(res.reply));
      }
    }
    const [idle] = await waitStandbys(1);
    const costs = await idleCost(idle.Id);
    record("standby", "ours", "idleMemMiB", costs.memMiB, "MiB");
    record("standby", "ours", "idleCpuPct", costs.cpuPct, "%");

    // Host work per turn: the same back-to-back conversation without and with standbys.
    warm.runner.killAll();
    await waitClean();
    const coldConv = await conversation(cold, "dm-cold", () => "dm-caller");
    await waitClean();
    const dm = await conversation(warm, "dm", () => "dm-caller");
    record("standby", "ours", "dmHits", dm.hits, "turns");
    record("standby", "ours", "coldHostCpuMsPerTurn", coldConv.cpuMsPerTurn, "ms");
    record("standby", "ours", "standbyHostCpuMsPerTurn", dm.cpuMsPerTurn, "ms");
    // A group: three callers, in a fixed pseudo-random order (the same every run).
    let x = 7;
    const group = await conversation(warm, "group", () => {
      x = (x * 48271) % 2147483647;
      return `member-${x % 3}`;
    });
    record("standby", "ours", "groupHits", group.hits, "turns");
    results.standby.turns = CFG.standbyTurns;

    // killAll: every standby gone.
    await waitStandbys(2);
    const t0 = performance.now();
    warm.runner.killAll();
    await waitClean(10_000).catch(() => {});
    record("standby", "ours", "killAllToZeroMs", performance.now() - t0, "ms");
    record("standby", "ours", "leftAfterKillAll", (await benchContainers(false)).length, "containers");
  } finally {
    warm.runner.killAll();
    cold.runner.killAll();
    if (floor) await floor.close();
  }
}

// ---------------------------------------------------------------- scale

/** bench/tree-sampler.js on this process, in a process of its own. */
async function treeSampler() {
  const c = lineChild(process.execPath, [path.join(__dirname, "tree-sampler.js"), String(process.pid), "20"], (line) =>
    line.startsWith("{") ? JSON.parse(line) : undefined,
  );
  const ready = await c.next();
  if (ready.error) throw new Error(`sampler: ${ready.error}`);
  return {
    async stop() {
      c.send("stop");
      const r = await c.next();
      c.end();
      await c.closed;
      if (r.error) throw new Error(`sampler: ${r.error}`);
      return r;
    },
  };
}

/**
 * The scale curve: N turns of the fixture agent at once, for each N of
 * CFG.scaleN, ours against the CLI reference, rounds alternated. Wall time and
 * the event-loop stall until all settled; host RSS (this process and its
 * descendants, sampled by a process of its own) and the engine's CPU time
 * until the engine holds no container of the round (ours removes in the
 * background), so both runners are charged for the same work.
 */
async function scale() {
  const impls = CFG.scaleImpls.map((n) => makeImpl(n, path.join(TMP, `scale-${n}`), CFG.scaleTimeoutMs));
  try {
    for (const n of CFG.scaleN) {
      const workload = `scale-${n}`;
      for (let round = 0; round < CFG.scaleRounds; round++) {
        for (const impl of rotated(impls, round)) {
          await waitClean(120_000);
          collect();
          const sampler = await treeSampler();
          const mon = new Monitor();
          mon.start({ procs: false });
          const load1 = os.loadavg()[0];
          const t0 = performance.now();
          const settled = await Promise.allSettled(
            Array.from({ length: n }, (_, i) => impl.runner.reply(input(impl, `scale-${i}`, { FIXTURE_MODE: CFG.concurrentMode }))),
          );
          const wall = performance.now() - t0;
          const m = mon.stop();
          await waitClean(120_000);
          const tree = await sampler.stop();
          record(workload, impl.name, "wallMs", wall, "ms");
          record(workload, impl.name, "turnsPerSec", n / (wall / 1000), "turns/s");
          record(workload, impl.name, "maxGapMs", m.maxGapMs, "ms");
          record(workload, impl.name, "treeRssPeakMiB", tree.rssPeakMiB, "MiB");
          record(workload, impl.name, "treeRssGrowthMiB", tree.rssPeakMiB - tree.rssStartMiB, "MiB");
          record(workload, impl.name, "engineDaemonCpuMs", tree.engineDaemonCpuMs, "ms");
          record(workload, impl.name, "engineShimCpuMs", tree.engineShimCpuMs, "ms");
          record(workload, impl.name, "load1", load1, "load");
          for (const s of settled) {
            count(workload, impl.name, "correct", s.status === "fulfilled" && s.value.reply !== undefined);
            if (s.status === "rejected") failure(workload, impl.name, s.reason);
          }
        }
      }
    }
  } finally {
    for (const i of impls) i.runner.killAll();
  }
}

const WORKLOADS = { binding, latency, concurrent, killall, payload, chatty, standby, scale };

// ---------------------------------------------------------------- output

function fmt(v, unit) {
  if (!Number.isFinite(v)) return "-";
  if (unit === "calls/s") return v >= 1e6 ? `${(v / 1e6).toFixed(2)}M` : `${(v / 1e3).toFixed(0)}k`;
  if (unit === "processes") return String(Math.round(v));
  return v >= 100 ? v.toFixed(0) : v.toFixed(1);
}

function table() {
  const lines = [];
  const present = new Set();
  for (const w of Object.values(results)) Object.keys(w.impls).forEach((n) => present.add(n));
  const impls = ["ours", "cli", "dockerode", "floor"].filter((n) => present.has(n)).map((name) => ({ name }));
  const head = ["workload", "metric", ...impls.map((i) => i.name)];
  const rows = [];
  for (const [workload, w] of Object.entries(results)) {
    const metrics = new Set();
    const checks = new Set();
    for (const i of Object.values(w.impls)) {
      Object.keys(i.metrics).forEach((m) => metrics.add(m));
      for (const k of ["correct", "aborted", "intact", "claimed"]) if (i[k]) checks.add(k);
    }
    for (const metric of metrics) {
      rows.push([
        workload,
        metric,
        ...impls.map((impl) => {
          const m = w.impls[impl.name]?.metrics[metric];
          if (!m) return "";
          const s = m.stats;
          return s.n > 1 ? `${fmt(s.median, m.unit)} [${fmt(s.p10, m.unit)}–${fmt(s.p90, m.unit)}]` : fmt(s.median, m.unit);
        }),
      ]);
    }
    for (const k of checks) {
      rows.push([workload, k, ...impls.map((impl) => {
        const c = w.impls[impl.name]?.[k];
        return c ? `${c.ok}/${c.total}` : "";
      })]);
    }
  }
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => String(r[c]).length)));
  const line = (r) => r.map((x, c) => String(x).padEnd(widths[c])).join("  ");
  lines.push(line(head), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line));
  return lines.join("\n");
}

// ---------------------------------------------------------------- main

async function idleStall() {
  const mon = new Monitor();
  mon.start({ procs: false });
  await sleep(500);
  return mon.stop().maxGapMs;
}

async function main() {
  const version = await docker.version();
  const impls = CFG.impls.map((n) => makeImpl(n));
  console.log(
    `runner bench on ${RUNTIME.name} ${RUNTIME.version}, engine ${version.Version} (API ${version.ApiVersion}), ${os.cpus().length} CPUs; image ${CFG.image}`,
  );
  if (!gc) console.log("(no gc exposed: run node with --expose-gc for steadier RSS figures)");
  await waitClean();
  const idleMaxGapMs = await idleStall();
  const started = new Date();
  const timings = {};
  const loads = {}; // uptime's load averages around each workload: other users of the CPUs show here
  for (const w of CFG.workloads) {
    if (!WORKLOADS[w]) throw new Error(`unknown workload ${w} (known: ${Object.keys(WORKLOADS).join(", ")})`);
    const t0 = performance.now();
    const loadBefore = os.loadavg();
    process.stdout.write(`  ${w}...`);
    try {
      await WORKLOADS[w](impls);
    } finally {
      for (const i of impls) i.runner.killAll();
    }
    timings[w] = (performance.now() - t0) / 1000;
    loads[w] = { before: loadBefore, after: os.loadavg() };
    process.stdout.write(` ${timings[w].toFixed(1)} s\n`);
  }
  await waitClean();
  for (const w of Object.values(results)) {
    for (const i of Object.values(w.impls)) for (const m of Object.values(i.metrics)) m.stats = stats(m.samples);
  }

  const report = {
    kind: "runner-bench",
    runtime: RUNTIME,
    timestamp: started.toISOString(),
    host: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model,
      kernel: os.release(),
      memMiB: Math.round(os.totalmem() / MiB),
      engine: version.Version,
      engineApi: version.ApiVersion,
    },
    config: { ...CFG, gcExposed: !!gc },
    idleMaxGapMs,
    workloadSeconds: timings,
    loadAverages: loads,
    workloads: results,
    problems,
  };
  fs.mkdirSync(RESULTS, { recursive: true });
  const stamp = started.toISOString().replace(/[:.]/g, "-");
  const file = path.join(RESULTS, `${RUNTIME.name}-${stamp}.json`);
  fs.writeFileSync(file, JSON.stringify(report, null, 2) + "\n");
  fs.writeFileSync(path.join(RESULTS, `latest-${RUNTIME.name}.json`), JSON.stringify(report, null, 2) + "\n");

  console.log(`\nmedian [p10–p90] over rounds; idle event-loop max gap ${idleMaxGapMs.toFixed(1)} ms\n`);
  console.log(table());
  for (const [workload, w] of Object.entries(results)) {
    for (const [name, i] of Object.entries(w.impls)) {
      if (i.errors) console.log(`\n${workload}/${name}: ${i.errors.length} error(s), first: ${i.errors[0]}`);
    }
  }
  if (problems.length) {
    console.log(`\nour addon logged ${problems.length} warning/error line(s), first: ${problems[0].msg} ${JSON.stringify(problems[0].fields)}`);
  }
  console.log(`\nwritten to ${path.relative(process.cwd(), file)}`);
}

function cleanup() {
  try {
    fs.rmSync(TMP, { recursive: true, force: true });
  } catch {
    // Files written by the containers as root are ours too; nothing else to do.
  }
}

if (process.argv[2] === "--child") {
  childMain(JSON.parse(process.argv[3])).finally(cleanup);
} else {
  main()
    .catch((e) => {
      console.error(`\nbench failed: ${e && e.stack ? e.stack : e}`);
      process.exitCode = 1;
    })
    .finally(cleanup);
}
