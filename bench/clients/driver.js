'use strict';
/**
 * The client process: `node driver.js <transport>`. It connects to the server the orchestrator
 * names, then runs what it is told over IPC:
 *
 * - `load`: a closed loop of `inflight` concurrent workers, each sending its next request as soon
 *   as the previous reply arrives, until `stop`.
 * - `start` / `stop`: open and close the measurement window. Both answer at the next completed
 *   request, so the window starts and ends on completions (exact for one request in flight,
 *   however slow a request is).
 * - `connect`: `count` times, a brand-new client up to its first reply.
 * - `openIdle` / `closeIdle` / `holdStart` / `holdWait` / `mem`: memory measurements.
 */
const { makePayloads, Samples, cpuDelta, threadCpuUs, reply, memorySnapshot, exitWithParent, sleep } = require('../common');
const { LoopDelay } = require('../loop-delay');

exitWithParent();
const counter = process.env.BENCH_COUNT_CALLS ? require('../count-calls') : null;
counter?.install();
// Nest clients log (e.g. ClientIroh on close); the benchmark prints its own output only.
require('@nestjs/common').Logger.overrideLogger(false);

const transport = process.argv[2];
const payloads = makePayloads();
let adapter = null;
let run = null;
let held = [];
/** Event-loop delay over each measurement window (see ../loop-delay.js); off with --no-loop-delay. */
const loopDelay = new LoopDelay();
let monitorLoop = true;

function load(workload) {
  const op = workload.kind === 'stream' ? () => adapter.stream(workload.items) : () => adapter.echo(workload.payload);
  const unitsPerOp = workload.kind === 'stream' ? workload.items : 1;
  const state = {
    phase: 'warm', // warm → arming → measuring → disarming → done
    running: true,
    samples: new Samples(),
    completed: 0,
    units: 0,
    errors: 0,
    lastError: null,
    t0: 0,
    t1: 0,
    cpu0: null,
    cpu1: null,
    wire0: null,
    wire1: null,
    onStart: null,
    onStop: null,
    workers: null,
  };
  const complete = (latency, units) => {
    switch (state.phase) {
      case 'arming':
        state.t0 = performance.now();
        state.cpu0 = process.cpuUsage();
        state.main0 = threadCpuUs();
        state.hr0 = Number(process.hrtime.bigint() / 1000n);
        state.calls0 = counter?.snapshot() ?? null;
        state.wire0 = adapter.wire();
        if (monitorLoop) loopDelay.start();
        state.phase = 'measuring';
        state.onStart();
        return;
      case 'measuring':
        state.samples.push(latency);
        state.completed++;
        state.units += units;
        return;
      case 'disarming':
        state.samples.push(latency);
        state.completed++;
        state.units += units;
        state.t1 = performance.now();
        state.cpu1 = process.cpuUsage();
        state.main1 = threadCpuUs();
        state.hr1 = Number(process.hrtime.bigint() / 1000n);
        state.calls1 = counter?.snapshot() ?? null;
        state.wire1 = adapter.wire();
        state.loopDelay = loopDelay.stop();
        state.phase = 'done';
        state.running = false;
        state.onStop();
        return;
    }
  };
  const worker = async () => {
    while (state.running) {
      const t = performance.now();
      try {
        const result = await op();
        const units = workload.kind === 'stream' ? result : unitsPerOp;
        if (workload.kind === 'stream' && result !== workload.items) throw new Error(`stream carried ${result} of ${workload.items} items`);
        complete(performance.now() - t, units);
      } catch (err) {
        state.errors++;
        state.lastError = String((err && err.message) || err);
        await sleep(5);
      }
    }
  };
  state.workers = Promise.all(Array.from({ length: workload.inflight }, worker));
  return state;
}

