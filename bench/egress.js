"use strict";
// What options.egress costs a turn (docs/egress.md): a whole reply of the
// fixture's echo mode, without egress and with it (the sidecar made before the
// first measured round), rounds alternating. Reports per variant the median and
// p90 of the reply's wall time, and the host's CPU time per turn (all of the
// machine's busy time from /proc/stat over the variant's turns: this process,
// dockerd, containerd, runc and the sidecar; other load on the machine counts
// too, so compare the two on a quiet machine). Also the sidecar's first start.
//
// Then what the proxy costs per request: Bun's fetch in the runtimes image
// (scripts/build-images.sh) makes REQUESTS requests one after another to an
// HTTP server this process runs on the engine's bridge gateway, directly
// (no egress) and through the proxy; reported per request: the agent's wall
// time, and the sidecar's CPU time (the engine's stats for its cgroup).
//
//   node bench/egress.js            # ROUNDS=15, REQUESTS=200 by default
// Needs the fixture images and egress-proxy/dist (scripts/build-egress-proxy.sh).

const fs = require("node:fs");
const http = require("node:http");
const { execFileSync } = require("node:child_process");
const os = require("node:os");
const path = require("node:path");
const { AgentContainerRunner } = require("..");

const IMAGE = process.env.BENCH_IMAGE || "mercury-test-agent:latest";
const RUNTIMES_IMAGE = process.env.BENCH_RUNTIMES_IMAGE || "mercury-test-agent:runtimes";
const ROUNDS = Number(process.env.ROUNDS || 15);
const REQUESTS = Number(process.env.REQUESTS || 200);
const REQUEST_ROUNDS = 5;
const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "mcr-egress-bench-")));

function busyJiffies() {
  const cpu = fs.readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: busy is all but idle and iowait.
  return cpu.reduce((a, b) => a + b, 0) - cpu[3] - cpu[4];
}
const TICK_MS = 1000 / 100; // USER_HZ

function runner(options, image = IMAGE) {
  const quiet = { debug() {}, info() {}, warn() {}, error() {} };
  return new AgentContainerRunner(
    {
      agentContainerImage: image,
      containerTimeoutMs: 60000,
      globalDir: path.join(root, "global"),
      spacesDir: path.join(root, "spaces"),
      modelProvider: "anthropic",
      port: 3000,
    },
    { logger: quiet, packageRoot: root, ...options },
  );
}

async function turn(r, space) {
  const t0 = process.hrtime.bigint();
  const j0 = busyJiffies();
  await r.reply({ spaceId: space, spaceWorkspace: path.join(root, "spaces", space), messages: [], prompt: "hi", callerId: "c", extraEnv: { FIXTURE_MODE: "echo" } });
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, cpuMs: (busyJiffies() - j0) * TICK_MS };
}

/** The value at fraction `p` of `xs` sorted. */
function quantile(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
}

function stats(xs) {
  return { median: Math.round(quantile(xs, 0.5)), p90: Math.round(quantile(xs, 0.9)) };
}

const docker = (...args) => execFileSync("docker", args, { encoding: "utf8" }).trim();

/** The engine's CPU time of a container so far, in ns (its one-shot stats: the CLI's show percentages only). */
function containerCpuNs(name) {
  const out = execFileSync("curl", ["-sf", "--unix-socket", "/var/run/docker.sock", `http://engine/containers/${name}/stats?stream=false`], { encoding: "utf8" });
  return JSON.parse(out).cpu_stats.cpu_usage.total_usage;
}

async function requests(r, space, url) {
  const t0 = process.hrtime.bigint();
  const { reply } = await r.reply({
    spaceId: space, spaceWorkspace: path.join(root, "spaces", space), messages: [], prompt: "hi", callerId: "c",
    extraEnv: { FIXTURE_MODE: "egress-fetch", FIXTURE_RUNTIMES: "bun", FIXTURE_FETCH: url, FIXTURE_FETCH_REPEAT: String(REQUESTS) },
  });
  const m = /bun1=(\S+) bunms=(\d+)/.exec(reply);
  if (!m || m[1] !== "bench-ok") throw new Error(`the agent's requests failed: ${reply}`);
  return { agentMs: Number(m[2]), turnMs: Number(process.hrtime.bigint() - t0) / 1e6 };
}

async function perRequest() {
  const gateway = docker("network", "inspect", "bridge", "--format", "{{range .IPAM.Config}}{{.Gateway}}{{end}}");
  const server = http.createServer((_, res) => res.end("bench-ok\n"));
  await new Promise((resolve) => server.listen(0, gateway, resolve));
  const port = server.address().port;
  const url = `http://host.docker.internal:${port}/`;
  const plain = runner({}, RUNTIMES_IMAGE);
  const walled = runner({ egress: { allow: [`host.docker.internal:${port}`] } }, RUNTIMES_IMAGE);
  await requests(walled, "egress", url);
  const sidecar = docker("ps", "--filter", "label=mercury.egress", "--filter", "name=mercury-egress-proxy-", "--format", "{{.Names}}").split("\n");
  if (sidecar.length !== 1) throw new Error(`expected one sidecar on the engine, found: ${sidecar.join(", ")}`);
  await requests(plain, "plain", url);
  const direct = [];
  const proxied = [];
  const sidecarNs = [];
  for (let i = 0; i < REQUEST_ROUNDS; i++) {
    direct.push(await requests(plain, "plain", url));
    const ns0 = containerCpuNs(sidecar[0]);
    proxied.push(await requests(walled, "egress", url));
    sidecarNs.push(containerCpuNs(sidecar[0]) - ns0);
  }
  walled.killAll();
  server.close();
  const perReq = (xs) => Math.round((quantile(xs, 0.5) / REQUESTS) * 1000) / 1000;
  return {
    requestsPerTurn: REQUESTS,
    rounds: REQUEST_ROUNDS,
    directMsPerRequest: perReq(direct.map((r) => r.agentMs)),
    proxiedMsPerRequest: perReq(proxied.map((r) => r.agentMs)),
    sidecarCpuMsPerRequest: perReq(sidecarNs.map((ns) => ns / 1e6)),
  };
}

(async () => {
  const plain = runner({});
  const walled = runner({ egress: { allow: ["api.anthropic.com"] } });
  const first = await turn(walled, "egress");
  await turn(plain, "plain");
  const results = { plain: [], egress: [] };
  for (let i = 0; i < ROUNDS; i++) {
    results.plain.push(await turn(plain, "plain"));
    results.egress.push(await turn(walled, "egress"));
  }
  walled.killAll();
  const report = {
    rounds: ROUNDS,
    firstEgressTurnMs: Math.round(first.ms),
    plain: { wallMs: stats(results.plain.map((r) => r.ms)), hostCpuMs: stats(results.plain.map((r) => r.cpuMs)) },
    egress: { wallMs: stats(results.egress.map((r) => r.ms)), hostCpuMs: stats(results.egress.map((r) => r.cpuMs)) },
  };
  report.perRequest = await perRequest();
  console.log(JSON.stringify(report, null, 2));
  // The sidecar's removal (killAll) runs in the background: give it a moment before the exit hook.
  await new Promise((r) => setTimeout(r, 2000));
  fs.rmSync(root, { recursive: true, force: true });
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
