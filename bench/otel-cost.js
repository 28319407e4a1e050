#!/usr/bin/env node
'use strict';
/**
 * What the observability hooks cost per call: `npm run build && node bench/otel-cost.js`.
 *
 * One call as the transport drives it, with no network: the client's startCall + inject +
 * onValue + end, the server's startHandling + withoutTraceContext + run + onValue + end.
 * Each scenario runs in a process of its own (a fresh module cache and JIT):
 *   (a) @opentelemetry/api not installed (its require throws, as without the package);
 *   (b) installed, no provider registered;
 *   (b') installed, only a context manager and the W3C propagator registered;
 *   (c) the SDK: BasicTracerProvider, BatchSpanProcessor into an exporter that drops spans,
 *       MeterProvider with a reader, AsyncLocalStorage context manager, W3C propagator;
 *   (c') as (c) with every trace sampled out (metrics recorded, traceparent still sent).
 * Reported: CPU ns per call over the same loop calling the handler directly, median of rounds;
 * with the SDK also the SDK's own share: the same spans, propagation and records made directly.
 * The budget: ≤ 10 % of ~40 µs per request at 64 B with 256 in flight.
 */
const { fork } = require('child_process');
const path = require('path');
const Module = require('module');

const SCENARIOS = {
  a: 'API not installed',
  b: 'API installed, no provider',
  "b'": 'context manager + propagator only',
  c: 'SDK, every span exported (dropped)',
  "c'": 'SDK, spans sampled out',
};
const ITERATIONS = Number(process.env.OTEL_COST_ITERATIONS ?? 100_000);
const ROUNDS = 7;
const SERVER_ID = 'ae58ff8833241ac82d6ff7611046ed67b5072d142c588d0063e942d9a75502b6';
const CLIENT_ID = '3b0ac4f6d1a2e5c7b8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1';

function hideApi() {
  const resolve = Module._resolveFilename;
  Module._resolveFilename = function (request, ...rest) {
    if (request === '@opentelemetry/api') {
      throw Object.assign(new Error("Cannot find module '@opentelemetry/api'"), { code: 'MODULE_NOT_FOUND' });
    }
    return resolve.call(this, request, ...rest);
  };
}

function registerSdk(sampledOut) {
  const { context, metrics, propagation, trace } = require('@opentelemetry/api');
  const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks');
  const { W3CTraceContextPropagator } = require('@opentelemetry/core');
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  if (sampledOut === undefined) return;
  const { BasicTracerProvider, BatchSpanProcessor, AlwaysOffSampler, AlwaysOnSampler } = require('@opentelemetry/sdk-trace-base');
  const { MeterProvider, MetricReader } = require('@opentelemetry/sdk-metrics');
  const dropSpans = { export: (_spans, done) => done({ code: 0 }), shutdown: async () => undefined };
  trace.setGlobalTracerProvider(
    new BasicTracerProvider({
      sampler: sampledOut ? new AlwaysOffSampler() : new AlwaysOnSampler(),
      // As NodeSDK sets up a traceExporter: batches of 512.
      spanProcessors: [new BatchSpanProcessor(dropSpans, { maxQueueSize: 65536, maxExportBatchSize: 512 })],
    }),
  );
  class PullReader extends MetricReader {
    async onShutdown() {}
    async onForceFlush() {}
  }
  metrics.setGlobalMeterProvider(new MeterProvider({ readers: [new PullReader()] }));
}

function sdkWork(handler) {
  const { ROOT_CONTEXT, SpanKind, context, metrics, propagation, trace } = require('@opentelemetry/api');
  const tracer = trace.getTracer('bench');
  const meter = metrics.getMeter('bench');
  const clientDuration = meter.createHistogram('bench.client.duration');
  const serverDuration = meter.createHistogram('bench.server.duration');
  const clientMetric = { 'rpc.system.name': 'nestjs-iroh', 'rpc.method': 'sum', 'server.address': SERVER_ID };
  const serverMetric = { 'rpc.system.name': 'nestjs-iroh', 'rpc.method': 'sum' };
  const clientOptions = { kind: SpanKind.CLIENT, attributes: { ...clientMetric, 'iroh.call.type': 'request' } };
  const serverOptions = { kind: SpanKind.SERVER, attributes: { ...serverMetric, 'iroh.call.type': 'request' } };
  return n => {
    for (let i = 0; i < n; i++) {
      const parent = context.active();
      const clientSpan = tracer.startSpan('sum', clientOptions, parent);
      const carrier = {};
      propagation.inject(trace.setSpan(parent, clientSpan), carrier);
      const remote = propagation.extract(ROOT_CONTEXT, carrier);
      const serverSpan = tracer.startSpan('sum', serverOptions, remote);
      context.with(trace.setSpan(remote, serverSpan), handler);
      serverSpan.setAttribute('iroh.reply.value_count', 1);
      serverDuration.record(0.001, serverMetric);
      serverSpan.end();
      clientSpan.setAttribute('iroh.reply.value_count', 1);
      clientDuration.record(0.001, clientMetric);
      clientSpan.end();
    }
  };
}

