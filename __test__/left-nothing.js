// Jest runs this in every suite file (jest.config.js setupFilesAfterEnv): once the file's tests
// are done, every container the file's runs named in a log line, or created through an engine
// proxy, must be gone from the engine. Each file answers for its own containers, by name, so a
// leak is blamed on the file that made it, and nothing of another user of the engine is counted.
const h = require("./helpers");
const { createdThroughProxies } = require("./engine-proxy");

// A finished run's container is removed in the background, after its reply settles.
const REMOVAL_SETTLE_MS = 30_000;

function leftOnEngine(names) {
  if (names.length === 0) return [];
  const present = new Set(h.docker("ps", "-a", "--format", "{{.Names}}").split("\n").filter(Boolean));
  return names.filter((n) => present.has(n));
}

afterAll(async () => {
  const names = [...new Set([...h.namesLogged(), ...createdThroughProxies])];
  const deadline = Date.now() + REMOVAL_SETTLE_MS;
  let left = leftOnEngine(names);
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    left = leftOnEngine(names);
  }
  if (left.length > 0) {
    const histories = left.map((n) => {
      const hist = h.historyOf(n);
      return hist ? `\n${n}, made in "${hist.test}":\n  ${hist.lines.join("\n  ")}` : `\n${n}, made through an engine proxy`;
    });
    throw new Error(`this suite file left ${left.length} of its ${names.length} container(s) on the engine: ${left.join(", ")}${histories.join("")}`);
  }
}, REMOVAL_SETTLE_MS + 30_000);
