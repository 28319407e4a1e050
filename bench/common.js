'use strict';
/**
 * Shared pieces of the benchmark: workloads, payloads, statistics and the small
 * request/response protocol the orchestrator speaks with its child processes over IPC.
 */

const LOOPBACK_HOST = '127.0.0.1';

/** Workloads, in the order they run. `inflight` requests are kept outstanding (closed loop). */
const WORKLOADS = [
  { key: 'echo64@1', label: '64 B @1', kind: 'echo', payload: 'small', inflight: 1, metric: 'rps' },
  { key: 'echo64@16', label: '64 B @16', kind: 'echo', payload: 'small', inflight: 16, metric: 'rps' },
  { key: 'echo64@256', label: '64 B @256', kind: 'echo', payload: 'small', inflight: 256, metric: 'rps' },
  { key: 'echo16k@16', label: '16 KiB @16', kind: 'echo', payload: 'medium', inflight: 16, metric: 'mbps' },
  { key: 'ascii1m@1', label: '1 MiB ASCII @1', kind: 'echo', payload: 'ascii1m', inflight: 1, metric: 'mbps' },
  { key: 'json1m@1', label: '1 MiB JSON @1', kind: 'echo', payload: 'json1m', inflight: 1, metric: 'mbps' },
  { key: 'stream10k', label: '10k-item stream', kind: 'stream', items: 10_000, inflight: 1, metric: 'items' },
  { key: 'connect', label: 'new client → 1st reply', kind: 'connect', metric: 'ms' },
];

const TRANSPORTS = [
  { key: 'iroh', label: 'nestjs-iroh' },
  { key: 'tcp', label: 'Nest TCP' },
  { key: 'tcp-tls', label: 'Nest TCP + TLS' },
  { key: 'grpc', label: 'Nest gRPC' },
  { key: 'raw-stream', label: 'raw binding, stream per request' },
  { key: 'raw-framed', label: 'raw binding, one framed batched stream' },
  // One ClientIroh in front of two server processes (requests balanced over both): reported,
  // with no target on a 2-core machine, where the two servers share the cores with the client.
  {
    key: 'iroh-2peers',
    label: 'nestjs-iroh, two servers behind one client',
    servers: 2,
    workloads: ['echo64@16', 'echo64@256', 'echo16k@16'],
  },
];

/**
 * Cells measured beside a transport with one thing changed, run right after it on the
 * workloads listed (not in the chart). `preload` is required into both processes first.
 */
const VARIANTS = [
  {
    key: 'iroh-no-otel',
    label: 'nestjs-iroh, no @opentelemetry/api',
    of: 'iroh',
    workloads: ['echo64@256'],
    preload: 'no-otel.js',
  },
  {
    // The endpoints of both processes in an I/O thread (servers/iroh.js io, the client's variant).
    key: 'iroh-io',
    label: 'nestjs-iroh, ioThread',
    of: 'iroh',
    workloads: WORKLOADS.map(w => w.key),
  },
];

/** Deterministic PRNG (mulberry32) so every run sends the same bytes. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Printable ASCII without `"` and `\`, so JSON carries it unescaped (93 symbols, ~6.5 bits each). */
const ASCII = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).filter(c => c !== '"' && c !== '\\');

function randomAscii(length, seed) {
  const rnd = prng(seed);
  const out = new Array(length);
  for (let i = 0; i < length; i++) out[i] = ASCII[(rnd() * ASCII.length) | 0];
  return out.join('');
}

const WORDS = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet', 'kilo', 'lima'];

function jsonRecord(i, rnd) {
  const w = () => WORDS[(rnd() * WORDS.length) | 0];
  return {
    id: i,
    name: `${w()} ${w()}`,
    email: `${w()}.${i}@example.com`,
    active: rnd() < 0.5,
    score: Math.round(rnd() * 1e6) / 100,
    tags: [w(), w(), w()],
    created: new Date(1_600_000_000_000 + Math.floor(rnd() * 1e11)).toISOString(),
  };
}

/** A document of records whose JSON text is just over `bytes` long. */
function jsonDocument(bytes, seed) {
  const rnd = prng(seed);
  const records = [];
  let size = 14; // {"records":[]}
  while (size < bytes) {
    const record = jsonRecord(records.length, rnd);
    records.push(record);
    size += JSON.stringify(record).length + 1;
  }
  return { records };
}

/**
 * The payloads of the echo workloads. `value` is what Nest clients send, `bytes` (a Buffer) what
 * the raw binding clients send, `size` the byte count MB/s is computed from.
 */
