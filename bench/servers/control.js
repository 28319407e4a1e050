'use strict';
/**
 * What every benchmark server process shares: it starts its server, tells the orchestrator how to
 * reach it, and answers control messages (CPU, event-loop delay and memory snapshots, held requests) over IPC.
 * A server exits when told to or when the orchestrator goes away.
 */
const { reply, memorySnapshot, exitWithParent, threadCpuUs } = require('../common');
const { LoopDelay } = require('../loop-delay');

const counter = process.env.BENCH_COUNT_CALLS ? require('../count-calls') : null;
counter?.install();

/** Event-loop delay over the orchestrator's measurement window (see ../loop-delay.js). */
const loopDelay = new LoopDelay();

/** Requests parked by the "hold" handler, for the memory-per-request measurement. */
const held = [];

function hold() {
  return new Promise(resolve => held.push(resolve));
}

function releaseAll() {
  const n = held.length;
  for (const resolve of held.splice(0)) resolve();
  return n;
}

/**
 * `start()` resolves with `{ address, close }`: `address` is what clients need (ticket or port).
 */
function serve(name, start) {
  exitWithParent();
  require('@nestjs/common').Logger.overrideLogger(false);
  process.on('message', async msg => {
    try {
      switch (msg.cmd) {
        case 'cpu':
          return reply(msg, { cpu: process.cpuUsage(), mainCpuUs: threadCpuUs(), hrUs: Number(process.hrtime.bigint() / 1000n) });
        case 'loopStart':
          loopDelay.start();
          return reply(msg, { ok: true });
        case 'loopStop':
          return reply(msg, { loopDelay: loopDelay.stop() });
        case 'calls':
          return reply(msg, { calls: counter ? counter.snapshot() : null });
        case 'mem':
          return reply(msg, { mem: memorySnapshot() });
        case 'held':
          return reply(msg, { held: held.length });
        case 'release':
          return reply(msg, { released: releaseAll() });
        case 'exit':
          // Ending the process closes the server's endpoint or socket.
          reply(msg, { ok: true });
          return setImmediate(() => process.exit(0));
      }
    } catch (err) {
      reply(msg, { error: String((err && err.stack) || err) });
    }
  });
  start().then(
    s => {
      process.send({ type: 'ready', address: s.address, pid: process.pid });
    },
    err => {
      process.send({ type: 'failed', error: String((err && err.stack) || err) });
      process.exit(1);
    },
  );
}

module.exports = { serve, hold };
