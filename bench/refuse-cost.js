#!/usr/bin/env node
'use strict';
/**
 * What a refused peer costs the server: `node bench/refuse-cost.js [--clients=500] [--batch=50]
 * [--ignored=100]` (`--ignored=0` skips the ~90 s of `ignore` runs). Uses the binding only
 * (`@number0/iroh/index.js`), no nestjs-iroh code.
 *
 * A server endpoint in a child process (presetMinimal, relays off, 127.0.0.1) answers every
 * incoming connection in one way per run:
 * - `refuse`:        `Incoming.refuse()` before the handshake (QUIC CONNECTION_REFUSED);
 * - `addr+refuse`:   `Incoming.remoteAddr()` first, as a per-source rate limit would, then refuse;
 * - `retry+refuse`:  `Incoming.retry()` unless `remoteAddrValidated()`, then refuse: the source
 *                    address is proven before it is counted (QUIC address validation);
 * - `ignore`:        `Incoming.ignore()`: no answer at all;
 * - `accept+close`:  full handshake, `remoteId()`, then `close(8, 'peer not allowed')`: what an
 *                    `allowPeers` refusal costs.
 * Clients (in this process, a pool of endpoints, each connection from one of them) connect one
 * after another, then in parallel batches. The server's address holds both its sockets
 * (127.0.0.1 and ::1), and a client may try both: one client can make two Incomings. The server's CPU is `process.cpuUsage()` (all
 * threads, so iroh's Rust threads count) over the run, minus its idle CPU over the same time,
 * divided by the clients. For each client: how it failed (error text or close reason) and how
 * long that took. `ignore` is measured with fewer clients, all at once, since each waits for its
 * handshake timeout.
 *
 * "other load" is how many cores other processes used during the run (/proc/stat): figures
 * taken beside a busy machine are not comparable.
 */
const { fork } = require('child_process');
const { readFileSync } = require('fs');
const os = require('os');
const iroh = require('@number0/iroh/index.js');

