#!/usr/bin/env node
'use strict';
/**
 * Where a new client's time to its first reply goes, for nestjs-iroh and for the raw binding:
 * `node bench/connect-phases.js [--count=10] [--heap-mb=0,150] [--scenarios=a,b] [--out=file.json]`
 * (needs dist/: `npm run build`).
 *
 * Servers run in their own processes (bench/servers/iroh.js, bench/servers/raw.js framed). In
 * this process every scenario runs `count` clients one after another; the binding's methods are
 * wrapped to time each phase of each client:
 *
 *   before bind   construction, options, key generation (nestjs-iroh: `ClientIroh` up to `bind()`)
 *   bind          `EndpointBuilder.bind()`
 *   handshake     `Endpoint.connect()` (the QUIC handshake over loopback)
 *   openBi        `Connection.openBi()`
 *   to write      from the open stream to the first `writeAll()` (channel set-up, encoding)
 *   round trip    first `writeAll()` to the first `read()` that brings bytes (nestjs-iroh: the
 *                 HELLO and the server's answer to it)
 *   to reply      from those bytes to the caller holding the reply (nestjs-iroh: the request's
 *                 round trip; decoding, Nest, rxjs)
 *
 * and, per client, the garbage collections that ran inside its time (PerformanceObserver 'gc':
 * count, forced ones, total ms) and the longest event-loop stall (monitorEventLoopDelay, 1 ms).
 *
 * Scenarios: `kept` (every client stays open until the scenario ends, as in `npm run bench`),
 * `closed` (the previous client is closed, awaited, just before the next one starts: as an
 * application that reconnects does), `release` (nestjs-iroh only: closed, with
 * `releasePortOnClose: true`, so each close() forces collections until its port is free, as it
 * does by default for a fixed port), `settled` (closed, then 2.5 s idle). With
 * --heap-mb, each scenario runs again with that many MB of live objects in the heap, as a process
 * that has been running for a while has (forced collections then take longer).
 */
require('reflect-metadata');
const { fork } = require('child_process');
const { join } = require('path');
const { writeFileSync, mkdirSync } = require('fs');
const { PerformanceObserver, monitorEventLoopDelay, constants: perfConstants } = require('perf_hooks');
const iroh = require('@number0/iroh/index.js');
const { ClientIroh } = require('../dist');
const raw = require('./raw');
const { ipcClient, sleep } = require('./common');
require('@nestjs/common').Logger.overrideLogger(false);

