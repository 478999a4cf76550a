"use strict";
// Reads the latest results (bench/results/latest-node.json, latest-bun.json,
// floor.json) and prints a markdown comparison, targets first, ready to paste
// into a README. Usage: node bench/report.js [results folder]

const fs = require("node:fs");
const path = require("node:path");

const dir = path.resolve(process.argv[2] || path.join(__dirname, "results"));
const read = (name) => {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, name), "utf8"));
  } catch {
    return null;
  }
};
const runs = ["node", "bun"].map((r) => read(`latest-${r}.json`)).filter(Boolean);
const floor = read("floor.json");
if (runs.length === 0) {
  console.error(`no results in ${dir}: run bench/bench.sh (or node bench/run.js) first`);
  process.exit(1);
}

const IMPLS = ["ours", "cli", "dockerode", "floor"];
const HEADERS = { ours: "ours (addon)", cli: "CLI ref", dockerode: "dockerode ref", floor: "floor" };

const stat = (run, workload, impl, metric) => run.workloads?.[workload]?.impls?.[impl]?.metrics?.[metric]?.stats;
const check = (run, workload, impl, key) => run.workloads?.[workload]?.impls?.[impl]?.[key];
const f = (v, digits = 1) => (v === undefined || v === null || !Number.isFinite(v) ? "–" : v >= 100 ? v.toFixed(0) : v.toFixed(digits));
const ok = (cond) => (cond === undefined ? "?" : cond ? "✅" : "❌");
const label = (run) => `${run.runtime.name} ${run.runtime.version}`;

// ------------------------------------------------------------------ targets

function targets(run) {
  const rows = [];
  const lat = (impl) => stat(run, "latency", impl, "replyMs");
  const ours = lat("ours");
  const cli = lat("cli");
  if (ours && cli) {
    const ratio = ours.median / cli.median;
    const fl = lat("floor");
    const floorRatio = fl ? `; the floor itself: ${(fl.median / cli.median).toFixed(2)}×` : "";
    rows.push(["a", "sequential reply ≤ 0.9× CLI", `${f(ours.median)} / ${f(cli.median)} ms = ${ratio.toFixed(2)}×${floorRatio}`, ok(ratio <= 0.9)]);
  }
  const inRun = lat("floor");
  const fl = inRun ?? floor?.createToExitMs;
  if (ours && fl) {
    const d = ours.median - fl.median;
    rows.push([
      "b",
      "sequential reply ≤ engine floor + 10 ms",
      `${f(ours.median)} − ${f(fl.median)} ms = ${d >= 0 ? "+" : ""}${f(d)} ms (${inRun ? "floor interleaved in the same run" : "floor.json"})`,
      ok(d <= 10),
    ]);
  }
  const procs = stat(run, "concurrent", "ours", "maxChildProcesses");
  if (procs) {
    const cliProcs = stat(run, "concurrent", "cli", "maxChildProcesses");
    const cliRss = stat(run, "concurrent", "cli", "maxChildRssMiB");
    rows.push([
      "c",
      "16 concurrent: zero extra processes",
      `${f(procs.max, 0)} (CLI ref: ${f(cliProcs?.max, 0)} processes, ${f(cliRss?.median)} MiB RSS)`,
      ok(procs.max === 0),
    ]);
  }
  const gap = (workload) => {
    const s = stat(run, workload, "ours", "maxGapMs");
    if (!s) return;
    const flo = stat(run, workload, "floor", "maxGapMs");
    const ctx = flo ? `; an idle process under the same load: ${f(flo.median)} ms` : "";
    return [`${f(s.median)} ms median of rounds, worst ${f(s.max)}${ctx}`, ok(s.median <= 20)];
  };
  const g1 = gap("concurrent");
  if (g1) rows.push(["d", "event-loop stall, 16 concurrent ≤ 20 ms", ...g1]);
  const g2 = gap("killall");
  if (g2) rows.push(["e", "event-loop stall, killAll() of 8 ≤ 20 ms", ...g2]);
  const call = stat(run, "killall", "ours", "callMs");
  if (call) rows.push(["f", "killAll() returns ≤ 5 ms", `worst ${f(call.max, 2)} ms (median ${f(call.median, 2)})`, ok(call.max <= 5)]);
  const chatty = stat(run, "chatty", "ours", "rssGrowthMiB");
  if (chatty) {
    const c = check(run, "chatty", "ours", "correct");
    rows.push([
      "g",
      `${run.config.chattyMiB} MiB on stdout: RSS growth ≤ 64 MiB, reply correct`,
      `worst ${f(chatty.max)} MiB, ${c ? `${c.ok}/${c.total}` : "?"} correct`,
      ok(chatty.max <= 64 && c && c.ok === c.total),
    ]);
  }
  const big = stat(run, "payload", "ours", "bigMs");
  if (big) {
    const c = check(run, "payload", "ours", "intact");
    const small = stat(run, "payload", "ours", "smallMs");
    rows.push([
      "h",
      `${run.config.payloadMiB} MiB payload delivered intact`,
      `${f(big.median)} ms (tiny payload: ${f(small?.median)} ms), ${c ? `${c.ok}/${c.total}` : "?"} intact`,
      ok(c && c.ok === c.total),
    ]);
  }
  return rows;
}

