import { mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import { ClientIroh, IrohClientError } from '../../src';
import { call, callAll, callError, eventually, irohClient, RunningServer, startIrohServer } from '../support/harness';
import { HistogramPoint, RegisteredSdk, pointWith, registerSdk } from '../support/otel-sdk';
import { freeUdpPort } from '../support/ports';
import { killProcess, startServerProcess } from '../support/processes';
import { TracedModule } from '../support/traced.app';

jest.setTimeout(60_000);

// What a ClientIroh records with the SDK registered: its CLIENT spans and its metrics.

describe('ClientIroh telemetry', () => {
  let sdk: RegisteredSdk;
  let running: RunningServer;
  let client: ClientIroh;

  beforeAll(async () => {
    sdk = registerSdk();
    running = await startIrohServer(TracedModule);
    client = irohClient(running.ticket);
    await client.connect();
  });

  afterAll(async () => {
    await client?.close();
    await running?.app.close();
    await sdk?.shutdown();
  });

  const clientSpans = (name: string) => sdk.spans().filter(s => s.kind === SpanKind.CLIENT && s.name === name);

  it('records a request as a CLIENT span, child of the span active at subscription, naming the server and the path', async () => {
    const caller = trace.getTracer('test').startSpan('caller');
    await context.with(trace.setSpan(context.active(), caller), () => call(client, 'traced.sum', [1, 2]));
    caller.end();
    const [span] = clientSpans('traced.sum');
    expect(span.parentSpanContext?.spanId).toBe(caller.spanContext().spanId);
    expect(span.spanContext().traceId).toBe(caller.spanContext().traceId);
    expect(span.attributes).toMatchObject({
      'rpc.system.name': 'nestjs-iroh',
      'rpc.method': 'traced.sum',
      'iroh.call.type': 'request',
      'server.address': running.server.endpointId,
      'iroh.path': 'direct',
      'iroh.reply.value_count': 1,
    });
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
  });

  it('records a stream as one span with its value count', async () => {
    await expect(callAll(client, 'traced.stream', 4)).resolves.toEqual([0, 10, 20, 30]);
    const [span] = clientSpans('traced.stream');
    expect(span.attributes['iroh.reply.value_count']).toBe(4);
  });

  it('sets ERROR and records the error when the handler fails, and when the request times out', async () => {
    const err = await callError(client, 'traced.fail', {});
    expect(err).toMatchObject({ code: 'E_TRACED' });
    const [failed] = clientSpans('traced.fail');
    expect(failed.status).toEqual({ code: SpanStatusCode.ERROR, message: 'traced failure' });
    expect(failed.attributes['error.type']).toBe('E_TRACED');
    expect(failed.events.map(e => e.name)).toEqual(['exception']);

    const impatient = irohClient(running.ticket, { timeout: 100 });
    try {
      expect(await callError(impatient, 'traced.slow', 1000)).toMatchObject({ code: 'TIMEOUT' });
    } finally {
      await impatient.close();
    }
    const [timedOut] = clientSpans('traced.slow');
    expect(timedOut.status.code).toBe(SpanStatusCode.ERROR);
    expect(timedOut.attributes['error.type']).toBe('TIMEOUT');
  });

  it('ends the span as CANCELLED, not as an error, when the caller unsubscribes', async () => {
    const before = clientSpans('traced.slow').length;
    const subscription = client.send('traced.slow', 2000).subscribe();
    await new Promise(resolve => setTimeout(resolve, 50));
    subscription.unsubscribe();
    const cancelled = clientSpans('traced.slow').slice(before);
    expect(cancelled).toHaveLength(1);
    expect(cancelled[0].attributes['error.type']).toBe('CANCELLED');
    expect(cancelled[0].status.code).toBe(SpanStatusCode.UNSET);
  });

  it('records an event as a CLIENT span ended once the event is handed to the connection', async () => {
    await new Promise<void>((resolve, reject) => client.emit('traced.event', { n: 1 }).subscribe({ complete: resolve, error: reject }));
    const [span] = clientSpans('traced.event');
    expect(span.attributes).toMatchObject({ 'iroh.call.type': 'event', 'server.address': running.server.endpointId });
    expect(span.attributes['iroh.reply.value_count']).toBeUndefined();
  });

  it('fails a request that cannot be serialized with a span that says so', async () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(await callError(client, 'traced.sum', cyclic)).toBeInstanceOf(IrohClientError);
    const failed = clientSpans('traced.sum').filter(s => s.status.code === SpanStatusCode.ERROR);
    expect(failed.map(s => s.attributes['error.type'])).toEqual(['SERIALIZATION_FAILED']);
  });

  it('measures durations, requests in flight, connections, bytes and the round-trip time', async () => {
    await call(client, 'traced.sum', [3]);
    const duration = await sdk.metric('rpc.client.call.duration');
    const point = pointWith<HistogramPoint['value']>(duration, {
      'rpc.method': 'traced.sum',
      'server.address': running.server.endpointId,
    });
    expect(point?.value.count).toBeGreaterThanOrEqual(2);
    expect(point?.attributes['error.type']).toBeUndefined();
    expect(pointWith(duration, { 'rpc.method': 'traced.fail', 'error.type': 'E_TRACED' })).toBeDefined();

    expect(pointWith(await sdk.metric('iroh.client.active_requests'), { 'rpc.system.name': 'nestjs-iroh' })?.value).toBe(0);
    // This client's connection (the timed-out client's was closed).
    expect((await sdk.metric('iroh.client.connection.count'))?.dataPoints[0].value).toBe(1);
    const io = await sdk.metric('iroh.client.network.io');
    expect(pointWith<number>(io, { 'network.io.direction': 'transmit' })?.value).toBeGreaterThan(100);
    expect(pointWith<number>(io, { 'network.io.direction': 'receive' })?.value).toBeGreaterThan(50);
    const rtt = pointWith<number>(await sdk.metric('iroh.client.connection.rtt'), { 'server.address': running.server.endpointId });
    expect(rtt?.attributes['iroh.path']).toBe('direct');
    expect(rtt?.value).toBeGreaterThanOrEqual(0);
    expect(rtt?.value).toBeLessThan(1);
  });
});

