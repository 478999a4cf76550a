// scanOutbox: the host's own core/outbox function, exported so that module can
// become a re-export. The host's arguments and result shape; the runner's
// link-safe scan.
const fs = require("node:fs");
const path = require("node:path");
const h = require("./helpers");
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
  expect(scanOutbox(ws, start, 1024)).toEqual([
    { path: path.join(outbox, "notes.md"), filename: "notes.md", mimeType: "text/markdown", sizeBytes: 3 },
    { path: path.join(outbox, "report.pdf"), filename: "report.pdf", mimeType: "application/pdf", sizeBytes: 4 },
  ]);
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