// ------------------------------------------------------------------ standby against the warm floor

/** Claimed standby turns against the warm floor interleaved with them (bench/floor's warm round). */
function standbyRows(run) {
  const claimed = stat(run, "standby", "ours", "claimedReplyMs");
  const cold = stat(run, "standby", "ours", "coldReplyMs");
  const warm = stat(run, "standby", "floor", "warmWriteToExitMs") ?? floor?.warm?.writeToExitMs;
  if (!claimed) return [];
  const where = stat(run, "standby", "floor", "warmWriteToExitMs") ? "interleaved" : "floor.json";
  const rows = [];
  const q = (s) => `${f(s.median)} / ${f(s.p90)}`;
  rows.push(["claimed standby turn, ms (p50 / p90)", q(claimed), warm ? `warm floor (${where}): ${q(warm)}` : "–", ""]);
  if (warm) {
    const d = claimed.median - warm.median;
    const d90 = claimed.p90 - warm.p90;
    rows.push([
      "claimed − warm floor, ms (p50 / p90); target p50 ≤ +3 ms",
      `${d >= 0 ? "+" : ""}${f(d)} / ${d90 >= 0 ? "+" : ""}${f(d90)}`,
      `${(claimed.median / warm.median).toFixed(2)}× the warm floor`,
      ok(d <= 3),
    ]);
  }
  if (cold) rows.push(["claimed / cold (p50), reported", `${f(claimed.median)} / ${f(cold.median)} ms`, `${(claimed.median / cold.median).toFixed(2)}×`, ""]);
  return rows;
}

// ------------------------------------------------------------------ scale curve

const SCALE_METRICS = [
  ["wallMs", "wall time, ms", (o, c) => ok(o <= c)],
  ["turnsPerSec", "turns per second", null],
  ["maxGapMs", "worst event-loop stall, ms", (o, c, n) => (n >= 64 ? ok(o <= 0.1 * c) : "")],
  ["treeRssPeakMiB", "host RSS with children, peak, MiB", null],
  ["treeRssGrowthMiB", "host RSS with children, growth, MiB", null],
  ["engineDaemonCpuMs", "dockerd + containerd CPU, ms", null],
  ["engineShimCpuMs", "containerd-shims CPU, ms", null],
  ["load1", "1-min load average at the start", null],
];