describe('ClientIroh telemetry across connection losses', () => {
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'nestjs-iroh-telemetry-'));
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('counts a lost connection and the reconnect, and nothing once closed', async () => {
    const sdk = registerSdk({ traces: false });
    const port = await freeUdpPort();
    const env = { KEY_FILE: join(dir, 'lost.key'), BIND_ADDR: `127.0.0.1:${port}` };
    let server = await startServerProcess(env);
    const client = irohClient(server.ticket, { keepAliveInterval: 200, keepAliveTimeout: 1200, retryAttempts: 4, retryDelay: 100 });
    const sum = async (name: string) => (await sdk.metric(name))?.dataPoints.reduce((total, p) => total + (p.value as number), 0) ?? 0;
    try {
      await expect(call(client, 'sum', [1, 2])).resolves.toBe(3);
      expect(await sum('iroh.client.connection.count')).toBe(1);
      await killProcess(server.child);
      await eventually(() => client['active'] === null, 5000, 'connection lost');
      expect(await sum('iroh.client.connection.losses')).toBe(1);
      expect(await sum('iroh.client.connection.count')).toBe(0);

      server = await startServerProcess(env);
      await expect(call(client, 'sum', [2, 3], 20_000)).resolves.toBe(5);
      expect(await sum('iroh.client.reconnects')).toBe(1);
      expect(await sum('iroh.client.connection.count')).toBe(1);

      await client.close();
      expect(await sum('iroh.client.connection.count')).toBe(0);
      expect(await sum('iroh.client.connection.losses')).toBe(1);
    } finally {
      await client.close();
      await killProcess(server.child);
      await sdk.shutdown();
    }
  });
});
