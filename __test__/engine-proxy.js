// A pass-through proxy in front of the engine's unix socket that can hold the
// engine's answer to one `POST /containers/create` until the test releases it
// (or, with holdNextCall, any one call of a turn before the engine sees it;
// with refuseNextCall, answer one call with an error in the engine's place;
// with warnNextCreate, add warnings to the engine's answer to one create):
// the container exists on the engine, and the runner is still waiting for its
// id. That is the window in which an abort or killAll must still stop the run
// before the agent starts. Byte-level (no HTTP parsing beyond spotting the
// request line), so attach's upgraded stream passes through untouched; runs
// the same under Node and bun.
//
// With `{ label: "key=value" }` the proxy also scopes what goes through it to
// one test: every container created through it gets that label, and every
// container listing through it is filtered by it. cleanupOrphans through such
// a proxy then sees, and removes, only the test's own containers, never those
// of the tests before it or of anyone else on the engine. Every create's name
// is recorded (`created`), whether or not the runner ever logs it.
const net = require("node:net");
const path = require("node:path");

const ENGINE_SOCKET = "/var/run/docker.sock";
const CREATE = /^POST \/(?:v[\d.]+\/)?containers\/create\?(\S*) HTTP\/1\.[01]\r\n/;
// A pull: the engine's answer (its progress stream) can be held the same way.
const PULL = /^POST \/(?:v[\d.]+\/)?images\/create\?(\S*) HTTP\/1\.[01]\r\n/;
// A container listing (cleanupOrphans and the runner's own orphan lookups).
const LIST = /^GET (\/(?:v[\d.]+\/)?containers\/json)(?:\?(\S*))? (HTTP\/1\.[01])\r\n/;
// Headers end here; a create's body is JSON of a few KiB.
const HEADERS_END = "\r\n\r\n";
// Every call a turn makes on a container, by the request line that starts it.
const CONTAINER = "\\/(?:v[\\d.]+\\/)?containers\\/";
const CALLS = {
  create: CREATE,
  attach: new RegExp(`^POST ${CONTAINER}[^/?]+\\/attach\\?`),
  start: new RegExp(`^POST ${CONTAINER}[^/?]+\\/start[? ]`),
  wait: new RegExp(`^POST ${CONTAINER}[^/?]+\\/wait[? ]`),
  kill: new RegExp(`^POST ${CONTAINER}[^/?]+\\/kill[? ]`),
  inspect: new RegExp(`^GET ${CONTAINER}[^/?]+\\/json[? ]`),
  remove: new RegExp(`^DELETE ${CONTAINER}[^/?]+[? ]`),
};

/**
 * The whole HTTP message (a create request, or the engine's answer to one) at the start of
 * `buf`: its head, its Content-Length body and what follows; null while incomplete. Only such
 * bodies can be edited: a chunked one is an error, and so is an answer without Content-Length
 * (`answer`), whose body would run to the connection's end.
 */
function wholeMessage(buf, { answer = false } = {}) {
  const end = buf.indexOf(HEADERS_END);
  if (end < 0) return null;
  const head = buf.toString("latin1", 0, end);
  const what = answer ? "a create answer" : "a create body";
  if (/\r\ntransfer-encoding:/i.test(head)) throw new Error(`engine proxy: ${what} is chunked; only Content-Length bodies can be edited`);
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  if (!length && answer) throw new Error(`engine proxy: ${what} without Content-Length; only those can be edited`);
  const total = end + HEADERS_END.length + (length ? Number(length[1]) : 0);
  if (buf.length < total) return null;
  return { head, body: buf.subarray(end + HEADERS_END.length, total), rest: buf.subarray(total) };
}

/** The message with its JSON body changed by `edit` (and its Content-Length to match). */
function withJson({ head, body }, edit) {
  const json = JSON.parse(body.toString("utf8"));
  edit(json);
  const newBody = Buffer.from(JSON.stringify(json), "utf8");
  const newHead = head.replace(/\r\ncontent-length:\s*\d+/i, `\r\nContent-Length: ${newBody.length}`);
  return Buffer.concat([Buffer.from(newHead + HEADERS_END, "latin1"), newBody]);
}