async function results(state) {
  const elapsedMs = state.t1 - state.t0;
  // Readings that may have had to be asked of another thread.
  [state.wire0, state.wire1] = await Promise.all([state.wire0, state.wire1]);
  const wire = state.wire0 && state.wire1 ? { tx: state.wire1.tx - state.wire0.tx, rx: state.wire1.rx - state.wire0.rx } : null;
  if (wire && state.wire1.txPackets !== undefined) {
    wire.txPackets = state.wire1.txPackets - state.wire0.txPackets;
    wire.rxPackets = state.wire1.rxPackets - state.wire0.rxPackets;
  }
  return {
    completed: state.completed,
    units: state.units,
    elapsedMs,
    latency: state.samples.summary(),
    clientCpuUs: cpuDelta(state.cpu0, state.cpu1),
    clientMainCpuUs: state.main0 === null ? null : state.main1 - state.main0,
    errors: state.errors,
    lastError: state.lastError,
    wire,
    loopDelay: state.loopDelay,
    hrUs: [state.hr0, state.hr1],
    calls: state.calls1 ? callDelta(state.calls0, state.calls1) : undefined,
  };
}

function callDelta(a, b) {
  const out = {};
  for (const [k, v] of Object.entries(b)) {
    const calls = v.calls - (a[k]?.calls ?? 0);
    if (calls) out[k] = { calls, bytes: v.bytes - (a[k]?.bytes ?? 0) };
  }
  return out;
}

process.on('message', async msg => {
  try {
    switch (msg.cmd) {
      case 'init': {
        const file = transport.startsWith('raw-')
          ? 'raw'
          : transport === 'tcp-tls'
            ? 'tcp'
            : transport.startsWith('iroh')
              ? 'iroh'
              : transport;
        const mod = require(`./${file}`);
        adapter = await mod.create(msg.address, payloads, transport.replace(/^raw-/, ''));
        // One request of each kind before anything is measured.
        await adapter.echo('small');
        return reply(msg, { ok: true });
      }
      case 'load':
        monitorLoop = msg.loopDelay !== false;
        run = load(msg.workload);
        return reply(msg, { ok: true });
      case 'start':
        run.onStart = () => reply(msg, { ok: true });
        run.phase = 'arming';
        return;
      case 'stop':
        run.onStop = () => void results(run).then(result => reply(msg, { result }));
        run.phase = 'disarming';
        return;
      case 'drain': {
        run.running = false;
        await run.workers;
        run = null;
        return reply(msg, { ok: true });
      }
      case 'connect': {
        const samples = new Samples();
        // The heap a forced collection (ClientIroh's port release) has to go through.
        const heapUsedMiB = process.memoryUsage().heapUsed / 2 ** 20;
        const cpu0 = process.cpuUsage();
        const main0 = threadCpuUs();
        monitorLoop = msg.loopDelay !== false;
        if (monitorLoop) loopDelay.start();
        let errors = 0;
        let lastError = null;
        for (let i = 0; i < msg.count; i++) {
          try {
            samples.push(await adapter.connectOnce());
          } catch (err) {
            errors++;
            lastError = String((err && err.message) || err);
          }
        }
        const clientCpuUs = cpuDelta(cpu0, process.cpuUsage());
        const clientMainCpuUs = main0 === null ? null : threadCpuUs() - main0;
        const delay = loopDelay.stop();
        await adapter.afterConnect?.();
        return reply(msg, {
          result: {
            completed: samples.length,
            latency: samples.summary(),
            clientCpuUs,
            clientMainCpuUs,
            errors,
            lastError,
            loopDelay: delay,
            heapUsedMiB,
          },
        });
      }
      case 'mem':
        return reply(msg, { mem: memorySnapshot() });
      case 'openIdle':
        await adapter.openIdle(msg.count);
        return reply(msg, { ok: true });
      case 'closeIdle':
        await adapter.closeIdle();
        return reply(msg, { ok: true });
      case 'holdStart':
        held = Array.from({ length: msg.count }, () => adapter.hold());
        return reply(msg, { ok: true });
      case 'holdWait': {
        const settled = await Promise.allSettled(held);
        held = [];
        return reply(msg, { failed: settled.filter(s => s.status === 'rejected').length });
      }
      case 'exit':
        // Ending the process closes every endpoint; closing them one by one first only costs time.
        reply(msg, { ok: true });
        return setImmediate(() => process.exit(0));
    }
  } catch (err) {
    reply(msg, { error: String((err && err.stack) || err) });
  }
});

process.send({ type: 'ready' });