const ALPN = Array.from(Buffer.from('nestjs-iroh/1'));
const UNAUTHORIZED = 8n;
const args = process.argv.slice(2);
const option = (name, fallback) => Number(args.find(a => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback);

async function bindLoopback(alpns) {
  const builder = iroh.Endpoint.builder();
  iroh.presetMinimal(builder);
  if (alpns) builder.alpns(alpns);
  builder.bindAddr('127.0.0.1:0');
  return builder.bind();
}

// ---------------------------------------------------------------- server (child process)

async function serve() {
  const endpoint = await bindLoopback([ALPN]);
  const reason = Array.from(Buffer.from('peer not allowed'));
  let mode = 'refuse';
  let counts = {};
  let probes = [];
  let cpuStart = null;
  let wallStart = 0;
  const count = key => (counts[key] = (counts[key] ?? 0) + 1);

  async function answer(incoming) {
    count('incoming');
    if (probes.length < 3) {
      // Outside the measured runs (mode 'probe'): what is known before the handshake.
      if (mode === 'probe') {
        probes.push({ remoteAddr: await incoming.remoteAddr(), validated: await incoming.remoteAddrValidated() });
      }
    }
    switch (mode) {
      case 'probe':
      case 'refuse':
        return incoming.refuse();
      case 'addr+refuse':
        await incoming.remoteAddr();
        return incoming.refuse();
      case 'retry+refuse':
        if (await incoming.remoteAddrValidated()) {
          count('validated');
          return incoming.refuse();
        }
        count('retried');
        return incoming.retry();
      case 'ignore':
        return incoming.ignore();
      case 'accept+close': {
        const connection = await (await incoming.accept()).connect();
        connection.remoteId().toString();
        count('handshakes');
        return connection.close(UNAUTHORIZED, reason);
      }
    }
  }

  process.on('message', message => {
    if (message.type === 'mode') {
      mode = message.mode;
      counts = {};
      probes = [];
      process.send({ type: 'mode' });
    } else if (message.type === 'start') {
      cpuStart = process.cpuUsage();
      wallStart = performance.now();
      process.send({ type: 'start' });
    } else if (message.type === 'stop') {
      const cpu = process.cpuUsage(cpuStart);
      process.send({ type: 'stop', cpuUs: cpu.user + cpu.system, ms: performance.now() - wallStart, counts, probes });
    } else if (message.type === 'exit') {
      process.exit(0);
    }
  });
  process.on('disconnect', () => process.exit(0));
  process.send({ type: 'ready', id: endpoint.id().toString(), sockets: endpoint.boundSockets() });
  for (;;) {
    const incoming = await endpoint.acceptNext();
    if (!incoming) return;
    answer(incoming).catch(err => count(`server error: ${errorText(err)}`));
  }
}

// ---------------------------------------------------------------- driver

function request(child, message) {
  return new Promise(resolve => {
    const onMessage = reply => {
      if (reply.type !== message.type) return;
      child.off('message', onMessage);
      resolve(reply);
    };
    child.on('message', onMessage);
    child.send(message);
  });
}

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms (${what})`)), ms))),
  ]);
}

/** Busy jiffies of the whole machine (all cores), for the "other load" figure. */
function machineBusySeconds() {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = fields;
  return (user + nice + system + irq + softirq + steal) / 100;
}

/** The binding's error message without source paths and Rust backtrace (as src/iroh/errors.ts). */
function errorText(err) {
  const raw = String(err?.message ?? err).split(/\n\s*\nStack backtrace:/)[0];
  return raw
    .split('\n')
    .map(line => line.replace(/\s*\((?:\/|[A-Za-z]:\\)[^()]*:\d+:\d+\)\s*$/, '').trim())
    .filter(line => line.length > 0)
    .join(': ')
    .replace(/Caused by:: /g, '');
}

/** One client connection; resolves with how it ended and after how long. */
async function connectOnce(endpoint, addr, capMs) {
  const start = performance.now();
  let outcome;
  try {
    const connection = await withTimeout(endpoint.connect(addr, ALPN), capMs, 'connect');
    outcome = `connected, then closed: ${await withTimeout(connection.closed(), capMs, 'closed')}`;
  } catch (err) {
    outcome = `error: ${errorText(err)}`;
  }
  return { outcome, ms: performance.now() - start };
}

function summarize(results) {
  const byOutcome = new Map();
  for (const r of results) byOutcome.set(r.outcome, (byOutcome.get(r.outcome) ?? 0) + 1);
  const ms = results.map(r => r.ms).sort((a, b) => a - b);
  const at = q => ms[Math.min(ms.length - 1, Math.floor(q * ms.length))];
  return {
    outcomes: [...byOutcome].map(([text, n]) => `${n}× ${text}`),
    p50: at(0.5),
    p99: at(0.99),
    max: ms[ms.length - 1],
  };
}

async function run(server, pool, addr, { mode, clients, batch, capMs, idleUsPerMs }) {
  await request(server, { type: 'mode', mode });
  await sleep(300);
  const busy0 = machineBusySeconds();
  const own0 = process.cpuUsage();
  await request(server, { type: 'start' });
  const results = [];
  for (let done = 0; done < clients; done += batch) {
    const size = Math.min(batch, clients - done);
    const round = Array.from({ length: size }, (_, i) => connectOnce(pool[(done + i) % pool.length], addr, capMs));
    results.push(...(await Promise.all(round)));
  }
  await sleep(200); // let the last answers and retransmissions reach the server
  const stopped = await request(server, { type: 'stop' });
  const own = process.cpuUsage(own0);
  const seconds = stopped.ms / 1000;
  const otherCores = (machineBusySeconds() - busy0 - (own.user + own.system + stopped.cpuUs) / 1e6) / seconds;
  const serverUs = stopped.cpuUs - idleUsPerMs * stopped.ms;
  return {
    mode,
    clients,
    batch,
    serverUsPerPeer: serverUs / clients,
    serverUsPerIncoming: serverUs / (stopped.counts.incoming ?? 1),
    serverRawUs: stopped.cpuUs,
    wallMs: stopped.ms,
    otherCores: Math.max(0, otherCores),
    counts: stopped.counts,
    probes: stopped.probes,
    ...summarize(results),
  };
}

function print(r) {
  const line =
    `${r.mode.padEnd(13)} ${String(r.clients).padStart(4)} clients, ${r.batch === 1 ? 'one after another' : `batches of ${r.batch}`}: ` +
    (r.serverUsPerPeer > 0
      ? `server ${r.serverUsPerPeer.toFixed(0)} µs CPU per peer, ${r.serverUsPerIncoming.toFixed(0)} per Incoming `
      : 'server CPU within its idle noise ') +
    `(${(r.serverRawUs / 1000).toFixed(1)} ms CPU before idle is subtracted, over ${(r.wallMs / 1000).toFixed(1)} s), ` +
    `client fails after p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, max ${r.max.toFixed(1)} ms; other load ${r.otherCores.toFixed(2)} cores`;
  console.log(line);
  console.log(`${' '.repeat(14)}server saw ${JSON.stringify(r.counts)}; clients: ${r.outcomes.join('; ')}`);
}

async function main() {
  const clients = option('clients', 500);
  const batch = option('batch', 50);
  const ignored = option('ignored', 100);
  console.log(
    `node ${process.version}, ${os.cpus().length} cores, load average ${os
      .loadavg()
      .map(l => l.toFixed(2))
      .join(' ')}`,
  );

  const server = fork(__filename, ['serve'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const ready = await new Promise(resolve => server.once('message', resolve));
  const addr = new iroh.EndpointAddr(iroh.EndpointId.fromString(ready.id), null, ready.sockets);
  // Every connection comes from one of these (distinct source ports); kept referenced throughout.
  const pool = await Promise.all(Array.from({ length: batch }, () => bindLoopback()));

  // The server's idle CPU, subtracted from every run.
  await sleep(2000);
  await request(server, { type: 'mode', mode: 'refuse' });
  await request(server, { type: 'start' });
  await sleep(5000);
  const idle = await request(server, { type: 'stop' });
  const idleUsPerMs = idle.cpuUs / idle.ms;
  console.log(`server idle: ${(idleUsPerMs * 1000).toFixed(0)} µs CPU per second (subtracted below)\n`);

  const probe = await run(server, pool, addr, { mode: 'probe', clients: 3, batch: 1, capMs: 10_000, idleUsPerMs });
  console.log('before the handshake, on the server:');
  for (const p of probe.probes)
    console.log(`  Incoming.remoteAddr() = ${JSON.stringify(p.remoteAddr)}, remoteAddrValidated() = ${p.validated}`);
  console.log(`  the client of a refused connection sees: ${probe.outcomes.join('; ')}\n`);

  const results = [];
  for (const mode of ['refuse', 'addr+refuse', 'retry+refuse', 'accept+close']) {
    for (const b of [1, batch]) {
      const r = await run(server, pool, addr, { mode, clients, batch: b, capMs: 60_000, idleUsPerMs });
      print(r);
      results.push(r);
    }
  }
  // Ignored clients wait for their own handshake timeout: two one after another, the rest at once.
  // --ignored=0 skips them (they take about 90 s).
  const ignoreRuns =
    ignored > 0
      ? [
          [2, 1],
          [ignored, ignored],
        ]
      : [];
  for (const [n, b] of ignoreRuns) {
    const r = await run(
      server,
      pool.length >= b ? pool : [...pool, ...(await Promise.all(Array.from({ length: b - pool.length }, () => bindLoopback())))],
      addr,
      {
        mode: 'ignore',
        clients: n,
        batch: b,
        capMs: 120_000,
        idleUsPerMs,
      },
    );
    print(r);
    results.push(r);
  }
  console.log(
    `\nload average after: ${os
      .loadavg()
      .map(l => l.toFixed(2))
      .join(' ')}`,
  );
  server.send({ type: 'exit' });
  for (const endpoint of pool) await endpoint.close().catch(() => undefined);
  process.exit(0);
}

if (process.argv[2] === 'serve') {
  serve().catch(err => {
    console.error(err);
    process.exit(1);
  });
} else {
  main().catch(err => {
    console.error(err);
    process.exit(1);
  });
}
