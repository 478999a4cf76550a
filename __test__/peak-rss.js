// The host process's peak RSS growth while some work runs: what a hostile
// result costs the host. One measure for the bound the tests assert
// (__test__/hostile.test.js) and the figure the bench prints
// (bench/result-memory.js), so the two speak of the same number.
//
// The kernel's high-water mark (VmHWM, reset through /proc/self/clear_refs
// where this process may write it) sees a peak between samples; where it may
// not, rss sampled every 5 ms is all there is, and `hwm` says so.
const fs = require("node:fs");

const SAMPLE_EVERY_MS = 5;

/** Resets VmHWM to the current rss; false where that is not allowed (the samples alone then). */
function resetHighWaterMark() {
  try {
    fs.writeFileSync("/proc/self/clear_refs", "5");
    return true;
  } catch {
    return false;
  }
}

/** VmHWM in bytes, or undefined where /proc/self/status has none. */
function highWaterMark() {
  const kb = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync("/proc/self/status", "utf8"));
  return kb ? Number(kb[1]) * 1024 : undefined;
}

/**
 * Peak rss growth of this process while `work()` runs, from the rss just
 * before. Resolves with what `work()` resolved with (`value`), the growth in
 * bytes, and whether the kernel's high-water mark took part (`hwm`); if
 * `work()` rejects, so does this, sampling stopped.
 */
async function peakRssGrowth(work) {
  const base = process.memoryUsage().rss;
  let peak = base;
  const sample = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, SAMPLE_EVERY_MS);
  const hwm = resetHighWaterMark();
  let value;
  try {
    value = await work();
  } finally {
    clearInterval(sample);
  }
  if (hwm) peak = Math.max(peak, highWaterMark() ?? peak);
  peak = Math.max(peak, process.memoryUsage().rss);
  return { value, growth: peak - base, hwm };
}

module.exports = { peakRssGrowth };
