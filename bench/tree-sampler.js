"use strict";
// A sampler that runs beside the bench, in a process of its own, so that
// reading /proc for 128 child processes never lands on the measured event
// loop. `node bench/tree-sampler.js <pid> [intervalMs]`:
//
// - the RSS of <pid> and all its descendants (this sampler excepted), summed,
//   every intervalMs (default 20): "host RSS including child processes";
// - the engine's CPU time (user + system, own and of waited-for children, from
//   /proc/<pid>/stat) of dockerd and containerd, read at start and stop, and of
//   every containerd-shim seen (the per-container shims come and go: each is
//   counted from its first to its last sample, every 5 intervals, so the last
//   few ms of a shim that exits are missed).
//
// It prints `{"ready":true}` after its first sample; on the line "stop" on its
// stdin, one JSON line with the figures, then exits. Linux only.

const fs = require("node:fs");
const { execFileSync } = require("node:child_process");

const target = Number(process.argv[2]);
const intervalMs = Number(process.argv[3]) || 20;
const PAGE = 4096;
let ticksPerSec = 100;
try {
  ticksPerSec = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
} catch {
  // 100 on every Linux this runs on.
}

function read(file) {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return null; // The process is gone: it counts as nothing.
  }
}

/** <pid> and its descendants, through /proc/<pid>/task/<tid>/children. */
function tree(pid, out = []) {
  out.push(pid);
  let tasks = [];
  try {
    tasks = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tasks) {
    const text = read(`/proc/${pid}/task/${tid}/children`);
    if (!text) continue;
    for (const child of text.split(" ")) {
      const c = Number(child);
      if (c && c !== process.pid) tree(c, out);
    }
  }
  return out;
}

function rssBytes(pids) {
  let sum = 0;
  for (const pid of pids) {
    const statm = read(`/proc/${pid}/statm`);
    if (statm) sum += Number(statm.split(" ")[1]) * PAGE;
  }
  return sum;
}

/** utime + stime + cutime + cstime of a process, in ms (null if gone). */
function cpuMs(pid) {
  const stat = read(`/proc/${pid}/stat`);
  if (!stat) return null;
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / ticksPerSec) * 1000;
}

/** pids by command name (the engine's daemons, the container shims). */
function byComm(match) {
  const out = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const comm = read(`/proc/${entry}/comm`);
    if (comm && match(comm.trim())) out.push(Number(entry));
  }
  return out;
}

const isShim = (c) => c.startsWith("containerd-shim");
const daemons = byComm((c) => c === "dockerd" || c === "containerd");
const daemonsStart = new Map(daemons.map((p) => [p, cpuMs(p)]));
const shims = new Map(); // pid -> { first, last } CPU ms
/** Shims alive at the start count from then; shims born later count from zero. */
function sampleShims(atStart) {
  for (const pid of byComm(isShim)) {
    const ms = cpuMs(pid);
    if (ms === null) continue;
    const s = shims.get(pid);
    if (s) s.last = ms;
    else shims.set(pid, { first: atStart ? ms : 0, last: ms });
  }
}
sampleShims(true);

const rssStart = rssBytes(tree(target));
let rssPeak = rssStart;
let n = 0;
const timer = setInterval(() => {
  const rss = rssBytes(tree(target));
  if (rss > rssPeak) rssPeak = rss;
  if (++n % 5 === 0) sampleShims(false);
}, intervalMs);
process.stdout.write(JSON.stringify({ ready: true }) + "\n");

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (d) => {
  input += d;
  if (!input.includes("stop")) return;
  clearInterval(timer);
  sampleShims(false);
  let daemonMs = 0;
  for (const [pid, start] of daemonsStart) {
    const end = cpuMs(pid);
    if (start !== null && end !== null) daemonMs += end - start;
  }
  let shimMs = 0;
  for (const s of shims.values()) shimMs += s.last - s.first;
  const MiB = 1024 * 1024;
  process.stdout.write(
    JSON.stringify({
      rssStartMiB: rssStart / MiB,
      rssPeakMiB: rssPeak / MiB,
      engineDaemonCpuMs: daemonMs,
      engineShimCpuMs: shimMs,
      shimsSeen: shims.size,
      daemons: daemons.length,
    }) + "\n",
  );
  process.exit(0);
});