function scaleRows(run) {
  const ns = Object.keys(run.workloads ?? {})
    .filter((w) => w.startsWith("scale-"))
    .map((w) => Number(w.slice("scale-".length)))
    .sort((a, b) => a - b);
  const rows = [];
  for (const n of ns) {
    for (const [metric, title, judge] of SCALE_METRICS) {
      const o = stat(run, `scale-${n}`, "ours", metric);
      const c = stat(run, `scale-${n}`, "cli", metric);
      if (!o && !c) continue;
      const ratio = o && c && c.median ? `${(o.median / c.median).toFixed(2)}×` : "–";
      const verdict = judge && o && c ? judge(o.median, c.median, n) : "";
      const digits = metric === "load1" ? 2 : 1;
      rows.push([n, title, o ? f(o.median, digits) : "–", c ? f(c.median, digits) : "–", ratio, verdict]);
    }
    const oc = check(run, `scale-${n}`, "ours", "correct");
    const cc = check(run, `scale-${n}`, "cli", "correct");
    rows.push([n, "turns correct", oc ? `${oc.ok}/${oc.total}` : "–", cc ? `${cc.ok}/${cc.total}` : "–", "", ""]);
  }
  // Flat in N, per added turn from the smallest N to the largest: (1) the growth within a
  // round (peak less the round's first sample), and (2) the absolute peak. The rounds run in
  // ascending N, so (2) also carries what earlier rounds left in the allocator. A fixture turn
  // holds a few KiB (payload, result, bookkeeping): 64 KiB per turn leaves the allocator its
  // slack and still tells a per-turn process or buffer.
  if (ns.length > 1) {
    const lo = ns[0];
    const hi = ns[ns.length - 1];
    const per = (impl, metric) => {
      const a = stat(run, `scale-${lo}`, impl, metric);
      const b = stat(run, `scale-${hi}`, impl, metric);
      return a && b ? ((b.median - a.median) * 1024) / (hi - lo) : undefined;
    };
    for (const [metric, title] of [
      ["treeRssGrowthMiB", "host RSS growth within a round, per added turn, KiB (flat: ≤ 64)"],
      ["treeRssPeakMiB", "host RSS peak, per added turn, KiB (flat: ≤ 64)"],
    ]) {
      const o = per("ours", metric);
      const c = per("cli", metric);
      rows.push([`${lo}→${hi}`, title, f(o), f(c), "", o === undefined ? "" : ok(o <= 64)]);
    }
  }
  return rows;
}

// ------------------------------------------------------------------ all figures

const METRICS = [
  ["latency", "replyMs", "sequential reply, ms"],
  ["concurrent", "wallMs", "16 concurrent: wall time, ms"],
  ["concurrent", "maxChildProcesses", "16 concurrent: child processes (max)"],
  ["concurrent", "maxChildRssMiB", "16 concurrent: children's RSS, MiB"],
  ["concurrent", "rssGrowthMiB", "16 concurrent: host RSS growth, MiB"],
  ["concurrent", "maxGapMs", "16 concurrent: event-loop stall, ms"],
  ["killall", "callMs", "killAll(8): call, ms"],
  ["killall", "allRejectedMs", "killAll(8): until all rejected, ms"],
  ["killall", "maxGapMs", "killAll(8): event-loop stall, ms"],
  ["killall", "childProcessesSpawned", "killAll(8): processes spawned"],
  ["chatty", "rssGrowthMiB", "chatty agent: host RSS growth, MiB"],
  ["chatty", "durationMs", "chatty agent: reply, ms"],
  ["chatty", "maxGapMs", "chatty agent: event-loop stall, ms"],
  ["payload", "smallMs", "tiny payload: reply, ms"],
  ["payload", "bigMs", "10 MiB payload: reply, ms"],
  ["payload", "bigMaxGapMs", "10 MiB payload: event-loop stall, ms"],
  ["binding", "isRunningPerSec", "isRunning() calls/s"],
  ["binding", "activeCountPerSec", "activeCount calls/s"],
];

function cell(s, metric) {
  if (!s) return "";
  if (/Process/.test(metric)) return s.n <= 1 || s.min === s.max ? f(s.median, 0) : `${f(s.median, 0)} [${f(s.min, 0)}–${f(s.max, 0)}]`;
  if (metric.endsWith("PerSec")) return s.median >= 1e6 ? `${(s.median / 1e6).toFixed(1)} M` : `${(s.median / 1e3).toFixed(0)} k`;
  if (s.n <= 1) return f(s.median);
  return `${f(s.median)} [${f(s.p10)}–${f(s.p90)}]`;
}

function figures() {
  const lines = [];
  lines.push(`| figure | runtime | ${IMPLS.map((i) => HEADERS[i]).join(" | ")} |`);
  lines.push(`| --- | --- | ${IMPLS.map(() => "---").join(" | ")} |`);
  for (const [workload, metric, title] of METRICS) {
    for (const run of runs) {
      const cells = IMPLS.map((impl) => cell(stat(run, workload, impl, metric), metric));
      if (cells.every((c) => c === "")) continue;
      const name = workload === "chatty" || workload === "payload" ? title.replace(/^10 MiB/, `${run.config.payloadMiB} MiB`).replace("chatty agent", `${run.config.chattyMiB} MiB chatty agent`) : title;
      lines.push(`| ${name} | ${run.runtime.name} | ${cells.join(" | ")} |`);
    }
  }
  return lines.join("\n");
}

