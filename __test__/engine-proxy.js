// A pass-through proxy in front of the engine's unix socket that can hold the
// engine's answer to one `POST /containers/create` until the test releases it:
// the container exists on the engine, and the runner is still waiting for its
// id. That is the window in which an abort or killAll must still stop the run
// before the agent starts. Byte-level (no HTTP parsing beyond spotting the
// request line), so attach's upgraded stream passes through untouched; runs
// the same under Node and bun.
const net = require("node:net");
const path = require("node:path");

const ENGINE_SOCKET = "/var/run/docker.sock";
const CREATE = /^POST \/(?:v[\d.]+\/)?containers\/create\?(\S*) HTTP\/1\.[01]\r\n/;
// A pull: the engine's answer (its progress stream) can be held the same way.
const PULL = /^POST \/(?:v[\d.]+\/)?images\/create\?(\S*) HTTP\/1\.[01]\r\n/;

async function startEngineProxy(dir) {
  const socketPath = path.join(dir, "engine.sock");
  const open = new Set();
  // The next create (or pull) to arrive is held; set by holdNextCreate() (or holdNextPull()).
  let nextHold = null;

  const server = net.createServer((client) => {
    const upstream = net.connect(ENGINE_SOCKET);
    open.add(client);
    open.add(upstream);
    // While a create answer is held, the engine's bytes for this connection wait here.
    let held = null;
    const toClient = (chunk) => (held ? held.buffer.push(chunk) : client.write(chunk));

    client.on("data", (chunk) => {
      const create = nextHold && nextHold.pattern.exec(chunk.toString("latin1"));
      if (create) {
        const hold = nextHold;
        nextHold = null;
        held = { buffer: [], ended: false };
        const query = new URLSearchParams(create[1]);
        const name = query.get("name") || query.get("fromImage");
        hold.release.then(() => {
          const h = held;
          held = null;
          for (const c of h.buffer) client.write(c);
          if (h.ended) client.end();
        });
        hold.arrived(name);
      }
      upstream.write(chunk);
    });
    upstream.on("data", toClient);
    client.on("end", () => upstream.end());
    upstream.on("end", () => (held ? (held.ended = true) : client.end()));
    const close = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on("error", close);
    upstream.on("error", close);
    client.on("close", close);
    upstream.on("close", () => {
      if (!held) close();
    });
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, resolve);
  });

  const holdNext = (pattern) => {
    let arrived, release;
    const hold = {
      arrived: new Promise((r) => (arrived = r)),
      release: new Promise((r) => (release = r)),
    };
    nextHold = { pattern, arrived, release: hold.release };
    return { arrived: hold.arrived, release };
  };

  return {
    dockerHost: `unix://${socketPath}`,
    /**
     * Holds the engine's answer to the next container create. `arrived`
     * resolves with the container's name once the request has gone to the
     * engine; `release()` lets the answer through.
     */
    holdNextCreate() {
      return holdNext(CREATE);
    },
    /** The same for the next pull; `arrived` resolves with the image being pulled. */
    holdNextPull() {
      return holdNext(PULL);
    },
    async close() {
      for (const s of open) s.destroy();
      await new Promise((r) => server.close(() => r()));
    },
  };
}

module.exports = { startEngineProxy };
