#!/usr/bin/env node
'use strict';
/**
 * `npm run bench` (full, under 5 minutes) / `npm run bench:quick` (under 1 minute).
 *
 * For each transport: a server process and a client process (both Node, both forked from here,
 * IPC for control only; all traffic over loopback). Each workload runs as a closed loop with N
 * requests in flight: warm-up, then a fixed measurement window. CPU per request adds both
 * processes' `process.cpuUsage()` over the window (all threads, so the binding's Rust threads
 * count). Then memory per idle connection and per in-flight request.
 *
 * Both processes also report their event-loop delay over the window (max and p99, 1 ms resolution:
 * bench/loop-delay.js). "Nest TCP + TLS" runs with a throw-away self-signed certificate made with
 * `openssl` in a temporary folder (bench/tls.js); without openssl it is skipped, with the reason.
 *
 * Variant cells (common.js VARIANTS) run right after their transport on a few workloads with
 * one thing changed: "nestjs-iroh, no @opentelemetry/api" is nestjs-iroh at 64 B @256 in
 * processes that cannot resolve `@opentelemetry/api` (the other nestjs-iroh rows have it
 * installed, no provider registered), for issue 13's cost target. `--no-variants` skips them.
 *
 * Options: --quick, --transports=iroh,tcp,…, --workloads=echo64@1,…, --out=path.json,
 * --no-memory, --no-loop-delay, --duration=ms, --warmup=ms, --wait-quiet=seconds (before each workload, wait that
 * long at most for other processes to stop using the CPU). The "other load" column says how many
 * cores other processes used during each measurement window: numbers taken beside a busy machine
 * are not comparable.
 */
const { fork } = require('child_process');
const { writeFileSync, mkdirSync } = require('fs');
const { join, dirname } = require('path');
const os = require('os');
const { execSync } = require('child_process');
const { WORKLOADS, TRANSPORTS, VARIANTS, makePayloads, ipcClient, sleep } = require('./common');
const { renderChart } = require('./chart');
const { makeCertificate } = require('./tls');
const {
  kib,
  summaryLine,
  addRatios,
  targets,
  printTable,
  printMemory,
  printTargets,
  ioThreadComparison,
  printIoThreadComparison,
} = require('./report');
const { procStat, busyCores, waitQuiet } = require('./machine-load');