/** A create request with `key=value` added to its container's labels. */
const labelledCreate = (request, [key, value]) => withJson(request, (spec) => (spec.Labels = { ...(spec.Labels || {}), [key]: value }));

/** A create answer whose Warnings also hold `warnings`. */
const warnedAnswer = (answer, warnings) => withJson(answer, (a) => (a.Warnings = [...(a.Warnings || []), ...warnings]));

/** A listing request whose filters also require `key=value`. */
function scopedList(chunk, [key, value]) {
  const text = chunk.toString("latin1");
  const m = LIST.exec(text);
  const query = new URLSearchParams(m[2] || "");
  const filters = JSON.parse(query.get("filters") || "{}");
  filters.label = [...(filters.label || []), `${key}=${value}`];
  query.set("filters", JSON.stringify(filters));
  return Buffer.concat([Buffer.from(`GET ${m[1]}?${query} ${m[3]}\r\n`, "latin1"), chunk.subarray(m[0].length)]);
}

// Every container created through any proxy of this suite file (for __test__/left-nothing.js).
const createdThroughProxies = [];

async function startEngineProxy(dir, { label } = {}) {
  const socketPath = path.join(dir, "engine.sock");
  const open = new Set();
  // The next create (or pull) to arrive is held; set by holdNextCreate() (or holdNextPull()).
  let nextHold = null;
  // The next request of one call is answered by the proxy with an error status; set by refuseNextCall().
  let nextRefusal = null;
  // Warnings added to the engine's answer to the next create; set by warnNextCreate().
  let nextWarnings = null;
  const scope = label ? [label.slice(0, label.indexOf("=")), label.slice(label.indexOf("=") + 1)] : null;
  // The name of every container create that went through, in order.
  const created = [];

  // Half-open both ways: an attach's stdin ends (the agent's EOF) while its output still flows back.
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    const upstream = net.connect({ path: ENGINE_SOCKET, allowHalfOpen: true });
    open.add(client);
    open.add(upstream);
    // While a create answer is held, the engine's bytes for this connection wait here.
    let held = null;
    // Resolves the held call's `answered` with the engine's first bytes back on this connection.
    let onAnswer = null;
    const toClient = (chunk) => {
      if (onAnswer) {
        onAnswer();
        onAnswer = null;
      }
      if (held) held.buffer.push(chunk);
      else client.write(chunk);
    };
    // While a request is held (an engine that never saw it), the client's bytes wait here.
    let heldRequest = null;
    // A create answer being gathered until whole, to get added warnings (warnNextCreate).
    let warning = null;

    // A create request being gathered until whole, to be labelled (scoped proxies only).
    let gathering = null;
    client.on("data", (data) => {
      let chunk = data;
      const start = () => chunk.toString("latin1", 0, 512);
      if (!gathering && CREATE.test(start())) {
        const name = new URLSearchParams(CREATE.exec(start())[1]).get("name");
        if (name) {
          created.push(name);
          createdThroughProxies.push(name);
        }
        if (scope) gathering = Buffer.alloc(0);
        if (nextWarnings) {
          warning = { warnings: nextWarnings, answer: Buffer.alloc(0) };
          nextWarnings = null;
        }
      }
      if (gathering) {
        gathering = Buffer.concat([gathering, chunk]);
        let whole;
        try {
          whole = wholeMessage(gathering);
        } catch (e) {
          client.destroy(e);
          return;
        }
        if (!whole) return;
        gathering = null;
        chunk = Buffer.concat([labelledCreate(whole, scope), whole.rest]);
      } else if (scope && LIST.test(start())) {
        chunk = scopedList(chunk, scope);
      }
      const refusal = !heldRequest && nextRefusal && nextRefusal.pattern.exec(chunk.toString("latin1"));
      if (refusal) {
        // Answered here, as the engine would refuse it; the engine never sees the request.
        const r = nextRefusal;
        nextRefusal = null;
        const body = JSON.stringify({ message: r.message });
        client.write(`HTTP/1.1 ${r.status} Refused\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
        r.arrived(chunk.toString("latin1").split(" ")[1]);
        return;
      }
      const create = !heldRequest && nextHold && nextHold.pattern.exec(chunk.toString("latin1"));
      if (create) {
        const hold = nextHold;
        nextHold = null;
        const query = new URLSearchParams(create[1] || "");
        const name = query.get("name") || query.get("fromImage") || chunk.toString("latin1").split(" ")[1];
        if (hold.request) {
          heldRequest = [];
          hold.release.then(() => {
            const h = heldRequest;
            heldRequest = null;
            for (const c of h) {
              if (c === null) upstream.end();
              else upstream.write(c);
            }
          });
        } else {
          held = { buffer: [], ended: false };
          hold.lost.then(() => {
            held = null;
            client.destroy();
            upstream.destroy();
          });
          hold.release.then(() => {
            const h = held;
            held = null;
            for (const c of h.buffer) client.write(c);
            if (h.ended) client.end();
          });
        }
        onAnswer = hold.answered;
        hold.arrived(name);
      }
      if (heldRequest) heldRequest.push(chunk);
      else upstream.write(chunk);
    });
    upstream.on("data", (data) => {
      if (!warning) return toClient(data);
      warning.answer = Buffer.concat([warning.answer, data]);
      let whole;
      try {
        whole = wholeMessage(warning.answer, { answer: true });
      } catch (e) {
        client.destroy(e);
        return;
      }
      if (!whole) return;
      const { warnings } = warning;
      warning = null;
      toClient(Buffer.concat([warnedAnswer(whole, warnings), whole.rest]));
    });
    client.on("end", () => (heldRequest ? heldRequest.push(null) : upstream.end()));
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

  const holdNext = (pattern, request = false) => {
    let arrived, release, answered, lose;
    const hold = {
      arrived: new Promise((r) => (arrived = r)),
      release: new Promise((r) => (release = r)),
      answered: new Promise((r) => (answered = r)),
      lost: new Promise((r) => (lose = r)),
    };
    nextHold = { pattern, arrived, release: hold.release, request, answered, lost: hold.lost };
    return { arrived: hold.arrived, release, answered: hold.answered, lose };
  };

  return {
    dockerHost: `unix://${socketPath}`,
    /** Names of the containers created through the proxy, in order. */
    created,
    /**
     * Holds the engine's answer to the next container create. `arrived`
     * resolves with the container's name once the request has gone to the
     * engine, `answered` once the engine has answered (the container exists,
     * or the create failed); `release()` lets the answer through, `lose()`
     * drops it with the connection (the runner never hears of the create).
     */
    holdNextCreate() {
      return holdNext(CREATE);
    },
    /** The same for the next pull; `arrived` resolves with the image being pulled. */
    holdNextPull() {
      return holdNext(PULL);
    },
    /**
     * An engine that hangs at one call: the next request of that call
     * (create, attach, start, wait, kill, inspect or remove) is held before
     * the engine sees it, as is everything after it on that connection, until
     * `release()`. `arrived` resolves with the container's name (create) or
     * the request's path.
     */
    holdNextCall(call) {
      if (!CALLS[call]) throw new Error(`no such call: ${call}`);
      return holdNext(CALLS[call], true);
    },
    /**
     * The engine refuses the next request of one call (as `holdNextCall`
     * names them) with `status` and `message`, and never sees it; the calls
     * after it pass. `arrived` resolves with the request's path.
     */
    refuseNextCall(call, status, message) {
      if (!CALLS[call]) throw new Error(`no such call: ${call}`);
      let arrived;
      const seen = new Promise((r) => (arrived = r));
      nextRefusal = { pattern: CALLS[call], status, message, arrived };
      return { arrived: seen };
    },
    /** The engine's answer to the next container create carries these warnings too (as an engine that dropped a limit says). */
    warnNextCreate(warnings) {
      nextWarnings = warnings;
    },
    async close() {
      for (const s of open) s.destroy();
      await new Promise((r) => server.close(() => r()));
    },
  };
}

module.exports = { startEngineProxy, createdThroughProxies };
