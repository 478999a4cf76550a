"use strict";
// Reference runner #1: one `docker run --rm -i ...` process per reply, as the
// host's TypeScript runner does today. Same constructor and reply/killAll
// surface as our addon.
//
// Differences from the contract, all the same for every implementation in
// the bench: the outbox scan is skipped (files is always []), no image pull,
// no log lines. Like the host's runner it keeps the whole of stdout and stderr
// in memory, which is what the bench's chatty-agent workload measures.
// Unlike the host's runner, killAll/abort spawn `docker kill` asynchronously
// instead of `execSync`, so the JavaScript thread is not blocked (the contract
// asks that of ours: the reference should not be a straw man).

const { spawn } = require("node:child_process");
const { ContainerError, ReferenceRunner, prepare, outcome } = require("./reference-common.js");

// Not secrets: given inline as `-e NAME=value` (also keeps the CLI's own HOME).
const INLINE_ENV = new Set(["HOME", "PI_CODING_AGENT_DIR", "CALLER_ID", "SPACE_ID", "API_URL"]);

class CliRunner extends ReferenceRunner {
  constructor(config, options = {}) {
    super(config, options);
    this.docker = options.dockerCli ?? "docker";
  }

  async reply(input) {
    const s = this.settings;
    const name = this.nextName();
    const run = this.runs.add(input.spaceId);
    try {
      const { env, mounts, payload } = await prepare(s, input);
      if (run.aborted) throw ContainerError.aborted(input.spaceId);

      const args = ["run", "--rm", "-i", "--name", name, "--label", "mercury.managed=true"];
      // Values travel in the CLI's environment (`-e NAME`), never on its command line.
      const childEnv = { ...process.env };
      for (const [n, v] of env) {
        if (INLINE_ENV.has(n)) {
          args.push("-e", `${n}=${v}`);
        } else {
          args.push("-e", n);
          childEnv[n] = v;
        }
      }
      for (const m of mounts) args.push("-v", `${m.source}:${m.target}${m.readOnly ? ":ro" : ""}`);
      args.push("--add-host", "host.docker.internal:host-gateway", s.image);

      const child = spawn(this.docker, args, { env: childEnv, stdio: ["pipe", "pipe", "pipe"] });
      run.kill = () => {
        const killer = spawn(this.docker, ["kill", name], { stdio: "ignore" });
        killer.on("error", () => {});
      };
      if (run.aborted) run.kill();

      let stdout = "";
      let stderr = "";
      child.stdout.setEncoding("utf8");
      child.stderr.setEncoding("utf8");
      child.stdout.on("data", (d) => (stdout += d));
      child.stderr.on("data", (d) => (stderr += d));
      // An agent that exits without reading its stdin makes this fail: its exit code tells the story.
      child.stdin.on("error", () => {});
      child.stdin.end(payload);

      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        run.kill();
      }, s.timeoutMs);
      let exitCode;
      try {
        exitCode = await new Promise((resolve, reject) => {
          child.on("error", reject);
          child.on("close", (code, signal) => resolve(code ?? (signal ? 137 : 1)));
        });
      } catch (e) {
        throw ContainerError.error(125, e.message);
      } finally {
        clearTimeout(timer);
      }
      return outcome(input.spaceId, { timedOut, aborted: run.aborted, exitCode, stdout, stderr });
    } finally {
      this.runs.delete(run);
    }
  }
}

module.exports = { CliRunner, AgentContainerRunner: CliRunner, ContainerError };
