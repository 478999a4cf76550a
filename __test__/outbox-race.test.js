// The host reads EgressFile.path after reply() settles (uploads, readFileSync),
// while another container can still write the outbox: under the defaults any
// other space's agent (the spaces folder is mounted whole), with isolateSpaces
// the same space's next container (its standby). Here that container flips
// outbox/race.txt between a fresh file, a link to /proc/self/environ and a
// FIFO as fast as it can, for 30 turns, and the host reads every returned path
// at once and again for a while after (as an upload queue would). What the
// host reads must never be its own environment, never a FIFO, and every path
// must be the runner's private copy.
//
// With RACE_REPORT=<file>, each case appends what it observed (one JSON line,
// written before its assertions), for the before/after table.
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const h = require("./helpers");

const TURNS = 30;
// How long the host keeps reading a turn's files after the reply, and how often.
const READ_FOR_MS = 1_500;
const READ_EVERY_MS = 20;
// Where the runner keeps this process's copies: <tmp>/mercury-outbox-<pid>-<random>/.
const COPY_PREFIX = path.join(os.tmpdir(), `mercury-outbox-${process.pid}-`);

// Entries of this process's own environment, as a link to /proc/self/environ shows it to the host.
const HOST_ENV = fs
  .readFileSync("/proc/self/environ")
  .toString("latin1")
  .split("\0")
  .filter((e) => e.length >= 8);

/**
 * One read as the host makes it (open following links, read to the end), except
 * that it never blocks: the open is non-blocking and a FIFO or device is
 * reported, not read, where the host's readFileSync would hang or never end.
 */
function hostRead(file) {
  let fd;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (e) {
    return { kind: "missing", code: e.code };
  }
  try {
    const st = fs.fstatSync(fd);
    if (st.isFIFO()) return { kind: "fifo" };
    if (!st.isFile()) return { kind: "special" };
    return { kind: "file", content: fs.readFileSync(fd).toString("latin1") };
  } finally {
    fs.closeSync(fd);
  }
}

/** Reads each file at once, then every READ_EVERY_MS for READ_FOR_MS; tallies what the host got. */
async function readLikeTheHost(files, tally) {
  const until = Date.now() + READ_FOR_MS;
  for (let first = true; first || Date.now() < until; first = false) {
    for (const f of files) {
      const t0 = performance.now();
      const got = hostRead(f.path);
      tally.slowestReadMs = Math.max(tally.slowestReadMs, performance.now() - t0);
      tally.reads += 1;
      if (got.kind !== "file") {
        tally[got.kind] = (tally[got.kind] || 0) + 1;
        continue;
      }
      if (HOST_ENV.some((entry) => got.content.includes(entry))) {
        tally.leakedReads += 1;
        tally.leakedFiles.add(f.path + "#" + tally.turn);
      } else if (!/^fresh \d+\n$/.test(got.content)) {
        tally.otherContent += 1;
      }
    }
    await new Promise((r) => setTimeout(r, READ_EVERY_MS));
  }
}

function newTally(name) {
  return {
    name,
    turn: 0,
    turns: 0,
    returnedFiles: 0,
    outsideCopies: 0,
    reads: 0,
    leakedReads: 0,
    leakedFiles: new Set(),
    otherContent: 0,
    slowestReadMs: 0,
  };
}

function report(tally, lines) {
  // Files the scan kept but the copy step refused: the race caught between scan and copy.
  const changed = lines
    .filter((l) => l.msg === "Outbox files skipped" && /changed after the scan/.test(l.fields.reason))
    .reduce((sum, l) => sum + l.fields.count, 0);
  const observed = {
    ...tally,
    leakedFiles: tally.leakedFiles.size,
    slowestReadMs: Math.round(tally.slowestReadMs),
    changedAfterScan: changed,
  };
  if (process.env.RACE_REPORT) fs.appendFileSync(process.env.RACE_REPORT, JSON.stringify(observed) + "\n");
  return observed;
}

function expectNothingReachedTheHost(observed) {
  expect(observed.turns).toBe(TURNS);
  // The race was on: files were returned while the racer ran.
  expect(observed.returnedFiles).toBeGreaterThan(0);
  expect(observed).toMatchObject({ outsideCopies: 0, leakedReads: 0, leakedFiles: 0, otherContent: 0 });
  expect(observed.fifo).toBeUndefined();
  expect(observed.special).toBeUndefined();
  expect(observed.missing).toBeUndefined();
}

async function victimTurns(ctx, spaceId, extraEnv, tally) {
  for (let turn = 1; turn <= TURNS; turn++) {
    tally.turn = turn;
    const result = await ctx.runner.reply(h.replyInput(ctx, spaceId, { extraEnv, prompt: `turn ${turn}` }));
    tally.turns += 1;
    tally.returnedFiles += result.files.length;
    for (const f of result.files) {
      if (!f.path.startsWith(COPY_PREFIX) || f.path.startsWith(ctx.config.spacesDir)) tally.outsideCopies += 1;
    }
    await readLikeTheHost(result.files, tally);
  }
}

describe("a container racing the host's reads of returned outbox paths", () => {
  test(`defaults: another space's agent flips race.txt during ${TURNS} turns; the host never reads its environment or a FIFO`, async () => {
    const ctx = h.makeRunner({ containerTimeoutMs: 300_000 });
    const racer = ctx.runner.reply(
      h.replyInput(ctx, "racer", { extraEnv: { FIXTURE_MODE: "outbox-race", FIXTURE_OTHER: "victim", FIXTURE_HOLD: "1" } }),
    );
    racer.catch(() => {}); // aborted at the end
    // The racer is at work once race.txt exists in the victim's outbox.
    await h.waitFor("the racer", () => fs.existsSync(path.join(ctx.config.spacesDir, "victim", "outbox")), 30_000);
    const tally = newTally("defaults");
    try {
      // The victim's own agent writes nothing: every file it returns is the racer's race.txt.
      await victimTurns(ctx, "victim", { FIXTURE_MODE: "echo" }, tally);
    } finally {
      ctx.runner.abort("racer");
      await racer.catch(() => {});
    }
    expectNothingReachedTheHost(report(tally, ctx.lines));
  }, 600_000);

  test(`isolateSpaces + standby: the space's next container flips race.txt during ${TURNS} turns; the host never reads its environment or a FIFO`, async () => {
    const ctx = h.makeRunner({ containerTimeoutMs: 60_000 }, { isolateSpaces: true, standby: true });
    const tally = newTally("isolateSpaces+standby");
    try {
      // Each turn's agent races its own outbox from its start; its standby races
      // while the host reads the previous turn's files. FIXTURE_SLEEP gives the
      // turn's scan a fresh race.txt to find.
      await victimTurns(ctx, "victim", { FIXTURE_MODE: "outbox-race", FIXTURE_SLEEP: "0.3" }, tally);
      const observed = report(tally, ctx.lines);
      // Standbys served the turns (the racing container was the space's next one).
      const claimed = ctx.lines.filter((l) => l.msg === "Container started" && l.fields.standby === true).length;
      expect(claimed).toBeGreaterThan(TURNS / 2);
      expectNothingReachedTheHost(observed);
    } finally {
      ctx.runner.killAll();
    }
  }, 600_000);
});
