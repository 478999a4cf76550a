// Shared by egress.test.js and matrix/engines.js: what an egress test starts
// (HTTP servers and a TCP canary on an address of this machine on the engine's
// bridge), what the fixture's egress-probe mode replies, and what egress left
// on an engine. Only for addresses the caller checked are its engine's own.
const dgram = require("node:dgram");
const http = require("node:http");
const net = require("node:net");
const { execFileSync } = require("node:child_process");

function listen(server, host) {
  return new Promise((resolve) => server.listen(0, host, () => resolve(server.address().port)));
}

/** An HTTP server answering every request with `body`; `hits` holds the paths asked. */
function httpServer(host, body) {
  const hits = [];
  const server = http.createServer((req, res) => {
    hits.push(req.url);
    res.end(`${body}\n`);
  });
  return { server, hits, port: () => server.address().port, start: () => listen(server, host) };
}

/** A TCP listener that counts connections and closes them. */
async function canary(host) {
  const c = { hits: 0 };
  c.server = net.createServer((s) => {
    c.hits += 1;
    s.destroy();
  });
  c.port = await listen(c.server, host);
  return c;
}

/**
 * A name server on `host`, port 53 (busybox nslookup asks no other port), that answers A
 * queries for any name with `host` itself and records each name asked (`names`). A lookup
 * through it succeeds only where a packet can reach it: the control for "DNS fails".
 */
async function dnsServer(host) {
  const names = [];
  const socket = dgram.createSocket("udp4");
  socket.on("message", (query, from) => {
    // Header (12 bytes), then one question: labels up to a zero byte, type, class.
    let end = 12;
    const labels = [];
    while (end < query.length && query[end] !== 0) {
      labels.push(query.subarray(end + 1, end + 1 + query[end]).toString("latin1"));
      end += query[end] + 1;
    }
    if (end + 5 > query.length) return;
    const question = query.subarray(12, end + 5);
    const isA = question.readUInt16BE(question.length - 4) === 1;
    names.push(labels.join("."));
    const header = Buffer.alloc(12);
    query.copy(header, 0, 0, 2); // the query's id
    header.writeUInt16BE(0x8180, 2); // a response, recursion desired and available, no error
    header.writeUInt16BE(1, 4); // one question
    header.writeUInt16BE(isA ? 1 : 0, 6); // one answer to an A query, none to others (AAAA)
    const answer = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, ...host.split(".").map(Number)]);
    socket.send(Buffer.concat(isA ? [header, question, answer] : [header, question]), from.port, from.address);
  });
  await new Promise((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(53, host, resolve);
  });
  return { names, close: () => socket.close() };
}

/** The egress-probe reply (`key=value key=value ...`) as an object. */
function parseProbe(reply) {
  return Object.fromEntries(reply.split(" ").map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]));
}

/**
 * An engine's bridge gateway, `gateway` as its `network inspect` says it, checked to be an IPv4
 * address of one of this machine's interfaces (so the test's servers and probes stay on it).
 */
function ownGateway(gateway, what) {
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(gateway)) throw new Error(`${what} has no IPv4 gateway (${gateway})`);
  // From `ip`, not os.networkInterfaces(): that leaves out a bridge that is down (no container on it yet).
  const mine = execFileSync("ip", ["-4", "-o", "addr", "show"], { encoding: "utf8" }).includes(` inet ${gateway}/`);
  if (!mine) throw new Error(`${what}'s gateway ${gateway} is no address of this machine`);
  return gateway;
}

/** The egress sidecars and networks on the engine `docker` (a function running the CLI against it). */
function egressLeftovers(docker) {
  const lines = (...args) => docker(...args).split("\n").filter(Boolean);
  return {
    containers: lines("ps", "-a", "--filter", "label=mercury.egress", "--format", "{{.Names}}"),
    networks: lines("network", "ls", "--filter", "label=mercury.egress", "--format", "{{.Name}}"),
  };
}

module.exports = { listen, httpServer, canary, dnsServer, parseProbe, ownGateway, egressLeftovers };
