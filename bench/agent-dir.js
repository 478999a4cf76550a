"use strict";
// What `isolateSpaces` costs a turn: the agent folder is bound entry by entry
// (read-only) instead of whole, so each entry is one more mount. Two figures,
// rounds alternating between the variants:
//  1. the engine alone (dockerode): create, and start until the container has
//     exited, of a container that exits at once, with the mounts the runner
//     makes for an agent folder of 0, 10 and 30 entries, and with the default
//     mounts (the folder whole);
//  2. a whole reply through this addon (fixture mode `payload-size`), default
//     against isolateSpaces over a folder of 10 entries (listing included).
//
//   node bench/agent-dir.js            # ROUNDS=15 by default
// Needs the fixture image (scripts/build-images.sh; BENCH_IMAGE to use another).

const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const Docker = require("dockerode");
const { AgentContainerRunner } = require("..");

const IMAGE = process.env.BENCH_IMAGE || "mercury-test-agent:latest";
const ROUNDS = Number(process.env.ROUNDS || 15);
// Not `mercury.managed`: another runner's cleanupOrphans on the same engine would remove these mid-round.
const LABEL = { "mercury.bench": "agent-dir" };

const docker = new Docker();
const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "mcr-agent-dir-")));

/** An agent folder of `n` entries, files and folders alternating, as a pi folder holds. */
function agentDir(n) {
  const dir = path.join(root, `global-${n}`);
  fs.mkdirSync(dir, { recursive: true });
  for (let i = 0; i < n; i++) {
    const entry = path.join(dir, `entry-${String(i).padStart(2, "0")}`);
    if (i % 2) fs.mkdirSync(entry, { recursive: true });
    else fs.writeFileSync(entry, "x\n");
  }
  return dir;
}

function mountsFor(variant) {
  const space = path.join(root, "spaces", "s");
  const sessions = path.join(root, "sessions", "s");
  fs.mkdirSync(space, { recursive: true });
  fs.mkdirSync(sessions, { recursive: true });
  const bind = (source, target, ro) => ({ Type: "bind", Source: source, Target: target, ReadOnly: ro });
  if (variant.whole) return [bind(path.join(root, "spaces"), "/spaces", false), bind(variant.dir, "/root/.pi/agent", false)];
  const entries = fs.readdirSync(variant.dir).sort();
  return [
    bind(space, "/spaces/s", false),
    ...entries.map((e) => bind(path.join(variant.dir, e), `/root/.pi/agent/${e}`, true)),
    bind(sessions, "/root/.pi/agent/sessions", false),
  ];
}

async function engineRound(variant) {
  const t0 = performance.now();
  const container = await docker.createContainer({
    Image: IMAGE,
    Env: ["FIXTURE_MODE=exit-now"],
    Labels: LABEL,
    HostConfig: { Mounts: mountsFor(variant), NetworkMode: "none" },
  });
  const t1 = performance.now();
  await container.start();
  await container.wait();
  const t2 = performance.now();
  await container.remove({ force: true });
  return { create: t1 - t0, start: t2 - t1 };
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function range(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return `${s[Math.floor(s.length * 0.1)].toFixed(1)}–${s[Math.ceil(s.length * 0.9) - 1].toFixed(1)}`;
}

async function main() {
  const variants = [
    { name: "whole folder (default), 10 entries", whole: true, dir: agentDir(10) },
    { name: "isolateSpaces, 0 entries", dir: agentDir(0) },
    { name: "isolateSpaces, 10 entries", dir: agentDir(10) },
    { name: "isolateSpaces, 30 entries", dir: agentDir(30) },
  ];
  const times = new Map(variants.map((v) => [v.name, { create: [], start: [] }]));
  await engineRound(variants[0]); // warm-up
  for (let r = 0; r < ROUNDS; r++) {
    for (const v of r % 2 ? [...variants].reverse() : variants) {
      const t = await engineRound(v);
      times.get(v.name).create.push(t.create);
      times.get(v.name).start.push(t.start);
    }
  }
  // Paired within a round (the variants run back to back), so load from other engine users cancels out better than in the medians.
  const base = times.get(variants[0].name);
  const paired = (xs, ys) => median(xs.map((x, i) => x - ys[i])).toFixed(1);
  console.log(`engine ${IMAGE}, ${ROUNDS} rounds, median [p10–p90] ms; "vs default": median of the per-round differences`);
  console.log("| mounts of the agent folder | create | start until exited | create + start vs default |");
  console.log("| --- | --- | --- | --- |");
  for (const v of variants) {
    const t = times.get(v.name);
    const total = t.create.map((c, i) => c + t.start[i]);
    const baseTotal = base.create.map((c, i) => c + base.start[i]);
    console.log(
      `| ${v.name} | ${median(t.create).toFixed(1)} [${range(t.create)}] | ${median(t.start).toFixed(1)} [${range(t.start)}] | ${paired(total, baseTotal)} |`,
    );
  }

  const config = (globalDir) => ({
    agentContainerImage: IMAGE,
    containerTimeoutMs: 30_000,
    globalDir,
    spacesDir: path.join(root, "reply-spaces"),
    modelProvider: "openai",
    port: 3000,
  });
  const dir = agentDir(10);
  const runners = [
    { name: "default", runner: new AgentContainerRunner(config(dir), { packageRoot: root, logger: quiet() }) },
    { name: "isolateSpaces, 10 entries", runner: new AgentContainerRunner(config(dir), { packageRoot: root, isolateSpaces: true, logger: quiet() }) },
  ];
  const input = (ctx) => ({
    spaceId: "s",
    spaceWorkspace: path.join(root, "reply-spaces", "s"),
    messages: [],
    prompt: "hello",
    callerId: "c",
    extraEnv: { FIXTURE_MODE: "payload-size" },
  });
  const replies = new Map(runners.map((r) => [r.name, []]));
  for (const r of runners) await r.runner.reply(input(r)); // warm-up
  for (let i = 0; i < ROUNDS; i++) {
    for (const r of i % 2 ? [...runners].reverse() : runners) {
      const t0 = performance.now();
      await r.runner.reply(input(r));
      replies.get(r.name).push(performance.now() - t0);
    }
  }
  const plain = replies.get(runners[0].name);
  console.log(`\nreply through the addon, ${ROUNDS} rounds, median [p10–p90] ms`);
  console.log("| runner | reply | vs default |");
  console.log("| --- | --- | --- |");
  for (const [name, xs] of replies) console.log(`| ${name} | ${median(xs).toFixed(1)} [${range(xs)}] | ${median(xs.map((x, i) => x - plain[i])).toFixed(1)} |`);
}

function quiet() {
  const none = () => {};
  return { debug: none, info: none, warn: none, error: none };
}

main()
  .catch((e) => {
    console.error(e);
    process.exitCode = 1;
  })
  .finally(() => fs.rmSync(root, { recursive: true, force: true }));
