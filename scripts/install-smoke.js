// One agent turn through an installed copy of the package, for
// scripts/registry-test.sh: copied into each test project and called by the
// two entries it writes there (smoke.cjs requires the package, smoke.mjs
// imports it), under Node and under Bun.
//
// Prints one JSON line: { label, ok, failures, binary, logLines }, where
// `binary` is the real path of the `.node` file mapped into this process
// (/proc/self/maps), i.e. the file the loader actually loaded.
"use strict";
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

/** The addon files this process has mapped, by real path. */
function mappedAddons() {
  const files = new Set();
  for (const line of fs.readFileSync("/proc/self/maps", "utf8").split("\n")) {
    const file = line.slice(line.indexOf("/"));
    if (line.includes("/") && file.endsWith(".node")) files.add(file);
  }
  return [...files];
}

module.exports = async function smoke({ AgentContainerRunner, ContainerError }, label, image) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "install-smoke-"));
  const lines = [];
  const logger = {};
  for (const level of ["debug", "info", "warn", "error"]) logger[level] = (msg, fields) => lines.push([level, msg, fields]);
  const failures = [];
  const check = (ok, what) => ok || failures.push(what);
  try {
    const runner = new AgentContainerRunner(
      {
        agentContainerImage: image,
        containerTimeoutMs: 30000,
        globalDir: path.join(tmp, "global"),
        spacesDir: path.join(tmp, "spaces"),
        modelProvider: "anthropic",
        port: 3000,
      },
      { logger },
    );
    const result = await runner.reply({
      spaceId: "install",
      spaceWorkspace: path.join(tmp, "spaces", "install"),
      messages: [],
      prompt: "hi",
      callerId: "u",
    });
    check(result && result.reply === "pong", `reply === "pong" (got ${JSON.stringify(result && result.reply)})`);
    check(ContainerError.timeout("x") instanceof ContainerError, "ContainerError.timeout() instanceof ContainerError");
    check(lines.some((l) => l[1] === "Container started"), 'the logger got "Container started"');
    check(runner.activeCount === 0, "activeCount back to 0");
  } catch (err) {
    failures.push(`threw: ${err && err.stack ? err.stack : err}`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  const binaries = mappedAddons();
  check(binaries.length === 1, `one addon mapped (got ${binaries.length})`);
  console.log(JSON.stringify({ label, ok: failures.length === 0, failures, binary: binaries[0] || null, logLines: lines.length }));
  if (failures.length) process.exitCode = 1;
};
