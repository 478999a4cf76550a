"use strict";
// What a large result costs the host (issue 18, "memory per result"): the
// peak RSS growth of this process while one turn runs whose agent prints a
// ~10 MB result span, measured by __test__/peak-rss.js as the hostile tests
// measure it (VmHWM reset through /proc/self/clear_refs where allowed, rss
// sampled every 5 ms besides). Two spans, from the fixture agent:
//
//   string  {"reply":"aaaa..."}: a reply of n characters (json-bomb-string);
//   array   {"reply":"bomb","junk":[1,1,...]}: the same size beside a short reply (json-bomb-array).
//
// For the string it also prints the growth beyond the JS string itself: the
// reply is n ASCII characters, which V8 keeps as a one-byte string of n bytes;
// that string is the one part no runner can avoid. Each round runs in a fresh
// process: one ordinary (echo) turn, then BENCH_RESULT_TURNS turns with the
// span, one at a time, each measured from its own start. The round's figure is
// its worst turn (later turns meet an allocator whose mmap threshold earlier
// ones raised, where a growing buffer is copied rather than remapped); the
// printed figure is the median of the rounds' worst, the first turns' median beside it.
//
// Not a test: the figures vary with the allocator's state and V8's heap.
// Needs the engine and the fixture image.
//
//   flock -s /tmp/mercury-engine.lock node --expose-gc bench/result-memory.js
//   BENCH_PACKAGE=/other/tree node --expose-gc bench/result-memory.js   # another build, to compare
//
// Knobs: BENCH_ROUNDS (5), BENCH_RESULT_TURNS (3), BENCH_RESULT_CHARS (10000000),
// BENCH_IMAGE (mercury-test-agent:latest), BENCH_RESULT_SPANS (string,array).
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { spawnSync } = require("node:child_process");
const { peakRssGrowth } = require("../__test__/peak-rss.js");

const pkg = process.env.BENCH_PACKAGE || path.join(__dirname, "..");
const { AgentContainerRunner } = require(pkg);

const MiB = 1024 * 1024;
const ROUNDS = Number(process.env.BENCH_ROUNDS || 5);
const TURNS = Number(process.env.BENCH_RESULT_TURNS || 3);
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

/** One measured turn, in this process (a child of the bench): a warm-up echo turn, then the span. */
async function child(span) {
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
    { packageRoot: path.join(root, "pkg"), logger: { debug() {}, info() {}, warn() {}, error() {} } },
  );
  const input = (spaceId, extraEnv) => ({ spaceId, spaceWorkspace: path.join(root, "spaces", spaceId), messages: [], prompt: "hello agent", callerId: "c", extraEnv });
  const env = {
    string: { FIXTURE_MODE: "json-bomb-string", FIXTURE_N: String(CHARS) },
    array: { FIXTURE_MODE: "json-bomb-array", FIXTURE_N: String(Math.floor(CHARS / 2)) },
  };
  try {
    // The runtime, the engine client and the first turn's own costs are not the result's.
    await runner.reply(input("warm", { FIXTURE_MODE: "echo" }));
    const growths = [];
    let hwm = true;
    for (let turn = 0; turn < TURNS; turn++) {
      if (global.gc) global.gc();
      const measured = await peakRssGrowth(() => runner.reply(input(`${span}-${turn}`, env[span])));
      const reply = measured.value.reply;
      const ok = span === "string" ? reply.length === CHARS : reply === "bomb";
      if (!ok) throw new Error(`unexpected reply for ${span}: ${String(reply).slice(0, 40)}`);
      growths.push(measured.growth);
      hwm = hwm && measured.hwm;
    }
    process.stdout.write(JSON.stringify({ growths, hwm }) + "\n");
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

function mib(bytes) {
  return `${(bytes / MiB).toFixed(1)} MiB`;
}

/** Each round in a fresh process: in one process, memory an earlier round freed but kept would hide the next round's growth. */
function main() {
  console.log(`package ${pkg}, ${CHARS} characters, ${ROUNDS} rounds (a fresh process each) of ${TURNS} turns, image ${IMAGE}`);
  for (const span of SPANS) {
    const worst = [];
    const first = [];
    for (let round = 0; round < ROUNDS; round++) {
      const run = spawnSync(process.execPath, ["--expose-gc", __filename, "--child", span], { encoding: "utf8", env: process.env });
      const line = run.stdout.trim().split("\n").pop();
      if (run.status !== 0 || !line) throw new Error(`round ${round} of ${span} failed: ${run.stderr}`);
      const { growths, hwm } = JSON.parse(line);
      worst.push(Math.max(...growths));
      first.push(growths[0]);
      console.log(`${span} round ${round}: ${growths.map((g) => `+${mib(g)}`).join(", ")}${hwm ? "" : " (rss samples only)"}`);
    }
    const m = median(worst);
    let line = `${span}: span ${mib(SPAN_BYTES[span])}, peak RSS growth of the worst turn, median +${mib(m)} (${(m / SPAN_BYTES[span]).toFixed(2)}x the span; first turns +${mib(median(first))})`;
    if (span === "string") {
      const beyond = m - CHARS;
      line += `; beyond the JS string (${mib(CHARS)}) ${beyond < 0 ? "" : "+"}${mib(beyond)} (${(beyond / SPAN_BYTES[span]).toFixed(2)}x the span)`;
    }
    console.log(line);
  }
}

if (process.argv[2] === "--child") {
  child(process.argv[3]).catch((e) => {
    console.error(e);
    process.exit(1);
  });
} else {
  main();
}
