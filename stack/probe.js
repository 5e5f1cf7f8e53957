#!/usr/bin/env node
'use strict';
// Dependency-free readiness probes for the local stack, speaking each wire
// protocol over a raw socket:
//   node stack/probe.js kafka     127.0.0.1:9092   ApiVersions v0 + Metadata (v4..v8)
//   node stack/probe.js cassandra 127.0.0.1:9042   CQL v4 STARTUP + SELECT release_version FROM system.local
//   node stack/probe.js redis     127.0.0.1:6379   RESP PING + INFO server
//   node stack/probe.js tcp       127.0.0.1:7000   TCP connect only
// Options: --timeout MS (whole probe, default 3000), --quiet,
//   --warm (kafka only: also wait until the group and the transaction
//   coordinators answer FindCoordinator, which creates __consumer_offsets and
//   __transaction_state, so the first test does not meet COORDINATOR_LOAD_IN_PROGRESS).
// Exit 0 and one line on stdout when the service answered; exit 1 and the
// reason on stderr otherwise.

const net = require('net');

function parseArgs(argv) {
  const out = { timeout: 3000, quiet: false, warm: false, pos: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--timeout') out.timeout = Number(argv[++i]);
    else if (a === '--quiet' || a === '-q') out.quiet = true;
    else if (a === '--warm') out.warm = true;
    else out.pos.push(a);
  }
  return out;
}

function splitHostPort(s, defPort) {
  if (!s) return { host: '127.0.0.1', port: defPort };
  const i = s.lastIndexOf(':');
  if (i < 0) return { host: s, port: defPort };
  return { host: s.slice(0, i) || '127.0.0.1', port: Number(s.slice(i + 1)) };
}

// A socket that hands out exact byte counts as they arrive.
class Conn {
  constructor(host, port) {
    this.buf = Buffer.alloc(0);
    this.waiters = [];
    this.err = null;
    this.sock = net.connect({ host, port });
    this.sock.setNoDelay(true);
    this.connected = new Promise((resolve, reject) => {
      this.sock.once('connect', resolve);
      this.sock.once('error', reject);
    });
    this.sock.on('data', (d) => { this.buf = Buffer.concat([this.buf, d]); this._pump(); });
    this.sock.on('error', (e) => { this.err = e; this._pump(); });
    this.sock.on('close', () => { if (!this.err) this.err = new Error('connection closed by peer'); this._pump(); });
  }
  _pump() {
    while (this.waiters.length) {
      const w = this.waiters[0];
      if (w.n !== null && this.buf.length >= w.n) {
        this.waiters.shift();
        const chunk = this.buf.subarray(0, w.n);
        this.buf = this.buf.subarray(w.n);
        w.resolve(chunk);
      } else if (w.n === null && this.buf.indexOf('\r\n') >= 0) {
        this.waiters.shift();
        const i = this.buf.indexOf('\r\n');
        const line = this.buf.subarray(0, i).toString('utf8');
        this.buf = this.buf.subarray(i + 2);
        w.resolve(line);
      } else if (this.err) {
        this.waiters.shift();
        w.reject(this.err);
      } else break;
    }
  }
  read(n) { return new Promise((resolve, reject) => { this.waiters.push({ n, resolve, reject }); this._pump(); }); }
  readLine() { return this.read(null); }
  write(b) { this.sock.write(b); }
  close() { this.sock.destroy(); }
}

// ---------- Kafka ----------
function kafkaRequest(apiKey, apiVersion, corrId, body) {
  const clientId = Buffer.from('flowcraft-stack-probe');
  const hdr = Buffer.alloc(2 + 2 + 4 + 2);
  hdr.writeInt16BE(apiKey, 0);
  hdr.writeInt16BE(apiVersion, 2);
  hdr.writeInt32BE(corrId, 4);
  hdr.writeInt16BE(clientId.length, 8);
  const payload = Buffer.concat([hdr, clientId, body]);
  const len = Buffer.alloc(4);
  len.writeInt32BE(payload.length, 0);
  return Buffer.concat([len, payload]);
}

async function kafkaResponse(c, corrId) {
  const size = (await c.read(4)).readInt32BE(0);
  const data = await c.read(size);
  const got = data.readInt32BE(0);
  if (got !== corrId) throw new Error(`kafka: correlation id ${got}, expected ${corrId}`);
  return data.subarray(4);
}