const args = process.argv.slice(2);
const option = name => {
  const a = args.find(x => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : undefined;
};
const COUNT = Number(option('count') ?? 10);
const HEAPS = (option('heap-mb') ?? '0,150').split(',').map(Number);
const SCENARIOS = (option('scenarios') ?? 'iroh-kept,iroh-closed,iroh-release,iroh-settled,raw-kept,raw-closed,raw-settled').split(',');
const OUT = option('out');
const LOOPBACK = { relayMode: 'disabled', bindAddr: '127.0.0.1:0' };

// ---- phase marks from the binding ---------------------------------------------------------

/** The client being timed: its marks (ms, performance.now()). Null between clients. */
let current = null;

function mark(name) {
  if (current && current.marks[name] === undefined) current.marks[name] = performance.now();
}

/** Wraps `cls.prototype[method]` to mark `<name>Start` when first called and `<name>End` when its promise first settles. */
function instrument(cls, method, name, endWhen = () => true) {
  const original = cls.prototype[method];
  cls.prototype[method] = function (...a) {
    const trial = current;
    mark(`${name}Start`);
    const result = original.apply(this, a);
    if (result && typeof result.then === 'function' && trial) {
      result.then(
        v => {
          if (trial === current && endWhen(v)) mark(`${name}End`);
        },
        () => undefined,
      );
    }
    return result;
  };
}

instrument(iroh.EndpointBuilder, 'bind', 'bind');
instrument(iroh.Endpoint, 'connect', 'connect');
instrument(iroh.Connection, 'openBi', 'openBi');
instrument(iroh.SendStream, 'writeAll', 'write');
// The first read that brings bytes (the client's read loop starts before anything is written).
instrument(iroh.RecvStream, 'read', 'read', bytes => bytes && bytes.length > 0);
// Closing the previous client: how much of it is the endpoint's own close().
instrument(iroh.Endpoint, 'close', 'endpointClose');

// ---- GC and event-loop observation --------------------------------------------------------

const gcs = [];
new PerformanceObserver(list => {
  for (const e of list.getEntries())
    gcs.push({
      start: e.startTime,
      end: e.startTime + e.duration,
      forced: !!(e.detail?.flags & perfConstants.NODE_PERFORMANCE_GC_FLAGS_FORCED),
    });
}).observe({ entryTypes: ['gc'] });

/** GCs that overlap [t0, t1]: count, forced count, ms inside the interval. */
function gcWithin(t0, t1) {
  let count = 0;
  let forced = 0;
  let ms = 0;
  for (const g of gcs) {
    if (g.end < t0 || g.start > t1) continue;
    count++;
    if (g.forced) forced++;
    ms += Math.min(g.end, t1) - Math.max(g.start, t0);
  }
  return { count, forced, ms };
}

// ---- clients ------------------------------------------------------------------------------

const PAYLOAD = 'x'.repeat(64);

/** nestjs-iroh: a new ClientIroh up to its first reply (`releasePortOnClose` for the `release` scenario). */
async function irohClient(ticket, mode) {
  const client = new ClientIroh({ ...LOOPBACK, peer: ticket, releasePortOnClose: mode === 'release' });
  await new Promise((resolve, reject) => client.send('echo', PAYLOAD).subscribe({ complete: resolve, error: reject }));
  return { close: () => client.close() };
}

/** The raw binding doing the same: bind, dial, open a stream, one framed request, its reply. */
async function rawClient(ticket) {
  const link = await (async () => {
    const endpoint = await raw.bindEndpoint();
    const connection = await endpoint.connect(iroh.EndpointTicket.fromString(ticket).endpointAddr(), raw.ALPN);
    const bi = await connection.openBi();
    return { endpoint, connection, bi };
  })();
  const reply = new Promise(resolve => {
    const reader = new raw.FrameReader((id, op, payload) => resolve(payload));
    raw.readLoop(link.bi.recv, chunk => reader.push(chunk)).catch(() => undefined);
  });
  const body = Buffer.from(JSON.stringify(PAYLOAD));
  await link.bi.send.writeAll(raw.toArray([raw.frameHeader(1, raw.Op.ECHO, body.length), body], raw.HEADER + body.length));
  await reply;
  return {
    close: async () => {
      try {
        link.connection.close(0n, []);
      } catch {
        // already closed
      }
      await link.endpoint.close();
    },
  };
}

// ---- scenarios ----------------------------------------------------------------------------

function phases(m, t0, t1) {
  const d = (a, b) => (m[a] !== undefined && m[b] !== undefined ? m[b] - m[a] : null);
  m.t0 = t0;
  m.t1 = t1;
  return {
    beforeBind: d('t0', 'bindStart'),
    bind: d('bindStart', 'bindEnd'),
    handshake: d('connectStart', 'connectEnd'),
    openBi: d('openBiStart', 'openBiEnd'),
    toWrite: d('openBiEnd', 'writeStart'),
    roundTrip: d('writeStart', 'readEnd'),
    toReply: d('readEnd', 't1'),
    total: t1 - t0,
  };
}

async function scenario(name, ticket) {
  const [kind, mode] = name.split('-');
  return runScenario(kind, mode, ticket);
}

async function runScenario(kind, mode, ticket) {
  const open = kind === 'iroh' ? t => irohClient(t, mode) : rawClient;
  const kept = [];
  const trials = [];
  let previous = null;
  const loop = monitorEventLoopDelay({ resolution: 1 });
  for (let i = 0; i < COUNT; i++) {
    let closeMs = null;
    let endpointCloseMs = null;
    if (previous && mode !== 'kept') {
      current = { marks: {} };
      const c0 = performance.now();
      await previous.close();
      closeMs = performance.now() - c0;
      const m = current.marks;
      endpointCloseMs = m.endpointCloseEnd !== undefined ? m.endpointCloseEnd - m.endpointCloseStart : null;
      current = null;
      previous = null;
      if (mode === 'settled') await sleep(2500);
    }
    loop.reset();
    loop.enable();
    current = { marks: {} };
    const t0 = performance.now();
    const client = await open(ticket);
    const t1 = performance.now();
    const marks = current.marks;
    current = null;
    loop.disable();
    // Let the GC observer's entries for this client arrive before they are read.
    await new Promise(r => setImmediate(r));
    trials.push({ ...phases(marks, t0, t1), closePreviousMs: closeMs, endpointCloseMs, gc: gcWithin(t0, t1), loopMaxMs: loop.max / 1e6 });
    if (mode === 'kept') kept.push(client);
    else previous = client;
  }
  if (previous) kept.push(previous);
  await Promise.all(kept.map(c => c.close()));
  return trials;
}

const median = values => {
  const v = values.filter(x => x !== null && x !== undefined).sort((a, b) => a - b);
  return v.length ? v[(v.length - 1) >> 1] : null;
};
const f = (n, d = 2) => (n === null || n === undefined ? '—' : n.toFixed(d));

function summarize(trials) {
  const keys = [
    'beforeBind',
    'bind',
    'handshake',
    'openBi',
    'toWrite',
    'roundTrip',
    'toReply',
    'total',
    'closePreviousMs',
    'endpointCloseMs',
    'loopMaxMs',
  ];
  const out = Object.fromEntries(keys.map(k => [k, median(trials.map(t => t[k]))]));
  out.gcMs = median(trials.map(t => t.gc.ms));
  out.gcCount = median(trials.map(t => t.gc.count));
  out.forcedGcCount = median(trials.map(t => t.gc.forced));
  out.totalMax = Math.max(...trials.map(t => t.total));
  return out;
}

/** Live objects the size of a long-running process's heap: many small ones, as a real heap has. */
function inflateHeap(mb) {
  const keep = [];
  while (process.memoryUsage().heapUsed < mb * 1e6) {
    const chunk = new Array(10_000);
    for (let i = 0; i < chunk.length; i++) chunk[i] = { id: i, name: `item-${i}`, tags: [i, i + 1] };
    keep.push(chunk);
  }
  return keep;
}

async function startServer(script, argv) {
  const child = fork(join(__dirname, script), argv, { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const ipc = ipcClient(child, script);
  const ready = await ipc.next(m => m.type === 'ready' || m.type === 'failed');
  if (ready.type === 'failed') throw new Error(ready.error);
  return { child, ticket: ready.address };
}

async function main() {
  const servers = { iroh: await startServer('servers/iroh.js', []), raw: await startServer('servers/raw.js', ['framed']) };
  process.on('exit', () => Object.values(servers).forEach(s => s.child.kill('SIGKILL')));
  // One client of each kind first: code paths compiled, connections to the servers warm.
  for (const [kind, s] of Object.entries(servers)) await (await (kind === 'iroh' ? irohClient : rawClient)(s.ticket)).close();
  await sleep(2500);
  const results = [];
  // Live objects of the size under test, kept referenced while its scenarios run.
  const ballasts = [];
  for (const heapMb of HEAPS) {
    ballasts[0] = heapMb > 0 ? inflateHeap(heapMb) : null;
    const heapUsedMb = process.memoryUsage().heapUsed / 1e6;
    for (const name of SCENARIOS) {
      const trials = await scenario(name, servers[name.split('-')[0]].ticket);
      const summary = summarize(trials);
      results.push({ scenario: name, heapMb, heapUsedMb, summary, trials });
      printRow(name, heapUsedMb, summary);
      await sleep(2500); // the last scenario's endpoints finish closing
    }
    ballasts.length = 0;
  }
  if (OUT) {
    mkdirSync(require('path').dirname(OUT), { recursive: true });
    writeFileSync(
      OUT,
      JSON.stringify({ meta: { date: new Date().toISOString(), node: process.version, count: COUNT }, results }, null, 2) + '\n',
    );
    console.log(`Wrote ${OUT}`);
  }
  process.exit(0);
}

let headerPrinted = false;
function printRow(name, heapUsedMb, s) {
  if (!headerPrinted) {
    headerPrinted = true;
    console.log(`median ms of ${COUNT} clients each; gc = collections inside a client's time (forced), loop = longest event-loop stall`);
    console.log(
      'scenario       heap MB  before bind    bind  handshake  openBi  to write  round trip  to reply   total  (max)  close prev. (endpoint)  gc ms  gc n (forced)  loop max',
    );
  }
  console.log(
    `${name.padEnd(14)} ${f(heapUsedMb, 0).padStart(7)}  ${f(s.beforeBind).padStart(11)}  ${f(s.bind).padStart(6)}  ${f(s.handshake).padStart(9)}  ${f(s.openBi).padStart(6)}  ${f(s.toWrite).padStart(8)}  ${f(s.roundTrip).padStart(10)}  ${f(s.toReply).padStart(8)}  ${f(s.total).padStart(6)}  ${f(s.totalMax, 1).padStart(5)}  ${f(s.closePreviousMs).padStart(11)} ${`(${f(s.endpointCloseMs)})`.padStart(10)}  ${f(s.gcMs).padStart(5)}  ${`${s.gcCount} (${s.forcedGcCount})`.padStart(13)}  ${f(s.loopMaxMs, 1).padStart(8)}`,
  );
}

setTimeout(() => {
  console.error('connect-phases: time limit reached');
  process.exit(1);
}, 600_000).unref();

main().catch(err => {
  console.error(err);
  process.exit(1);
});
