// scanOutbox: the host's own core/outbox function, exported so that module can
// become a re-export. The host's arguments and result shape; the runner's
// link-safe scan.
const fs = require("node:fs");
const path = require("node:path");
const h = require("./helpers");
const { execFileSync } = require("node:child_process");
const { scanOutbox } = require("..");

function workspaceWithFiles() {
  const ws = path.join(h.tempRoot(), "space");
  const outbox = path.join(ws, "outbox");
  fs.mkdirSync(outbox, { recursive: true });
  const start = Date.now() - 1000;
  const old = new Date(start - 60_000);
  fs.writeFileSync(path.join(outbox, "report.pdf"), "pdf!");
  fs.writeFileSync(path.join(outbox, "notes.md"), "# n");
  fs.writeFileSync(path.join(outbox, ".hidden"), "h");
  fs.writeFileSync(path.join(outbox, "old.txt"), "o");
  fs.utimesSync(path.join(outbox, "old.txt"), old, old);
  fs.writeFileSync(path.join(outbox, "big.bin"), Buffer.alloc(2048));
  fs.symlinkSync("/etc/hostname", path.join(outbox, "link.txt"));
  return { ws, outbox, start };
}

test("scanOutbox(workspace, startTimeMs, maxSizeBytes): the host's shape, fresh regular files only, never a link", () => {
  const { ws, outbox, start } = workspaceWithFiles();
  const files = scanOutbox(ws, start, 1024);
  expect(files).toEqual([
    { path: expect.any(String), filename: "notes.md", mimeType: "text/markdown", sizeBytes: 3 },
    { path: expect.any(String), filename: "report.pdf", mimeType: "application/pdf", sizeBytes: 4 },
  ]);
  // Each path is the runner's private copy of the file checked, never the outbox entry.
  for (const f of files) h.expectPrivateCopy(null, f);
  expect(files.map((f) => fs.readFileSync(f.path, "utf8"))).toEqual(["# n", "pdf!"]);
  expect(files.every((f) => !f.path.startsWith(outbox))).toBe(true);
  // The default cap is 25 MiB, so the 2 KiB file is in.
  expect(scanOutbox(ws, start).map((f) => f.filename)).toEqual(["big.bin", "notes.md", "report.pdf"]);
  expect(scanOutbox(path.join(ws, "missing"), start)).toEqual([]);
});

test("scanOutbox refuses an outbox that is a link, whatever it points at", () => {
  const ws = path.join(h.tempRoot(), "space");
  fs.mkdirSync(ws);
  fs.symlinkSync("/proc/self", path.join(ws, "outbox"));
  expect(scanOutbox(ws, 0)).toEqual([]);
});

test("scanOutbox refuses a workspace folder that is a link (another space's, say)", () => {
  const { ws, start } = workspaceWithFiles();
  const thief = path.join(path.dirname(ws), "thief");
  fs.symlinkSync(ws, thief);
  expect(scanOutbox(thief, start)).toEqual([]);
  // The real folder still gives its files.
  expect(scanOutbox(ws, start).length).toBe(3);
});

test("scanOutbox: a workspace's copies go at its next scan, and a later change to the outbox never reaches them", () => {
  const { ws, outbox, start } = workspaceWithFiles();
  const first = scanOutbox(ws, start, 1024);
  const notes = first.find((f) => f.filename === "notes.md");
  // The agent swaps the checked file for a link to the host's environment: the copy is unchanged.
  fs.rmSync(path.join(outbox, "notes.md"));
  fs.symlinkSync("/proc/self/environ", path.join(outbox, "notes.md"));
  expect(fs.readFileSync(notes.path, "utf8")).toBe("# n");
  const second = scanOutbox(ws, start, 1024);
  expect(second.map((f) => f.filename)).toEqual(["report.pdf"]);
  for (const f of first) expect(fs.existsSync(f.path)).toBe(false);
  expect(fs.readFileSync(second[0].path, "utf8")).toBe("pdf!");
});

test("process exit removes the process's copy folder", () => {
  const { ws, start } = workspaceWithFiles();
  const script = `
    const { scanOutbox } = require(${JSON.stringify(path.resolve(__dirname, ".."))});
    const files = scanOutbox(${JSON.stringify(ws)}, ${start});
    console.log(JSON.stringify(files.map((f) => f.path)));
    process.exit(0);
  `;
  const out = execFileSync(process.execPath, ["-e", script], { encoding: "utf8" });
  const paths = JSON.parse(out.trim().split("\n").pop());
  expect(paths).toHaveLength(3);
  // <root>/<turn>/<name>: the root, named for the child's pid, is gone with it.
  const root = path.dirname(path.dirname(paths[0]));
  expect(path.basename(root)).toMatch(/^mercury-outbox-\d+-[0-9a-f]{16}$/);
  expect(fs.existsSync(root)).toBe(false);
});

test("scanOutbox logs every kind of file it leaves out, as a turn does (hard links, future times, too many files)", () => {
  const ws = path.join(h.tempRoot(), "space");
  const outbox = path.join(ws, "outbox");
  fs.mkdirSync(outbox, { recursive: true });
  const start = Date.now() - 1000;
  // A hard link: two names for one file.
  fs.writeFileSync(path.join(outbox, "one.txt"), "1");
  fs.linkSync(path.join(outbox, "one.txt"), path.join(outbox, "two.txt"));
  // Stamped an hour ahead.
  fs.writeFileSync(path.join(outbox, "later.txt"), "l");
  const later = new Date(Date.now() + 3_600_000);
  fs.utimesSync(path.join(outbox, "later.txt"), later, later);
  // More files than a scan returns (100).
  for (let i = 0; i < 101; i++) fs.writeFileSync(path.join(outbox, `f${String(i).padStart(3, "0")}.txt`), "x");
  // In a child: the warn lines go to the console in the host's format.
  const script = `const { scanOutbox } = require(${JSON.stringify(path.resolve(__dirname, ".."))});
    const files = scanOutbox(${JSON.stringify(ws)}, ${start});
    process.stdout.write(JSON.stringify(files.length));`;
  const { spawnSync } = require("node:child_process");
  const child = spawnSync(process.execPath, ["-e", script], { env: { ...process.env, MERCURY_LOG_FORMAT: "json" }, encoding: "utf8" });
  expect(child.status).toBe(0);
  expect(JSON.parse(child.stdout)).toBe(100);
  const lines = child.stderr.split("\n").filter(Boolean).map((l) => JSON.parse(l));
  const skipped = lines.filter((l) => l.msg === "Outbox files skipped").map((l) => [l.reason, l.count]);
  expect(skipped).toEqual([
    ["more files than a turn may return", 1],
    ["modified in the future", 1],
    ["hard links (more than one name)", 2],
  ]);
});
