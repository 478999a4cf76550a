"use strict";
// Reference runner #2: the same as cli-runner.js, over `dockerode` (the Docker
// client most Node code uses) instead of the CLI: create, attach (hijacked,
// so stdin can be written), start, write the payload and half-close stdin,
// demultiplex the output with `docker.modem.demuxStream`, wait, and remove
// the container in the background once the reply is known (as our addon
// does). Same constructor and reply/killAll surface as our addon.
//
// As in cli-runner.js: no outbox scan (files is always []), no image pull, no
// log lines, and all of stdout/stderr is kept in memory.

const Docker = require("dockerode");
const { ContainerError, ReferenceRunner, MANAGED_LABEL, prepare, outcome } = require("./reference-common.js");

/** A writable-enough sink for demuxStream that keeps the text. */
function collector() {
  const decoder = new TextDecoder();
  const sink = {
    text: "",
    write(chunk) {
      sink.text += decoder.decode(chunk, { stream: true });
      return true;
    },
  };
  return sink;
}

class DockerodeRunner extends ReferenceRunner {
  constructor(config, options = {}) {
    super(config, options);
    this.docker = options.docker ?? new Docker(options.dockerOptions);
  }

  async reply(input) {
    const s = this.settings;
    const name = this.nextName();
    const run = this.runs.add(input.spaceId);
    let container;
    try {
      const { env, mounts, payload } = await prepare(s, input);
      if (run.aborted) throw ContainerError.aborted(input.spaceId);

      try {
        container = await this.docker.createContainer({
          name,
          Image: s.image,
          Env: env.map(([n, v]) => `${n}=${v}`),
          Labels: { ...MANAGED_LABEL },
          AttachStdin: true,
          AttachStdout: true,
          AttachStderr: true,
          OpenStdin: true,
          StdinOnce: true,
          Tty: false,
          HostConfig: {
            Binds: mounts.map((m) => `${m.source}:${m.target}${m.readOnly ? ":ro" : ""}`),
            ExtraHosts: ["host.docker.internal:host-gateway"],
          },
        });
      } catch (e) {
        throw ContainerError.error(125, e.message);
      }
      run.kill = () => container.kill({ signal: "SIGKILL" }).catch(() => {});

      const out = collector();
      const err = collector();
      let stream;
      try {
        stream = await container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true });
        const ended = new Promise((resolve) => {
          stream.on("end", resolve);
          stream.on("close", resolve);
          // A container that exits before reading its stdin can make the write fail: its exit code tells the story.
          stream.on("error", resolve);
        });
        this.docker.modem.demuxStream(stream, out, err);
        await container.start();
        if (run.aborted) run.kill();
        stream.end(payload);

        let timedOut = false;
        const timer = setTimeout(() => {
          timedOut = true;
          run.kill();
        }, s.timeoutMs);
        await ended;
        clearTimeout(timer);
        const { StatusCode } = await container.wait({ condition: "not-running" });
        return outcome(input.spaceId, {
          timedOut,
          aborted: run.aborted,
          exitCode: StatusCode,
          stdout: out.text,
          stderr: err.text,
        });
      } catch (e) {
        if (e instanceof ContainerError || !(e && e.statusCode)) throw e;
        throw ContainerError.error(125, e.message);
      } finally {
        if (stream) stream.destroy();
      }
    } finally {
      this.runs.delete(run);
      if (container) container.remove({ force: true }).catch(() => {});
    }
  }
}

module.exports = { DockerodeRunner, AgentContainerRunner: DockerodeRunner, ContainerError };