// ------------------------------------------------------------------ print

const out = [];
const first = runs[0];
out.push(`## Runner bench`);
out.push("");
out.push(
  `${runs.map((r) => `${label(r)} (${r.timestamp})`).join(", ")}; Docker engine ${first.host.engine} (API ${first.host.engineApi}), ` +
    `${first.host.cpus} × ${first.host.cpuModel ?? "CPU"}, ${first.host.memMiB} MiB, kernel ${first.host.kernel}. ` +
    `Rounds: ${first.config.rounds} sequential, ${first.config.heavyRounds} heavy, ${first.config.chattyRounds} chatty; implementations alternate round by round.`,
);
if (floor) {
  out.push("");
  out.push(
    `Engine floor (bench/floor, raw bollard calls, ${floor.rounds} rounds): create→exit ${f(floor.createToExitMs.median)} ms ` +
      `[${f(floor.createToExitMs.p10)}–${f(floor.createToExitMs.p90)}], of which start ${f(floor.phasesMs.start.median)} ms; ` +
      `remove ${f(floor.removeMs.median)} ms.` +
      (floor.warm
        ? ` Warm floor (a started agent waiting on stdin, ${floor.warm.rounds} rounds): write→exit ${f(floor.warm.writeToExitMs.median)} ms ` +
          `[${f(floor.warm.writeToExitMs.p10)}–${f(floor.warm.writeToExitMs.p90)}].`
        : ""),
  );
}
out.push("");
out.push(`### Targets (our addon)`);
out.push("");
out.push(`| target | ${runs.map(label).join(" | ")} |`);
out.push(`| --- | ${runs.map(() => "---").join(" | ")} |`);
const perRun = runs.map(targets);
const keys = [...new Set(perRun.flatMap((rows) => rows.map((r) => r[0])))].sort();
for (const key of keys) {
  const title = perRun.flatMap((rows) => rows.filter((r) => r[0] === key))[0][1];
  const cells = perRun.map((rows) => {
    const row = rows.find((r) => r[0] === key);
    return row ? `${row[3]} ${row[2]}` : "–";
  });
  out.push(`| ${title} | ${cells.join(" | ")} |`);
}
for (const run of runs) {
  const sb = standbyRows(run);
  if (sb.length) {
    out.push("");
    out.push(`### Claimed standby turns against the warm floor (${label(run)})`);
    out.push("");
    out.push("| figure | ours | against | target |");
    out.push("| --- | --- | --- | --- |");
    for (const r of sb) out.push(`| ${r.join(" | ")} |`);
  }
  const sc = scaleRows(run);
  if (sc.length) {
    out.push("");
    out.push(`### Scale: N turns at once, ours against the CLI reference (${label(run)}; median of ${run.config.scaleRounds} rounds)`);
    out.push("");
    out.push("| N | figure | ours | CLI ref | ours / CLI | target |");
    out.push("| --- | --- | --- | --- | --- | --- |");
    for (const r of sc) out.push(`| ${r.join(" | ")} |`);
  }
  if (run.loadAverages) {
    out.push("");
    out.push(
      `Load averages (1/5/15 min) around each workload (${label(run)}): ` +
        Object.entries(run.loadAverages)
          .map(([w, l]) => `${w} ${l.before.map((x) => x.toFixed(2)).join("/")} → ${l.after.map((x) => x.toFixed(2)).join("/")}`)
          .join("; ") +
        ".",
    );
  }
}
out.push("");
out.push(`### All figures (median [p10–p90] over rounds)`);
out.push("");
out.push(figures());
for (const run of runs) {
  const errs = [];
  for (const [w, wl] of Object.entries(run.workloads)) {
    for (const [impl, i] of Object.entries(wl.impls)) if (i.errors) errs.push(`${w}/${impl}: ${i.errors.length} error(s), e.g. ${i.errors[0]}`);
  }
  if (errs.length) {
    out.push("");
    out.push(`Errors under ${label(run)}:`);
    for (const e of errs) out.push(`- ${e}`);
  }
}
console.log(out.join("\n"));