class Reader {
  constructor(b) { this.b = b; this.o = 0; }
  i8() { const v = this.b.readInt8(this.o); this.o += 1; return v; }
  i16() { const v = this.b.readInt16BE(this.o); this.o += 2; return v; }
  i32() { const v = this.b.readInt32BE(this.o); this.o += 4; return v; }
  str() { const n = this.i16(); if (n < 0) return null; const s = this.b.toString('utf8', this.o, this.o + n); this.o += n; return s; }
  lstr() { const n = this.i32(); const s = this.b.toString('utf8', this.o, this.o + n); this.o += n; return s; }
  bytes() { const n = this.i32(); if (n < 0) return null; const s = this.b.subarray(this.o, this.o + n); this.o += n; return s; }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function probeKafka(host, port, opts = {}) {
  const c = new Conn(host, port);
  try {
    await c.connected;
    // ApiVersions v0: empty body. Every broker version answers it.
    c.write(kafkaRequest(18, 0, 1, Buffer.alloc(0)));
    const av = new Reader(await kafkaResponse(c, 1));
    const err = av.i16();
    if (err !== 0) throw new Error(`kafka: ApiVersions error code ${err}`);
    const n = av.i32();
    let meta = null, fc = null;
    for (let i = 0; i < n; i++) {
      const key = av.i16(), min = av.i16(), max = av.i16();
      if (key === 3) meta = { min, max };
      if (key === 10) fc = { min, max };
    }
    if (!meta) throw new Error('kafka: broker does not list the Metadata API');
    // Metadata v4..v8 share one non-flexible request layout.
    const ver = Math.min(8, meta.max);
    if (ver < 4 || meta.min > ver) throw new Error(`kafka: Metadata versions ${meta.min}-${meta.max} not handled by this probe`);
    const parts = [Buffer.from([0, 0, 0, 0]), Buffer.from([0])]; // topics: empty array; allow_auto_topic_creation=false
    if (ver >= 8) parts.push(Buffer.from([0, 0])); // include cluster / topic authorized operations = false
    c.write(kafkaRequest(3, ver, 2, Buffer.concat(parts)));
    const r = new Reader(await kafkaResponse(c, 2));
    r.i32(); // throttle_time_ms (v3+)
    const nb = r.i32();
    const brokers = [];
    for (let i = 0; i < nb; i++) {
      const id = r.i32(), h = r.str(), p = r.i32();
      r.str(); // rack
      brokers.push(`${id}@${h}:${p}`);
    }
    const clusterId = r.str();
    const controller = r.i32();
    if (nb < 1) throw new Error('kafka: metadata lists no broker yet');
    if (controller < 0) throw new Error('kafka: no active controller yet');
    let warm = '';
    if (opts.warm) {
      // FindCoordinator v1/v2 (non-flexible): key, key_type (0 group, 1 transaction).
      if (!fc || fc.max < 1) throw new Error('kafka: FindCoordinator v1+ not offered');
      const fv = Math.min(2, fc.max);
      let corr = 10;
      for (const [keyType, name] of [[0, 'group'], [1, 'transaction']]) {
        for (;;) {
          const body = Buffer.concat([cqlString('flowcraft-stack-warmup'), Buffer.from([keyType])]);
          c.write(kafkaRequest(10, fv, ++corr, body));
          const fr = new Reader(await kafkaResponse(c, corr));
          fr.i32();
          const code = fr.i16();
          if (code === 0) break;
          // 14 COORDINATOR_LOAD_IN_PROGRESS, 15 COORDINATOR_NOT_AVAILABLE: internal topic still being created
          if (code !== 14 && code !== 15) throw new Error(`kafka: FindCoordinator(${name}) error code ${code}`);
          await sleep(200);
        }
      }
      warm = ', group + transaction coordinators ready';
    }
    return `kafka ${host}:${port} ok: ${nb} broker(s) [${brokers.join(', ')}], controller ${controller}, cluster id ${clusterId}, ${n} APIs, Metadata v${ver}${warm}`;
  } finally { c.close(); }
}

// ---------- Cassandra (CQL native protocol v4) ----------
function cqlFrame(stream, opcode, body) {
  const h = Buffer.alloc(9);
  h.writeUInt8(0x04, 0); // request, protocol v4
  h.writeUInt8(0, 1);
  h.writeInt16BE(stream, 2);
  h.writeUInt8(opcode, 4);
  h.writeInt32BE(body.length, 5);
  return Buffer.concat([h, body]);
}
function cqlString(s) { const b = Buffer.from(s); const l = Buffer.alloc(2); l.writeUInt16BE(b.length); return Buffer.concat([l, b]); }
function cqlLongString(s) { const b = Buffer.from(s); const l = Buffer.alloc(4); l.writeInt32BE(b.length); return Buffer.concat([l, b]); }

async function cqlRead(c) {
  const h = await c.read(9);
  const opcode = h.readUInt8(4), len = h.readInt32BE(5);
  const body = len > 0 ? await c.read(len) : Buffer.alloc(0);
  if (opcode === 0x00) {
    const r = new Reader(body);
    const code = r.i32();
    throw new Error(`cassandra: error 0x${code.toString(16)}: ${r.str()}`);
  }
  return { opcode, body };
}

function skipCqlType(r) {
  const id = r.i16();
  if (id === 0x0000) r.str(); // custom
  else if (id === 0x0020 || id === 0x0022) skipCqlType(r); // list, set
  else if (id === 0x0021) { skipCqlType(r); skipCqlType(r); } // map
  else if (id === 0x0030) { r.str(); r.str(); const n = r.i16(); for (let i = 0; i < n; i++) { r.str(); skipCqlType(r); } } // udt
  else if (id === 0x0031) { const n = r.i16(); for (let i = 0; i < n; i++) skipCqlType(r); } // tuple
}

async function probeCassandra(host, port) {
  const c = new Conn(host, port);
  try {
    await c.connected;
    const opts = Buffer.concat([Buffer.from([0, 1]), cqlString('CQL_VERSION'), cqlString('3.0.0')]);
    c.write(cqlFrame(1, 0x01, opts)); // STARTUP
    const ready = await cqlRead(c);
    if (ready.opcode === 0x03) throw new Error('cassandra: server asks for authentication (probe expects AllowAllAuthenticator)');
    if (ready.opcode !== 0x02) throw new Error(`cassandra: unexpected opcode 0x${ready.opcode.toString(16)} after STARTUP`);
    const q = Buffer.concat([cqlLongString('SELECT release_version FROM system.local'), Buffer.from([0x00, 0x01, 0x00])]); // consistency ONE, no flags
    c.write(cqlFrame(2, 0x07, q)); // QUERY
    const res = await cqlRead(c);
    if (res.opcode !== 0x08) throw new Error(`cassandra: unexpected opcode 0x${res.opcode.toString(16)} for QUERY`);
    const r = new Reader(res.body);
    const kind = r.i32();
    if (kind !== 2) throw new Error(`cassandra: result kind ${kind}, expected Rows`);
    const flags = r.i32(), cols = r.i32();
    if (flags & 0x0002) r.bytes(); // paging state
    if (!(flags & 0x0004)) { // metadata present
      const global = flags & 0x0001;
      if (global) { r.str(); r.str(); }
      for (let i = 0; i < cols; i++) { if (!global) { r.str(); r.str(); } r.str(); skipCqlType(r); }
    }
    const rows = r.i32();
    if (rows < 1) throw new Error('cassandra: system.local returned no row');
    const v = r.bytes();
    return `cassandra ${host}:${port} ok: release_version ${v ? v.toString('utf8') : 'null'}`;
  } finally { c.close(); }
}

// ---------- Redis (RESP) ----------
function resp(...args) {
  return Buffer.from(`*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join(''));
}
async function probeRedis(host, port) {
  const c = new Conn(host, port);
  try {
    await c.connected;
    c.write(resp('PING'));
    const pong = await c.readLine();
    if (pong !== '+PONG') throw new Error(`redis: PING answered ${JSON.stringify(pong)}`);
    c.write(resp('INFO', 'server'));
    const h = await c.readLine();
    let version = '?';
    if (h[0] === '$') {
      const info = (await c.read(Number(h.slice(1)) + 2)).toString('utf8');
      const m = /redis_version:([^\r\n]+)/.exec(info);
      if (m) version = m[1];
    }
    return `redis ${host}:${port} ok: PONG, redis_version ${version}`;
  } finally { c.close(); }
}

async function probeTcp(host, port) {
  const c = new Conn(host, port);
  try { await c.connected; return `tcp ${host}:${port} ok: accepts connections`; } finally { c.close(); }
}

const probes = {
  kafka: [probeKafka, 9092],
  cassandra: [probeCassandra, 9042],
  cql: [probeCassandra, 9042],
  redis: [probeRedis, 6379],
  tcp: [probeTcp, 0],
};

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const p = probes[a.pos[0]];
  if (!p) {
    process.stderr.write('usage: node probe.js kafka|cassandra|redis|tcp [host:port] [--timeout MS] [--quiet]\n');
    process.exit(2);
  }
  const { host, port } = splitHostPort(a.pos[1], p[1]);
  let timer;
  const timeout = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${a.pos[0]} ${host}:${port}: no answer within ${a.timeout} ms`)), a.timeout); });
  try {
    const line = await Promise.race([p[0](host, port, { warm: a.warm }), timeout]);
    if (!a.quiet) process.stdout.write(line + '\n');
    process.exit(0);
  } catch (e) {
    if (!a.quiet) process.stderr.write(`${a.pos[0]} ${host}:${port}: ${e.code || ''} ${e.message}\n`.replace(/:  /, ': '));
    process.exit(1);
  } finally { clearTimeout(timer); }
}

main();