async function measure(scenario) {
  if (scenario === 'a') hideApi();
  if (scenario === "b'") registerSdk(undefined);
  if (scenario === 'c') registerSdk(false);
  if (scenario === "c'") registerSdk(true);
  const dist = path.join(__dirname, '..', 'dist', 'observability');
  const { createClientTelemetry, createServerTelemetry, withoutTraceContext } = require(dist);
  const client = createClientTelemetry();
  const server = createServerTelemetry();
  let sink = 0;
  const handler = () => ++sink;

  function withHooks(n) {
    for (let i = 0; i < n; i++) {
      const call = client.startCall('request', 'sum', SERVER_ID, 'direct');
      const sent = call.inject(undefined);
      const handling = server.startHandling('request', 'sum', CLIENT_ID, sent);
      if (withoutTraceContext(sent) !== undefined) throw new Error('reserved key left in metadata');
      handling.run(handler);
      handling.onValue();
      handling.end();
      call.onValue();
      call.end();
    }
  }
  function clientOnly(n) {
    for (let i = 0; i < n; i++) {
      const call = client.startCall('request', 'sum', SERVER_ID, 'direct');
      call.inject(undefined);
      handler();
      call.onValue();
      call.end();
    }
  }
  function bare(n) {
    for (let i = 0; i < n; i++) handler();
  }
  // With the SDK: the same SDK work done directly (two spans, inject and extract, the handler
  // in the server span's context, two histogram records), to tell the SDK's share from ours.
  const sdkAlone = scenario.startsWith('c') ? sdkWork(handler) : null;
  // In chunks with a turn of the event loop between them, as a server's read loop has: the
  // SDK settles each exported span in a microtask, which a long synchronous loop would pile up.
  const CHUNK = 1000;
  // CPU time of the process (all its threads, the garbage collector's included) rather than
  // wall time, which on a shared machine counts the time other processes had the CPU.
  const time = async fn => {
    const start = process.cpuUsage();
    for (let done = 0; done < ITERATIONS; done += CHUNK) {
      fn(CHUNK);
      await new Promise(resolve => setImmediate(resolve));
    }
    const used = process.cpuUsage(start);
    return ((used.user + used.system) * 1000) / ITERATIONS;
  };
  const median = values => values.sort((x, y) => x - y)[values.length >> 1];

  for (const fn of [withHooks, clientOnly, bare, sdkAlone]) if (fn) await time(fn);
  const rounds = { both: [], client: [], bare: [], sdk: [] };
  for (let r = 0; r < ROUNDS; r++) {
    rounds.both.push(await time(withHooks));
    rounds.client.push(await time(clientOnly));
    rounds.bare.push(await time(bare));
    if (sdkAlone) rounds.sdk.push(await time(sdkAlone));
  }
  const bareNs = median(rounds.bare);
  return {
    enabled: client.enabled,
    sdk: sdkAlone ? median(rounds.sdk) - bareNs : null,
    both: median(rounds.both) - bareNs,
    client: median(rounds.client) - bareNs,
    otelLoaded: Object.keys(require.cache).some(file => file.includes(`${path.sep}@opentelemetry${path.sep}`)),
  };
}

async function main() {
  if (process.argv[2] === '--scenario') {
    process.send(await measure(process.argv[3]));
    return;
  }
  const budgetNs = 0.1 * 40_000;
  console.log(
    `observability cost per call, CPU time (${ITERATIONS} calls x ${ROUNDS} rounds, median; Node ${process.version}; load ${require('os').loadavg()[0].toFixed(1)} on ${require('os').cpus().length} CPUs)`,
  );
  console.log(
    'scenario                                      client+server ns   client ns   SDK alone ns   API loaded   of the 4 µs budget',
  );
  for (const [key, label] of Object.entries(SCENARIOS)) {
    const child = fork(__filename, ['--scenario', key], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const result = await new Promise((resolve, reject) => {
      child.once('message', resolve);
      child.once('exit', code => reject(new Error(`scenario ${key} exited with ${code}`)));
    });
    child.kill();
    console.log(
      `(${key}) ${label.padEnd(40)} ${result.both.toFixed(0).padStart(12)}   ${result.client.toFixed(0).padStart(9)}   ${(result.sdk === null ? '' : result.sdk.toFixed(0)).padStart(12)}   ${String(result.otelLoaded).padStart(10)}   ${((100 * result.both) / budgetNs).toFixed(1).padStart(8)} %`,
    );
  }
}

main().catch(err => {
  console.error(err);
  process.exit(1);
});
