// What the private copy of outbox files costs per turn: `scanOutbox` on a
// workspace holding one fresh file, timed per call (scan + copy + removal of
// the previous call's copy, as a turn pays them). No engine needed.
//
//   node bench/outbox-copy.js            # this tree's build
//   BENCH_PACKAGE=/other/tree node bench/outbox-copy.js
//
// Compare with a build from before the copies (paths into the outbox) to see
// the copy's share. Not a test: the numbers vary with the machine and its load.
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const { scanOutbox } = require(process.env.BENCH_PACKAGE || "..");
const ROUNDS = Number(process.env.BENCH_ROUNDS || 200);
const SIZES = [
  ["10 KiB", 10 * 1024],
  ["1 MiB", 1024 * 1024],
  ["25 MiB", 25 * 1024 * 1024],
];

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const root = fs.mkdtempSync(path.join(os.tmpdir(), "outbox-bench-"));
try {
  for (const [label, size] of SIZES) {
    const ws = path.join(root, label.replace(/\s/g, ""));
    fs.mkdirSync(path.join(ws, "outbox"), { recursive: true });
    fs.writeFileSync(path.join(ws, "outbox", "chart.png"), Buffer.alloc(size, 7));
    const rounds = size > 8 * 1024 * 1024 ? Math.ceil(ROUNDS / 10) : ROUNDS;
    const times = [];
    for (let i = 0; i < rounds; i++) {
      const t0 = process.hrtime.bigint();
      const files = scanOutbox(ws, 0);
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      if (files.length !== 1 || files[0].sizeBytes !== size) throw new Error(`unexpected scan: ${JSON.stringify(files)}`);
    }
    console.log(`${label.padEnd(7)} median ${median(times).toFixed(3)} ms  (${rounds} scans)`);
  }
} finally {
  fs.rmSync(root, { recursive: true, force: true });
}