const args = process.argv.slice(2);
const flag = name => args.includes(`--${name}`);
const option = name => {
  const a = args.find(x => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : undefined;
};

const QUICK = flag('quick');
const CONFIG = {
  mode: QUICK ? 'quick' : 'full',
  durationMs: Number(option('duration') ?? (QUICK ? 500 : 5000)),
  warmupMs: Number(option('warmup') ?? (QUICK ? 200 : 1000)),
  connectCount: QUICK ? 5 : 20,
  idleConnections: QUICK ? 10 : 50,
  heldRequests: QUICK ? 200 : 1000,
  memory: !flag('no-memory'),
  /** Event-loop delay monitors in client and server during each window (a 1 ms timer in each). */
  loopDelay: !flag('no-loop-delay'),
  /** Before each workload, wait up to this long for other processes to go quiet (0: don't). */
  waitQuietMs: Number(option('wait-quiet') ?? 0) * 1000,
};
/**
 * `--baseline=<dist dir>`: also runs "nestjs-iroh (baseline)", the same server and client loaded
 * from another build (e.g. main's dist/ copied aside), to compare two versions in one run.
 */
const BASELINE_DIST = option('baseline');
if (BASELINE_DIST) TRANSPORTS.splice(1, 0, { key: 'iroh-base', label: 'nestjs-iroh (baseline build)' });
const only = option('transports')?.split(',');
const onlyWorkloads = option('workloads')?.split(',');
const transports = TRANSPORTS.filter(t => !only || only.includes(t.key));
const workloads = WORKLOADS.filter(w => !onlyWorkloads || onlyWorkloads.includes(w.key));
/** Variant cells of the transports that run, on the workloads that run. */
const variants = flag('no-variants')
  ? []
  : VARIANTS.filter(v => transports.some(t => t.key === v.of) && workloads.some(w => v.workloads.includes(w.key)));
const OUT = option('out') ?? join(__dirname, 'results', QUICK ? 'quick.json' : 'latest.json');
const CHART = join(dirname(OUT), QUICK ? 'chart-quick.svg' : 'chart.svg');

const SERVER_SCRIPTS = {
  iroh: ['servers/iroh.js'],
  'iroh-base': ['servers/iroh.js'],
  'iroh-io': ['servers/iroh.js', 'io'],
  'iroh-2peers': ['servers/iroh.js'],
  'iroh-no-otel': ['servers/iroh.js'],
  tcp: ['servers/tcp.js'],
  'tcp-tls': ['servers/tcp.js', 'tls'], // + the certificate's folder, added in main()
  grpc: ['servers/grpc.js'],
  'raw-stream': ['servers/raw.js', 'stream'],
  'raw-framed': ['servers/raw.js', 'framed'],
};

const children = new Set();
function spawnChild(script, argv, env = process.env, preload = null) {
  const child = fork(join(__dirname, script), argv, {
    execArgv: preload ? ['--expose-gc', '-r', join(__dirname, preload)] : ['--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env,
  });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}
function killAll() {
  for (const c of children) {
    try {
      c.kill('SIGKILL');
    } catch {
      // gone
    }
  }
}
/** Transports left out of this run, with the reason (e.g. no openssl for the TLS certificate). */
const skipped = {};
let certificate = null;
process.on('exit', () => {
  killAll();
  certificate?.remove?.();
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    killAll();
    process.exit(130);
  });
}
// Whatever happens, the run ends: 10 minutes is about twice the full run's budget.
setTimeout(
  () => {
    console.error('bench: overall time limit reached, stopping');
    killAll();
    process.exit(1);
  },
  (QUICK ? 180_000 : 600_000) + 45 * CONFIG.waitQuietMs,
).unref();

function waitReady(child, name, ms = 30_000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} not ready within ${ms} ms`)), ms);
    const onMessage = msg => {
      if (msg?.type === 'ready') done(null, msg);
      else if (msg?.type === 'failed') done(new Error(`${name} failed: ${msg.error}`));
    };
    const onExit = code => done(new Error(`${name} exited with ${code} before it was ready`));
    const done = (err, msg) => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      err ? reject(err) : resolve(msg);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

async function stopChild(child, ipc) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise(r => child.once('exit', r));
  ipc.call({ cmd: 'exit' }, 2000).catch(() => undefined);
  const t = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(t);
}

const cpuTotal = c => c.user + c.system;
/** The server's main-thread CPU between two 'cpu' answers (µs), or null off Linux. */
const mainCpu = (a, b) => (a.mainCpuUs == null || b.mainCpuUs == null ? null : b.mainCpuUs - a.mainCpuUs);

async function measureWorkload(workload, server, client, payloads) {
  if (workload.kind === 'connect') {
    if (CONFIG.loopDelay) await server.call({ cmd: 'loopStart' });
    const s0 = await server.call({ cmd: 'cpu' });
    const { result } = await client.call({ cmd: 'connect', count: CONFIG.connectCount, loopDelay: CONFIG.loopDelay }, 120_000);
    const s1 = await server.call({ cmd: 'cpu' });
    const serverLoop = CONFIG.loopDelay ? (await server.call({ cmd: 'loopStop' })).loopDelay : null;
    return {
      ...result,
      serverCpuUs: cpuTotal(s1.cpu) - cpuTotal(s0.cpu),
      serverMainCpuUs: mainCpu(s0, s1),
      loopDelay: { client: result.loopDelay, server: serverLoop },
    };
  }
  await client.call({ cmd: 'load', workload, loopDelay: CONFIG.loopDelay });
  await sleep(CONFIG.warmupMs);
  // start/stop answer at the next completed request: allow for slow ones.
  const slack = 60_000;
  await client.call({ cmd: 'start' }, slack);
  if (CONFIG.loopDelay) await server.call({ cmd: 'loopStart' });
  const s0answer = await server.call({ cmd: 'cpu' });
  const s0 = s0answer.cpu;
  const m0 = procStat();
  await sleep(CONFIG.durationMs);
  const { result } = await client.call({ cmd: 'stop' }, slack);
  const s1answer = await server.call({ cmd: 'cpu' });
  const s1 = s1answer.cpu;
  const m1 = procStat();
  const serverLoop = CONFIG.loopDelay ? (await server.call({ cmd: 'loopStop' })).loopDelay : null;
  await client.call({ cmd: 'drain' }, slack);
  const serverCpuUs = cpuTotal(s1) - cpuTotal(s0);
  // Cores busy in the window minus what the client and server used: other processes' share.
  const machine = busyCores(m0, m1);
  const ours = (serverCpuUs + result.clientCpuUs) / 1000 / (m1.at - m0.at);
  const otherLoadCores = machine === null ? null : Math.max(0, machine - ours);
  const seconds = result.elapsedMs / 1000;
  const size = workload.kind === 'echo' ? payloads[workload.payload].size : 0;
  return {
    ...result,
    loopDelay: { client: result.loopDelay, server: serverLoop },
    serverCpuUs,
    serverMainCpuUs: mainCpu(s0answer, s1answer),
    otherLoadCores,
    rps: result.completed / seconds,
    mbps: size ? (result.completed * size) / seconds / 1e6 : null,
    itemsPerSec: workload.kind === 'stream' ? result.units / seconds : null,
    serverCpuPct: (serverCpuUs / 1000 / result.elapsedMs) * 100,
    clientCpuPct: (result.clientCpuUs / 1000 / result.elapsedMs) * 100,
  };
}

async function measureMemory(server, client) {
  const mem = async who => (await who.call({ cmd: 'mem' })).mem;
  const diff = (a, b, n) => ({
    rssKiB: (b.rss - a.rss) / 1024 / n,
    heapKiB: (b.heapUsed + b.external - a.heapUsed - a.external) / 1024 / n,
  });
  const out = {};
  // Idle connections: N extra clients, each with one reply behind it, then nothing.
  const n = CONFIG.idleConnections;
  // A first round so that code paths and pools used once per connection exist before the baseline.
  await client.call({ cmd: 'openIdle', count: 2 }, 60_000);
  await client.call({ cmd: 'closeIdle' }, 60_000);
  let s0 = await mem(server);
  let c0 = await mem(client);
  await client.call({ cmd: 'openIdle', count: n }, 120_000);
  await sleep(200);
  let s1 = await mem(server);
  let c1 = await mem(client);
  out.idleConnections = n;
  out.serverPerIdleConnection = diff(s0, s1, n);
  out.clientPerIdleConnection = diff(c0, c1, n);
  await client.call({ cmd: 'closeIdle' }, 60_000);
  await sleep(200);
  // Requests in flight: K requests parked in the server's handler.
  const k = CONFIG.heldRequests;
  s0 = await mem(server);
  c0 = await mem(client);
  await client.call({ cmd: 'holdStart', count: k });
  const deadline = Date.now() + 30_000;
  let held = (await server.call({ cmd: 'held' })).held;
  while (held < k && Date.now() < deadline) {
    await sleep(20);
    held = (await server.call({ cmd: 'held' })).held;
  }
  s1 = await mem(server);
  c1 = await mem(client);
  out.heldRequests = held;
  out.serverPerInflightRequest = diff(s0, s1, Math.max(1, held));
  out.clientPerInflightRequest = diff(c0, c1, Math.max(1, held));
  await server.call({ cmd: 'release' });
  const { failed } = await client.call({ cmd: 'holdWait' }, 30_000);
  out.heldFailed = failed;
  if (held < k) out.note = `only ${held} of ${k} requests reached the handler`;
  return out;
}

async function startPair(transport) {
  const [script, ...argv] = SERVER_SCRIPTS[transport.key];
  // Where the nestjs-iroh processes load the package from (bench/iroh-dist.js).
  const env = transport.key === 'iroh-base' ? { ...process.env, BENCH_IROH_DIST: require('path').resolve(BASELINE_DIST) } : process.env;
  const serverChildren = Array.from({ length: transport.servers ?? 1 }, () => spawnChild(script, argv, env, transport.preload));
  const servers = serverChildren.map((child, i) =>
    ipcClient(child, `${transport.key} server${serverChildren.length > 1 ? ` ${i + 1}` : ''}`),
  );
  const server = servers.length === 1 ? servers[0] : serverGroup(servers);
  const pair = { serverChildren, servers, server, clientChild: null, client: null };
  const readies = await Promise.all(serverChildren.map(child => waitReady(child, `${transport.key} server`)));
  // One server: its address as it gave it (a ticket, a port, or a port and a certificate).
  // Several servers: the client gets their addresses (tickets) as one comma-separated list.
  const address = readies.length === 1 ? readies[0].address : readies.map(r => r.address).join(',');
  pair.clientChild = spawnChild('clients/driver.js', [transport.key], env, transport.preload);
  pair.client = ipcClient(pair.clientChild, `${transport.key} client`);
  await waitReady(pair.clientChild, `${transport.key} client`);
  await pair.client.call({ cmd: 'init', address });
  return pair;
}

async function stopPair(pair) {
  if (!pair) return;
  if (pair.clientChild) await stopChild(pair.clientChild, pair.client);
  await Promise.all(pair.serverChildren.map((child, i) => stopChild(child, pair.servers[i])));
}

/**
 * Several server processes measured as one: CPU summed, event-loop delay the worst of them;
 * other commands answered by each, the first answer returned.
 */
function serverGroup(servers) {
  return {
    async call(msg, timeoutMs) {
      const answers = await Promise.all(servers.map(s => s.call(msg, timeoutMs)));
      if (msg.cmd === 'cpu') {
        const cpu = { user: 0, system: 0 };
        for (const a of answers) {
          cpu.user += a.cpu.user;
          cpu.system += a.cpu.system;
        }
        return { ...answers[0], cpu };
      }
      if (msg.cmd === 'loopStop') {
        const delays = answers.map(a => a.loopDelay).filter(Boolean);
        return { loopDelay: delays.reduce((a, b) => ((b.maxMs ?? 0) > (a.maxMs ?? 0) ? b : a), delays[0] ?? null) };
      }
      return answers[0];
    },
  };
}

async function runTransport(transport, payloads) {
  const out = { workloads: {}, memory: null, errors: [] };
  let pair = null;
  try {
    // Memory first, while both processes are fresh: later workloads leave freed-but-kept pages in RSS.
    if (CONFIG.memory && !transport.workloads) {
      const t0 = Date.now();
      try {
        pair = await startPair(transport);
        if (CONFIG.waitQuietMs > 0) await waitQuiet(CONFIG.waitQuietMs);
        out.memory = await measureMemory(pair.server, pair.client);
        const m = out.memory;
        process.stdout.write(
          `  ${transport.key.padEnd(11)} ${'memory'.padEnd(24)} idle conn: server ${kib(m.serverPerIdleConnection.rssKiB)} RSS, client ${kib(m.clientPerIdleConnection.rssKiB)} RSS; ` +
            `in-flight req: server ${kib(m.serverPerInflightRequest.rssKiB)} RSS / ${kib(m.serverPerInflightRequest.heapKiB)} heap  (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`,
        );
        // The workloads run on fresh processes: the forced collections of the memory measurement
        // leave V8 promoting per-request objects for as long as the processes live (25–40 % more
        // CPU per request at 64 B for nestjs-iroh and Nest TCP alike; docs/performance.md).
        await stopPair(pair);
        pair = null;
      } catch (err) {
        out.errors.push(`memory: ${err.message}`);
        process.stdout.write(`  ${transport.key.padEnd(11)} memory FAILED: ${err.message}\n`);
        const failed = pair;
        pair = null;
        failed?.clientChild?.kill('SIGKILL');
        failed?.serverChildren.forEach(child => child.kill('SIGKILL'));
      }
    }
    for (const workload of workloads.filter(w => !transport.workloads || transport.workloads.includes(w.key))) {
      const t0 = Date.now();
      try {
        if (!pair) pair = await startPair(transport);
        if (CONFIG.waitQuietMs > 0) await waitQuiet(CONFIG.waitQuietMs);
        out.workloads[workload.key] = await measureWorkload(workload, pair.server, pair.client, payloads);
        process.stdout.write(
          `  ${transport.key.padEnd(11)} ${workload.label.padEnd(24)} ${summaryLine(workload, out.workloads[workload.key])}  (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`,
        );
      } catch (err) {
        out.errors.push(`${workload.key}: ${err.message}`);
        process.stdout.write(`  ${transport.key.padEnd(11)} ${workload.label.padEnd(24)} FAILED: ${err.message}\n`);
        // Requests of a failed workload may still be running: the next one starts from fresh processes.
        const failed = pair;
        pair = null;
        if (failed) {
          failed.clientChild?.kill('SIGKILL');
          failed.serverChildren.forEach(child => child.kill('SIGKILL'));
        }
      }
    }
  } finally {
    await stopPair(pair);
  }
  return out;
}

function gitCommit() {
  try {
    const run = cmd =>
      execSync(cmd, { cwd: join(__dirname, '..'), stdio: ['ignore', 'pipe', 'ignore'] })
        .toString()
        .trim();
    const commit = run('git rev-parse --short HEAD');
    // dist/ is built from the work tree: say when src/ differs from the commit.
    return run('git status --porcelain -- src') ? `${commit}+uncommitted src` : commit;
  } catch {
    return null;
  }
}

/** Makes the TLS transport's certificate, or leaves the transport out with the reason. */
function prepareTls() {
  const i = transports.findIndex(t => t.key === 'tcp-tls');
  if (i < 0) return;
  certificate = makeCertificate();
  if (certificate.skip) {
    skipped['tcp-tls'] = certificate.skip;
    console.log(`Skipping Nest TCP + TLS: ${certificate.skip}`);
    transports.splice(i, 1);
    return;
  }
  SERVER_SCRIPTS['tcp-tls'] = ['servers/tcp.js', 'tls', certificate.dir];
}

async function main() {
  const started = Date.now();
  prepareTls();
  const payloads = makePayloads();
  console.log(
    `nestjs-iroh benchmark (${CONFIG.mode}): ${transports.length} transports × ${workloads.length} workloads, ` +
      `warm-up ${CONFIG.warmupMs} ms, window ${CONFIG.durationMs} ms; node ${process.version}, ${os.cpus().length} CPUs`,
  );
  const results = {};
  for (const t of transports) {
    for (const cell of [t, ...variants.filter(v => v.of === t.key)]) {
      results[cell.key] = await runTransport(cell, payloads);
      // Endpoints free their UDP ports when their process ends; give the OS a moment between transports.
      await sleep(100);
    }
  }
  const rows = transports.flatMap(t => [t, ...variants.filter(v => v.of === t.key)]);
  addRatios(results, workloads, rows);
  const targetList = targets(results);
  const ioThread = ioThreadComparison(results, workloads);
  const durationSec = (Date.now() - started) / 1000;
  const json = {
    meta: {
      date: new Date().toISOString(),
      mode: CONFIG.mode,
      config: CONFIG,
      durationSec,
      node: process.version,
      platform: `${os.platform()} ${os.release()} ${os.arch()}`,
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model,
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      commit: gitCommit(),
      baseline: BASELINE_DIST ?? null,
      env: Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('NESTJS_IROH_'))),
      skipped,
      loopDelayResolutionMs: 1,
      payloadBytes: Object.fromEntries(Object.entries(payloads).map(([k, p]) => [k, p.size])),
      units: {
        rps: 'completed requests per second (closed loop, N in flight)',
        mbps: 'payload bytes echoed per second / 1e6 (one direction: request size × completed requests)',
        itemsPerSec: 'stream items received per second',
        latency: 'ms from send to (last) reply, per request',
        cpuPerOpUs: 'client + server process CPU (user+system, all threads) per request, or per item for the stream',
        mainCpuPerOpUs: 'client + server main-thread CPU (Linux /proc/thread-self/schedstat) per request, or per item for the stream',
        wireBytesPerOp: 'UDP bytes both ways per request from the client QUIC connection counters (iroh), TCP socket bytes (Nest TCP)',
        vsTcp: "this transport ÷ Nest TCP on the workload's metric; for connect, Nest TCP p50 ÷ this p50 (higher is better)",
        loopDelay:
          "per process (client, server): perf_hooks.monitorEventLoopDelay at 1 ms resolution over the window; maxMs/p99Ms/p50Ms/meanMs in ms (a stall of X ms reads ≈ X + 1 ms, time off the CPU included); cpuMaxMs/cpuP99Ms: the same gaps counted in the main thread's CPU time (Linux schedstat), runqueueMaxMs: longest wait for a CPU in one gap",
      },
    },
    transports: Object.fromEntries(transports.map(t => [t.key, t.label])),
    variants: Object.fromEntries(variants.map(v => [v.key, { label: v.label, of: v.of, workloads: v.workloads }])),
    workloads: workloads.map(w => ({ key: w.key, label: w.label, metric: w.metric, inflight: w.inflight ?? 1 })),
    results,
    targets: targetList,
    ioThread,
  };
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, JSON.stringify(json, null, 2) + '\n');
  writeFileSync(CHART, renderChart(json));
  printTable(results, workloads, rows);
  if (CONFIG.memory) printMemory(results, transports, CONFIG);
  printIoThreadComparison(ioThread);
  printTargets(targetList);
  const failures = Object.entries(results).flatMap(([k, r]) => r.errors.map(e => `${k}: ${e}`));
  if (failures.length) console.log('\nFailures:\n  ' + failures.join('\n  '));
  console.log(`\nWrote ${OUT} and ${CHART} in ${durationSec.toFixed(1)} s`);
  // A cell that failed is a broken adapter or transport, not a slow one: the run says so.
  process.exit(failures.length ? 1 : 0);
}

main().catch(err => {
  console.error(err);
  killAll();
  process.exit(1);
});
