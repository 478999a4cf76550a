"use strict";
// What a large result costs the host (issue 18, "memory per result"): the
// peak RSS growth of this process while one turn runs whose agent prints a
// ~10 MB result span, measured as __test__/hostile.test.js measures it
// (VmHWM reset through /proc/self/clear_refs where allowed, rss sampled every
// 5 ms besides). Two spans, from the fixture agent:
//
//   string  {"reply":"aaaa..."}: a reply of n characters (json-bomb-string);
//   array   {"reply":"bomb","junk":[1,1,...]}: the same size beside a short reply (json-bomb-array).
//
// For the string it also prints the growth beyond the JS string itself: the
// reply is n ASCII characters, which V8 keeps as a one-byte string of n bytes;
// that string is the one part no runner can avoid. Each figure is the median
// of the rounds; the first round of a process is printed but left out of the
// median when there are more (it pays the allocator's and V8's first growth).
//
// Not a test: the figures vary with the allocator's state and V8's heap.
// Needs the engine and the fixture image.
//
//   flock -s /tmp/mercury-engine.lock node --expose-gc bench/result-memory.js
//   BENCH_PACKAGE=/other/tree node --expose-gc bench/result-memory.js   # another build, to compare
//
// Knobs: BENCH_ROUNDS (6), BENCH_RESULT_CHARS (10000000), BENCH_IMAGE
// (mercury-test-agent:latest), BENCH_RESULT_SPANS (string,array).
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const pkg = process.env.BENCH_PACKAGE || path.join(__dirname, "..");
const { AgentContainerRunner } = require(pkg);

const MiB = 1024 * 1024;
const ROUNDS = Number(process.env.BENCH_ROUNDS || 6);
const CHARS = Number(process.env.BENCH_RESULT_CHARS || 10_000_000);
const IMAGE = process.env.BENCH_IMAGE || "mercury-test-agent:latest";
const SPANS = (process.env.BENCH_RESULT_SPANS || "string,array").split(",").filter(Boolean);

// The span's bytes (trimmed), as the fixture agent prints them.
const SPAN_BYTES = {
  string: '{"reply":""}'.length + CHARS,
  array: '{"reply":"bomb","junk":['.length + 2 * Math.floor(CHARS / 2) + "1]}".length,
};

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Peak RSS growth while `work` runs, as __test__/hostile.test.js's peakRssGrowth measures it. */
async function peakRssGrowth(work) {
  const base = process.memoryUsage().rss;
  let peak = base;
  const sample = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 5);
  let hwm = false;
  try {
    fs.writeFileSync("/proc/self/clear_refs", "5");
    hwm = true;
  } catch {
    // not allowed here: the samples alone
  }
  let value;
  try {
    value = await work();
  } finally {
    clearInterval(sample);
  }
  if (hwm) {
    const kb = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync("/proc/self/status", "utf8"));
    if (kb) peak = Math.max(peak, Number(kb[1]) * 1024);
  }
  peak = Math.max(peak, process.memoryUsage().rss);
  return { value, growth: peak - base, hwm };
}

async function main() {
  const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "result-memory-")));
  const runner = new AgentContainerRunner(
    {
      agentContainerImage: IMAGE,
      containerTimeoutMs: 60_000,
      globalDir: path.join(root, "global"),
      spacesDir: path.join(root, "spaces"),
      modelProvider: "anthropic",
      port: 3000,
      dbPath: path.join(root, "db.sqlite"),
    },
    { packageRoot: path.join(root, "pkg") },
  );
  const env = {
    string: { FIXTURE_MODE: "json-bomb-string", FIXTURE_N: String(CHARS) },
    array: { FIXTURE_MODE: "json-bomb-array", FIXTURE_N: String(Math.floor(CHARS / 2)) },
  };
  console.log(`package ${pkg}, ${CHARS} characters, ${ROUNDS} rounds, image ${IMAGE}`);
  try {
    for (const span of SPANS) {
      const growths = [];
      for (let round = 0; round < ROUNDS; round++) {
        if (global.gc) global.gc();
        const spaceId = `mem-${span}-${round}`;
        const input = { spaceId, spaceWorkspace: path.join(root, "spaces", spaceId), messages: [], prompt: "hello agent", callerId: "c", extraEnv: env[span] };
        const { value, growth, hwm } = await peakRssGrowth(() => runner.reply(input));
        const ok = span === "string" ? value.reply.length === CHARS : value.reply === "bomb";
        if (!ok) throw new Error(`unexpected reply for ${span}: ${String(value.reply).slice(0, 40)}`);
        growths.push(growth);
        console.log(`${span} round ${round}: +${(growth / MiB).toFixed(1)} MiB${hwm ? "" : " (rss samples only)"}`);
      }
      const counted = growths.length > 1 ? growths.slice(1) : growths;
      const m = median(counted);
      const spanMiB = SPAN_BYTES[span] / MiB;
      let line = `${span}: span ${spanMiB.toFixed(1)} MiB, peak RSS growth median +${(m / MiB).toFixed(1)} MiB (${(m / SPAN_BYTES[span]).toFixed(2)}x the span)`;
      if (span === "string") {
        const beyond = m - CHARS;
        line += `; beyond the JS string (${(CHARS / MiB).toFixed(1)} MiB) +${(beyond / MiB).toFixed(1)} MiB (${(beyond / SPAN_BYTES[span]).toFixed(2)}x the span)`;
      }
      console.log(line);
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
