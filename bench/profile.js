#!/usr/bin/env node
'use strict';
/**
 * CPU profile of the nestjs-iroh server and client at 64 B with 256 requests in flight.
 *
 *   node bench/profile.js [--duration=ms] [--workload=echo64@256]
 *
 * Both processes run under `node --cpu-prof`, with every binding method wrapped to count its calls
 * and bytes (bench/count-calls.js). Only samples inside the measurement window are analysed.
 * Writes .bench/profile/{server,client}.cpuprofile (open them in Chrome DevTools) and
 * bench/results/profile.json, and prints the summary.
 */
const { fork } = require('child_process');
const { mkdirSync, readFileSync, writeFileSync, rmSync } = require('fs');
const { join, basename } = require('path');
const { WORKLOADS, ipcClient, sleep } = require('./common');

const args = process.argv.slice(2);
const option = name => {
  const a = args.find(x => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : undefined;
};
const DURATION = Number(option('duration') ?? 5000);
const WORKLOAD = WORKLOADS.find(w => w.key === (option('workload') ?? 'echo64@256'));
const TRANSPORT = option('transport') ?? 'iroh';
const ROOT = join(__dirname, '..');
const DIR = join(ROOT, '.bench', 'profile', TRANSPORT);
const OUT = option('out') ?? join(__dirname, 'results', TRANSPORT === 'iroh' ? 'profile.json' : `profile-${TRANSPORT}.json`);
const INTERVAL_US = 100;

const children = new Set();
process.on('exit', () => children.forEach(c => c.kill('SIGKILL')));
setTimeout(() => {
  console.error('profile: time limit reached');
  process.exit(1);
}, 120_000).unref();

function spawn(script, argv, name) {
  const child = fork(join(__dirname, script), argv, {
    execArgv: [
      '--expose-gc',
      '--cpu-prof',
      `--cpu-prof-dir=${DIR}`,
      `--cpu-prof-name=${name}.cpuprofile`,
      `--cpu-prof-interval=${INTERVAL_US}`,
    ],
    env: { ...process.env, BENCH_COUNT_CALLS: '1' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

function ready(ipc) {
  return ipc
    .next(m => m.type === 'ready' || m.type === 'failed', 30_000)
    .then(m => {
      if (m.type === 'failed') throw new Error(m.error);
      return m;
    });
}

/** Asks a child to exit and waits: --cpu-prof writes the profile on a normal exit only. */
async function exitChild(child, ipc) {
  const exited = new Promise(r => child.once('exit', r));
  ipc.send({ cmd: 'exit', rid: -1 });
  const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(t);
}

// ---- analysis -------------------------------------------------------------------------------

const NATIVE_BINDING = new Set([
  'read',
  'readExact',
  'readToEnd',
  'write',
  'writeAll',
  'finish',
  'openBi',
  'acceptBi',
  'openUni',
  'acceptUni',
  'stats',
  'close',
  'closed',
  'connect',
  'acceptNext',
  'accept',
  'remoteId',
  'id',
  'addr',
  'stopped',
  'reset',
]);

const DIST = `${ROOT}/dist/`;
const BENCH = `${ROOT}/bench/`;

/** Which part of the software a profile node belongs to. */
function category(frame) {
  const fn = frame.functionName;
  const url = (frame.url || '').replace(/^file:\/\//, '');
  if (fn === '(idle)') return 'idle';
  if (fn === '(garbage collector)') return 'GC';
  if (fn === '(program)') return 'V8/native (unattributed)';
  if (fn === '(root)') return 'V8/native (unattributed)';
  if (url.includes('@number0/iroh') || url.includes('count-calls.js')) return 'binding calls';
  if (!url && NATIVE_BINDING.has(fn)) return 'binding calls';
  if (url === `${DIST}iroh/bytes.js` || (url === `${BENCH}raw.js` && /^(toArray|fromArray)$/.test(fn))) return 'byte conversion';
  if (!url && (fn === 'stringify' || fn === 'parse')) return 'JSON';
  if (url === `${DIST}protocol/payload.js` || url === `${DIST}protocol/messages.js`) return 'our framing: payload codec';
  if (url.startsWith(`${DIST}protocol/`) || url === `${DIST}transport/frame-stream.js`) return 'our framing: frames, writer, read loop';
  if (url.startsWith(DIST)) return 'our transport: server/client/channels';
  if (url.includes('/node_modules/@nestjs/')) return 'Nest dispatch';
  if (url.includes('/node_modules/rxjs/')) return 'rxjs';
  if (url.startsWith(BENCH)) return 'bench harness';
  if (url.startsWith('node:buffer') || fn === 'utf8Write' || fn === 'utf8Slice' || (fn === 'toString' && !url))
    return 'Node Buffer (utf8 ↔ bytes)';
  if (url.startsWith('node:')) return 'Node internals (timers, immediates, promises, events)';
  if (!url) return 'V8 builtins (other)';
  return 'other';
}

/** The five groups the tuning work cares about. */
function group(cat) {
  if (cat === 'binding calls') return 'binding calls';
  if (cat === 'byte conversion') return 'byte conversion';
  if (cat === 'JSON' || cat === 'Node Buffer (utf8 ↔ bytes)') return 'JSON (+ utf8 Buffer)';
  if (cat === 'Nest dispatch' || cat === 'rxjs') return 'Nest dispatch (+ rxjs)';
  if (cat.startsWith('our ')) return 'our framing/transport';
  if (cat === 'idle') return 'idle';
  return 'other (GC, V8, Node internals, harness)';
}

function analyse(file, windowUs, requests) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map(n => [n.id, n]));
  // Sample i was taken at startTime + sum(timeDeltas[0..i]); it accounts for the time up to the next sample.
  const self = new Map();
  let t = profile.startTime;
  let total = 0;
  let inWindow = 0;
  const [from, to] = windowUs;
  const useWindow = from && to && from >= profile.startTime && to <= profile.endTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i];
    const dt = i + 1 < profile.timeDeltas.length ? profile.timeDeltas[i + 1] : 0;
    if (useWindow && (t < from || t > to)) continue;
    inWindow++;
    total += dt;
    const id = profile.samples[i];
    self.set(id, (self.get(id) || 0) + dt);
  }
  const functions = new Map();
  const categories = new Map();
  const groups = new Map();
  for (const [id, us] of self) {
    const frame = byId.get(id).callFrame;
    const where = frame.url ? `${basename(frame.url)}:${frame.lineNumber + 1}` : 'native';
    const key = `${frame.functionName || '(anonymous)'} ${where}`;
    const cat = category(frame);
    const f = functions.get(key) || { fn: frame.functionName || '(anonymous)', where, url: frame.url, category: cat, us: 0 };
    f.us += us;
    functions.set(key, f);
    categories.set(cat, (categories.get(cat) || 0) + us);
    groups.set(group(cat), (groups.get(group(cat)) || 0) + us);
  }
  const idle = categories.get('idle') || 0;
  const busy = total - idle;
  const pct = us => (busy ? (us / busy) * 100 : 0);
  const perRequest = us => us / requests;
  return {
    windowed: useWindow,
    samples: inWindow,
    totalMs: total / 1000,
    busyMs: busy / 1000,
    busyUsPerRequest: perRequest(busy),
    idleMs: idle / 1000,
    top: [...functions.values()]
      .filter(f => f.category !== 'idle')
      .sort((a, b) => b.us - a.us)
      .slice(0, 25)
      .map(f => ({
        function: f.fn,
        where: f.where,
        category: f.category,
        selfMs: f.us / 1000,
        pctOfBusy: pct(f.us),
        usPerRequest: perRequest(f.us),
      })),
    categories: [...categories.entries()]
      .filter(([k]) => k !== 'idle')
      .sort((a, b) => b[1] - a[1])
      .map(([k, us]) => ({ category: k, selfMs: us / 1000, pctOfBusy: pct(us), usPerRequest: perRequest(us) })),
    groups: [...groups.entries()]
      .filter(([k]) => k !== 'idle')
      .sort((a, b) => b[1] - a[1])
      .map(([k, us]) => ({ group: k, selfMs: us / 1000, pctOfBusy: pct(us), usPerRequest: perRequest(us) })),
  };
}

function perOp(calls, ops) {
  const out = {};
  for (const [k, v] of Object.entries(calls || {})) {
    out[k] = { calls: v.calls, perOp: v.calls / ops, bytesPerCall: v.bytes && v.calls ? v.bytes / v.calls : undefined };
  }
  return out;
}

function callsDelta(a, b) {
  const out = {};
  for (const [k, v] of Object.entries(b || {})) {
    const calls = v.calls - (a?.[k]?.calls ?? 0);
    if (calls) out[k] = { calls, bytes: v.bytes - (a?.[k]?.bytes ?? 0) };
  }
  return out;
}

async function main() {
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  const scripts = { iroh: ['servers/iroh.js'], tcp: ['servers/tcp.js'], 'raw-framed': ['servers/raw.js', 'framed'] };
  const [script, ...argv] = scripts[TRANSPORT];
  const serverChild = spawn(script, argv, 'server');
  const server = ipcClient(serverChild, 'server');
  const { address } = await ready(server);
  const clientChild = spawn('clients/driver.js', [TRANSPORT], 'client');
  const client = ipcClient(clientChild, 'client');
  await ready(client);
  await client.call({ cmd: 'init', address });
  // No event-loop monitors: their 1 ms timers would show in the profile.
  await client.call({ cmd: 'load', workload: WORKLOAD, loopDelay: false });
  await sleep(1000);
  await client.call({ cmd: 'start' }, 60_000);
  const s0 = await server.call({ cmd: 'cpu' });
  const sc0 = (await server.call({ cmd: 'calls' })).calls;
  await sleep(DURATION);
  const { result } = await client.call({ cmd: 'stop' }, 60_000);
  const s1 = await server.call({ cmd: 'cpu' });
  const sc1 = (await server.call({ cmd: 'calls' })).calls;
  await client.call({ cmd: 'drain' }, 60_000);
  await exitChild(clientChild, client);
  await exitChild(serverChild, server);
  const ops = result.completed;
  const serverCpuUs = s1.cpu.user + s1.cpu.system - s0.cpu.user - s0.cpu.system;
  const serverProfile = analyse(join(DIR, 'server.cpuprofile'), [s0.hrUs, s1.hrUs], result.completed);
  const clientProfile = analyse(join(DIR, 'client.cpuprofile'), result.hrUs, result.completed);
  const seconds = result.elapsedMs / 1000;
  const summary = {
    date: new Date().toISOString(),
    transport: TRANSPORT,
    workload: WORKLOAD.key,
    durationMs: result.elapsedMs,
    requests: ops,
    rps: ops / seconds,
    latency: result.latency,
    note: 'rps is lower than in the benchmark: the profiler and the call counters cost time',
    cpu: {
      clientUsPerRequest: result.clientCpuUs / ops,
      serverUsPerRequest: serverCpuUs / ops,
      // Main-thread time the profiler saw vs all threads' CPU: the rest runs off the JS thread (tokio, GC helpers).
      clientMainThreadShare: clientProfile.busyMs / (result.clientCpuUs / 1000),
      serverMainThreadShare: serverProfile.busyMs / (serverCpuUs / 1000),
    },
    wire: result.wire && {
      bytesPerRequest: (result.wire.tx + result.wire.rx) / ops,
      clientTxBytesPerRequest: result.wire.tx / ops,
      clientRxBytesPerRequest: result.wire.rx / ops,
      udpDatagramsPerRequest: result.wire.txPackets !== undefined ? (result.wire.txPackets + result.wire.rxPackets) / ops : undefined,
    },
    bindingCalls: { client: perOp(result.calls, ops), server: perOp(callsDelta(sc0, sc1), ops) },
    client: clientProfile,
    server: serverProfile,
  };
  mkdirSync(join(__dirname, 'results'), { recursive: true });
  writeFileSync(OUT, JSON.stringify(summary, null, 2) + '\n');
  print(summary);
  console.log(`\nWrote ${OUT}; profiles in ${DIR}`);
  process.exit(0);
}

function print(s) {
  const f = (n, d = 1) => n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
  console.log(
    `${s.transport} ${s.workload}: ${f(s.rps, 0)} req/s under the profiler, p50 ${f(s.latency.p50, 2)} ms; ` +
      `CPU per request: client ${f(s.cpu.clientUsPerRequest)} µs, server ${f(s.cpu.serverUsPerRequest)} µs`,
  );
  if (s.wire)
    console.log(
      `wire: ${f(s.wire.bytesPerRequest, 0)} bytes per request on the wire, both ways (UDP for iroh, TCP payload for Nest TCP), ${s.wire.udpDatagramsPerRequest != null ? f(s.wire.udpDatagramsPerRequest, 2) : '?'} datagrams per request`,
    );
  for (const side of ['client', 'server']) {
    const p = s[side];
    console.log(
      `\n${side}: ${f(p.busyMs, 0)} ms busy on the JS thread in the window = ${f(p.busyUsPerRequest)} µs per request (${f(s.cpu[`${side}MainThreadShare`] * 100, 0)}% of the process CPU), ${p.samples} samples`,
    );
    console.log('  groups:                                  % of busy   µs/request');
    for (const g of p.groups) console.log(`    ${g.group.padEnd(40)} ${f(g.pctOfBusy).padStart(6)} %  ${f(g.usPerRequest, 2).padStart(8)}`);
    console.log('  categories:');
    for (const c of p.categories)
      console.log(`    ${c.category.padEnd(52)} ${f(c.pctOfBusy).padStart(6)} %  ${f(c.usPerRequest, 2).padStart(8)}`);
    console.log('  top self time:');
    for (const t of p.top.slice(0, 15))
      console.log(
        `    ${f(t.pctOfBusy).padStart(5)} %  ${f(t.usPerRequest, 2).padStart(6)} µs  ${(t.function || '(anonymous)').padEnd(30)} ${t.where.padEnd(28)} ${t.category}`,
      );
    console.log('  binding calls per request:');
    for (const [k, v] of Object.entries(s.bindingCalls[side])) {
      console.log(`    ${k.padEnd(26)} ${f(v.perOp, 3).padStart(8)}${v.bytesPerCall ? `  (${f(v.bytesPerCall, 0)} bytes per call)` : ''}`);
    }
  }
}

main().catch(err => {
  console.error(err);
  process.exit(1);
});
