#!/usr/bin/env node
'use strict';
/**
 * What a full collection in the server does to the requests after it:
 * `npm run build && node --expose-gc bench/after-gc.js [--when=load|connect|listen] [--side=server|client|both] [--windows=3]`.
 *
 * One nestjs-iroh server (a child process, the bench's Nest app) and one client in this process,
 * 64 B echoes with 256 in flight, measured in windows of 3 s: first on fresh processes, then after
 * `global.gc()` twice in the server (`--side`: in the client, or in both). `--when` says when that collection runs: between the windows
 * (load, the default), right after the client connected and before its first request (connect),
 * or before any client connected (listen). Printed per window: req/s, the server's CPU per request
 * (all threads), its main thread's share (/proc/thread-self/schedstat) and the rest of the
 * threads named "node" (V8's helper threads), and the tokio threads of the binding.
 */
require('reflect-metadata');
const { fork } = require('child_process');
const fs = require('fs');
const { lastValueFrom } = require('rxjs');

const args = Object.fromEntries(process.argv.slice(2).map(a => a.replace(/^--/, '').split('=')));
const WHEN = args.when ?? 'load';
const WINDOWS = Number(args.windows ?? 3);
const SIDE = args.side ?? 'server';
const WINDOW_MS = 3000;
const IN_FLIGHT = 256;

/** CPU µs of this process's threads, summed by thread name (trailing digits dropped). */
function threadCpu() {
  const out = {};
  for (const task of fs.readdirSync('/proc/self/task')) {
    try {
      const name = fs
        .readFileSync(`/proc/self/task/${task}/comm`, 'utf8')
        .trim()
        .replace(/[0-9]+$/, '');
      const ns = Number(fs.readFileSync(`/proc/self/task/${task}/schedstat`, 'utf8').split(' ')[0]);
      out[name] = (out[name] ?? 0) + ns / 1000;
    } catch {
      // The thread ended meanwhile.
    }
  }
  return out;
}

function mainThreadCpu() {
  return Number(fs.readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1000;
}

async function server() {
  const { NestFactory } = require('@nestjs/core');
  const { IrohServer } = require('./iroh-dist');
  const { BenchModule } = require('./servers/nest-app');
  const strategy = new IrohServer({ relayMode: 'disabled', bindAddr: '127.0.0.1:0' });
  const app = await NestFactory.createMicroservice(BenchModule, { strategy, logger: false });
  await app.listen();
  process.on('message', msg => {
    if (msg === 'cpu') {
      const { user, system } = process.cpuUsage();
      process.send({ total: user + system, main: mainThreadCpu(), threads: threadCpu() });
    } else if (msg === 'gc') {
      global.gc();
      global.gc();
      process.send({ ok: true });
    }
  });
  process.on('disconnect', () => process.exit(0));
  process.send({ ticket: strategy.ticket });
}

async function client() {
  const { ClientIroh } = require('./iroh-dist');
  const child = fork(__filename, ['--role=server'], { execArgv: ['--expose-gc'] });
  const ask = msg =>
    new Promise(resolve => {
      child.once('message', resolve);
      child.send(msg);
    });
  const { ticket } = await new Promise(resolve => child.once('message', resolve));
  if (SIDE !== 'server' && typeof global.gc !== 'function') throw new Error('--side=client|both needs node --expose-gc');
  /** The full collection: in the server, the client (this process) or both. */
  const collect = async () => {
    if (SIDE !== 'client') await ask('gc');
    if (SIDE !== 'server') {
      global.gc();
      global.gc();
    }
  };
  if (WHEN === 'listen') await collect();
  const peer = new ClientIroh({ relayMode: 'disabled', bindAddr: '127.0.0.1:0', peer: ticket });
  await peer.connect();
  if (WHEN === 'connect') await collect();
  const payload = 'x'.repeat(64);

  async function window(label) {
    let done = 0;
    let stop = false;
    const loop = async () => {
      while (!stop) {
        await lastValueFrom(peer.send('echo', payload));
        done++;
      }
    };
    const loops = Array.from({ length: IN_FLIGHT }, loop);
    await new Promise(resolve => setTimeout(resolve, 1000));
    const before = await ask('cpu');
    const [d0, t0, c0] = [done, performance.now(), process.cpuUsage()];
    await new Promise(resolve => setTimeout(resolve, WINDOW_MS));
    const after = await ask('cpu');
    const [d1, t1, c1] = [done, performance.now(), process.cpuUsage(c0)];
    stop = true;
    await Promise.all(loops);
    const n = d1 - d0;
    const per = (a, b) => ((a - b) / n).toFixed(1);
    const main = after.main - before.main;
    const node = (after.threads.node ?? 0) - (before.threads.node ?? 0);
    const tokio = (after.threads['tokio-rt-worker'] ?? 0) - (before.threads['tokio-rt-worker'] ?? 0);
    console.log(
      `${label.padEnd(26)} ${String(Math.round(n / ((t1 - t0) / 1000))).padStart(7)} req/s   server µs/request: ` +
        `${per(after.total, before.total)} (main ${(main / n).toFixed(1)}, V8 helpers ${((node - main) / n).toFixed(1)}, tokio ${(tokio / n).toFixed(1)}); ` +
        `client µs/request: ${((c1.user + c1.system) / n).toFixed(1)}`,
    );
  }

  console.log(
    `nestjs-iroh, 64 B @${IN_FLIGHT}; full collection in the ${SIDE === 'both' ? 'server and the client' : SIDE}: ${WHEN === 'load' ? 'between windows' : `after ${WHEN}`}`,
  );
  for (let i = 1; i <= WINDOWS; i++) await window(WHEN === 'load' ? `fresh, window ${i}` : `window ${i}`);
  if (WHEN === 'load') {
    await collect();
    for (let i = 1; i <= WINDOWS; i++) await window(`after gc, window ${i}`);
  }
  await peer.close();
  child.disconnect();
}

(args.role === 'server' ? server() : client()).catch(err => {
  console.error(err);
  process.exit(1);
});
