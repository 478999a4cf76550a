// `npm run demo`: one agent turn through the addon, against the locally built
// demo agent image (mercury-agent:demo), printing the reply, the files and the timing.
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { AgentContainerRunner, ContainerError } = require("..");

async function main() {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "mercury-demo-"));
  const spacesDir = path.join(root, "spaces");
  const lines = [];
  const logger = {};
  for (const level of ["debug", "info", "warn", "error"]) {
    logger[level] = (msg, fields) => lines.push({ at: performance.now(), level, msg, fields });
  }

  const runner = new AgentContainerRunner(
    {
      agentContainerImage: "mercury-agent:demo",
      containerTimeoutMs: 60_000,
      globalDir: path.join(root, "global"),
      spacesDir,
      modelProvider: "anthropic",
      port: 8787,
    },
    { logger, packageRoot: path.join(__dirname, "..") },
  );

  const t0 = performance.now();
  await runner.ensureImage();
  const t1 = performance.now();
  const result = await runner.reply({
    spaceId: "demo",
    spaceWorkspace: path.join(spacesDir, "demo"),
    messages: [
      { id: 1, spaceId: "demo", role: "user", content: "Hi! What can you do?", createdAt: Date.now() - 60_000, updatedAt: Date.now() - 60_000 },
    ],
    prompt: "Summarise this conversation into a file, please.",
    callerId: "demo-user",
    authorName: "Demo User",
  });
  const t2 = performance.now();
  const started = lines.find((l) => l.msg === "Container started");
  const ended = lines.find((l) => l.msg === "Container exited");

  console.log(`reply:  ${result.reply}`);
  console.log("files:");
  for (const file of result.files) {
    console.log(`  ${file.filename}  ${file.mimeType}  ${file.sizeBytes} bytes  ${file.path}`);
    console.log(fs.readFileSync(file.path, "utf8").replace(/^/gm, "    | ").trimEnd());
  }
  console.log("timing:");
  console.log(`  ensureImage                 ${(t1 - t0).toFixed(1)} ms`);
  if (started) console.log(`  reply() -> container started ${(started.at - t1).toFixed(1)} ms`);
  if (ended) console.log(`  container ran               ${ended.fields.durationMs} ms (engine-side, create to exit)`);
  console.log(`  reply() total               ${(t2 - t1).toFixed(1)} ms`);
  console.log(`container: ${started ? started.fields.container : "?"} (removed in the background)`);
  fs.rmSync(root, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e instanceof ContainerError ? `ContainerError(${e.reason}, ${e.exitCode}): ${e.message}` : e);
  process.exit(1);
});