function makePayloads() {
  const small = randomAscii(64, 1);
  const medium = randomAscii(16 * 1024, 2);
  const ascii1m = randomAscii(1024 * 1024, 3);
  const doc = jsonDocument(1024 * 1024, 4);
  const docText = JSON.stringify(doc);
  return {
    small: { value: small, bytes: Buffer.from(small), size: 64 },
    medium: { value: medium, bytes: Buffer.from(medium), size: medium.length },
    ascii1m: { value: ascii1m, bytes: Buffer.from(ascii1m), size: ascii1m.length },
    json1m: { value: doc, bytes: Buffer.from(docText), size: docText.length, json: true },
  };
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

/** A growable array of latencies (ms). */
class Samples {
  constructor() {
    this.data = new Float64Array(1024);
    this.length = 0;
  }
  push(v) {
    if (this.length === this.data.length) {
      const next = new Float64Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = v;
  }
  summary() {
    const sorted = this.data.slice(0, this.length).sort();
    return {
      n: this.length,
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      min: sorted[0] ?? null,
      max: sorted[this.length - 1] ?? null,
    };
  }
}

function cpuDelta(a, b) {
  return b.user - a.user + (b.system - a.system); // µs
}

/**
 * CPU time of the calling thread so far, in µs (Linux: /proc/thread-self/schedstat), or null.
 * Called on the main thread, it is the main thread's alone: `process.cpuUsage()` counts every
 * thread of the process (the binding's, libuv's, an I/O thread).
 */
function threadCpuUs() {
  try {
    return Number(require('fs').readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1000;
  } catch {
    return null;
  }
}

/**
 * IPC request/response on top of `process.send`: `call(child, msg)` resolves with the reply that
 * carries the same `rid`. Children answer with `reply(msg, body)`.
 */
function ipcClient(child, name) {
  let nextId = 1;
  const waiting = new Map();
  const listeners = [];
  child.on('message', msg => {
    if (msg && msg.rid && waiting.has(msg.rid)) {
      const w = waiting.get(msg.rid);
      waiting.delete(msg.rid);
      clearTimeout(w.timer);
      if (msg.error) w.reject(new Error(`${name}: ${msg.error}`));
      else w.resolve(msg);
      return;
    }
    for (const l of listeners) l(msg);
  });
  child.on('error', () => undefined); // a send to a child that is gone; its exit is reported below
  child.on('exit', (code, signal) => {
    for (const w of waiting.values()) {
      clearTimeout(w.timer);
      w.reject(new Error(`${name} exited (${signal || code}) while we waited for a reply`));
    }
    waiting.clear();
  });
  return {
    call(msg, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const rid = nextId++;
        const timer = setTimeout(() => {
          waiting.delete(rid);
          reject(new Error(`${name}: no reply to ${msg.cmd} within ${timeoutMs} ms`));
        }, timeoutMs);
        waiting.set(rid, { resolve, reject, timer });
        try {
          child.send({ ...msg, rid });
        } catch (err) {
          waiting.delete(rid);
          clearTimeout(timer);
          reject(err);
        }
      });
    },
    send(msg) {
      try {
        child.send(msg);
      } catch {
        // The child is gone; its exit is reported elsewhere.
      }
    },
    /** Resolves with the next unsolicited message for which `predicate` holds. */
    next(predicate, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          const i = listeners.indexOf(listener);
          if (i >= 0) listeners.splice(i, 1);
          reject(new Error(`${name}: timed out after ${timeoutMs} ms waiting for a message`));
        }, timeoutMs);
        const listener = msg => {
          if (!predicate(msg)) return;
          clearTimeout(timer);
          listeners.splice(listeners.indexOf(listener), 1);
          resolve(msg);
        };
        listeners.push(listener);
      });
    },
  };
}

function reply(msg, body) {
  if (process.send && process.connected) process.send({ ...body, rid: msg.rid });
}

function memorySnapshot() {
  if (typeof global.gc === 'function') {
    global.gc();
    global.gc();
  }
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers };
}

/** A child exits when its parent goes away, whatever it is doing. */
function exitWithParent() {
  process.on('disconnect', () => process.exit(0));
}

const sleep = ms => new Promise(r => setTimeout(r, ms));

module.exports = {
  LOOPBACK_HOST,
  WORKLOADS,
  TRANSPORTS,
  VARIANTS,
  makePayloads,
  jsonDocument,
  randomAscii,
  Samples,
  percentile,
  cpuDelta,
  threadCpuUs,
  ipcClient,
  reply,
  memorySnapshot,
  exitWithParent,
  sleep,
  prng,
};
