import { ClientProxy } from '@nestjs/microservices';
import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { ClientIroh } from '../../src';
import { Feature, FrameFlag, FrameType, HELLO_ID, encodeFrame, encodeHello, takeReplyMetadata } from '../../src/protocol';
import { call, callAll, callError, eventually, irohClient, RunningServer, startIrohServer } from '../support/harness';
import { HistogramPoint, RegisteredSdk, pointWith, registerSdk, unregisterAll } from '../support/otel-sdk';
import { RawPeer, request, send, watchFrames } from '../support/raw-peer';
import { TracedModule, seen } from '../support/traced.app';

jest.setTimeout(60_000);

// A ClientIroh and an IrohServer in one process, both recording into the SDK registered
// here: what each side records is checked against what the other did.

const hasDispatchHook = typeof (ClientProxy.prototype as any).setOnDispatchHook === 'function';
const TENANT = Object.freeze({ tenant: 'acme' });

describe('one trace across the iroh hop', () => {
  let sdk: RegisteredSdk;
  let running: RunningServer;
  let client: ClientIroh;

  beforeAll(async () => {
    sdk = registerSdk();
    running = await startIrohServer(TracedModule);
    client = irohClient(running.ticket);
    // The application's own metadata (Nest 12): a frozen object, so that any change to it throws.
    (client as any).setOnDispatchHook?.((packet: { metadata?: unknown }) => {
      packet.metadata = TENANT;
    });
    await client.connect();
  });

  afterAll(async () => {
    await client?.close();
    await running?.app.close();
    await sdk?.shutdown();
  });

  beforeEach(() => seen.reset());

  const spanOf = (kind: SpanKind, name: string): ReadableSpan[] => sdk.spans().filter(s => s.kind === kind && s.name === name);
  const only = (kind: SpanKind, name: string): ReadableSpan => {
    const spans = spanOf(kind, name);
    expect(spans).toHaveLength(1);
    return spans[0];
  };

  it('joins the caller, CLIENT and SERVER spans in one trace; guard, handler and its own spans run in the SERVER span', async () => {
    const caller = trace.getTracer('test').startSpan('caller');
    await expect(context.with(trace.setSpan(context.active(), caller), () => call(client, 'traced.sum', [1, 2]))).resolves.toBe(3);
    caller.end();
    const clientSpan = only(SpanKind.CLIENT, 'traced.sum');
    const serverSpan = only(SpanKind.SERVER, 'traced.sum');
    const work = only(SpanKind.INTERNAL, 'handler.work');
    const traceId = caller.spanContext().traceId;
    for (const span of [clientSpan, serverSpan, work]) expect(span.spanContext().traceId).toBe(traceId);
    expect(clientSpan.parentSpanContext?.spanId).toBe(caller.spanContext().spanId);
    expect(serverSpan.parentSpanContext?.spanId).toBe(clientSpan.spanContext().spanId);
    expect(serverSpan.parentSpanContext?.isRemote).toBe(true);
    expect(work.parentSpanContext?.spanId).toBe(serverSpan.spanContext().spanId);

    const serverSpanId = serverSpan.spanContext().spanId;
    expect(seen.guard.map(s => s?.spanId)).toEqual([serverSpanId]);
    expect(seen.handler.map(s => s?.spanId)).toEqual([serverSpanId]);
    expect(seen.afterAwait.map(s => s?.spanId)).toEqual([serverSpanId]);
    expect(serverSpan.attributes).toMatchObject({
      'rpc.system.name': 'nestjs-iroh',
      'rpc.method': 'traced.sum',
      'iroh.call.type': 'request',
      'client.address': client.endpointId,
      'iroh.reply.value_count': 1,
    });
    // The SERVER span ends before the reply reaches the client, the CLIENT span after.
    expect(hrtimeMs(serverSpan.endTime)).toBeLessThanOrEqual(hrtimeMs(clientSpan.endTime));
    // The handler sees the metadata the application set, without the trace context's key.
    expect(seen.metadata).toEqual([hasDispatchHook ? { tenant: 'acme' } : undefined]);
  });

  it('sets ERROR and records the error on both sides when the handler fails', async () => {
    expect(await callError(client, 'traced.fail', {})).toMatchObject({ code: 'E_TRACED' });
    for (const span of [only(SpanKind.CLIENT, 'traced.fail'), only(SpanKind.SERVER, 'traced.fail')]) {
      expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: 'traced failure' });
      expect(span.attributes['error.type']).toBe('E_TRACED');
      expect(span.events.map(e => e.name)).toEqual(['exception']);
    }
  });

  it('records a stream as one span per side, with its value count', async () => {
    await expect(callAll(client, 'traced.stream', 5)).resolves.toEqual([0, 10, 20, 30, 40]);
    expect(only(SpanKind.CLIENT, 'traced.stream').attributes['iroh.reply.value_count']).toBe(5);
    expect(only(SpanKind.SERVER, 'traced.stream').attributes['iroh.reply.value_count']).toBe(5);
  });

  it('traces an event: the handler runs in the SERVER span, child of the CLIENT span', async () => {
    await new Promise<void>((resolve, reject) => client.emit('traced.event', { n: 1 }).subscribe({ complete: resolve, error: reject }));
    await eventually(() => spanOf(SpanKind.SERVER, 'traced.event').length === 1, 5000, 'the server span of the event');
    const clientSpan = only(SpanKind.CLIENT, 'traced.event');
    const serverSpan = only(SpanKind.SERVER, 'traced.event');
    expect(serverSpan.parentSpanContext?.spanId).toBe(clientSpan.spanContext().spanId);
    expect(seen.event.map(s => s?.spanId)).toEqual([serverSpan.spanContext().spanId]);
    expect(serverSpan.attributes['iroh.call.type']).toBe('event');
    expect(seen.metadata).toEqual([hasDispatchHook ? { tenant: 'acme' } : undefined]);
  });

  it('reports a pattern no handler matches as _OTHER on the server, with the pattern received beside it', async () => {
    await callError(client, 'no.such.pattern', {});
    const serverSpan = only(SpanKind.SERVER, 'nestjs-iroh');
    expect(serverSpan.attributes).toMatchObject({ 'rpc.method': '_OTHER', 'rpc.method_original': 'no.such.pattern' });
    expect(serverSpan.status.code).toBe(SpanStatusCode.ERROR);
    expect(only(SpanKind.CLIENT, 'no.such.pattern').parentSpanContext).toBeUndefined();
  });

  it('ends both spans as CANCELLED when the caller unsubscribes', async () => {
    const subscription = client.send('traced.slow', 3000).subscribe();
    await eventually(() => running.server.inflightRequests === 1, 5000, 'the request to arrive');
    subscription.unsubscribe();
    await eventually(() => spanOf(SpanKind.SERVER, 'traced.slow').length === 1, 5000, 'the server span to end');
    for (const span of [only(SpanKind.CLIENT, 'traced.slow'), only(SpanKind.SERVER, 'traced.slow')]) {
      expect(span.attributes['error.type']).toBe('CANCELLED');
      expect(span.status.code).toBe(SpanStatusCode.UNSET);
    }
  });

  it('measures both durations, and the server side of connections, requests and bytes', async () => {
    await call(client, 'traced.sum', [4]);
    await callError(client, 'traced.fail', {});
    for (const name of ['rpc.client.call.duration', 'rpc.server.call.duration']) {
      const metric = await sdk.metric(name);
      const ok = pointWith<HistogramPoint['value']>(metric, { 'rpc.method': 'traced.sum' });
      expect(ok?.value.count).toBeGreaterThanOrEqual(1);
      expect(ok?.attributes['error.type']).toBeUndefined();
      expect(pointWith(metric, { 'rpc.method': 'traced.fail', 'error.type': 'E_TRACED' })).toBeDefined();
    }
    // The server's duration has no per-caller attribute; the client's names the server.
    const serverPoint = pointWith(await sdk.metric('rpc.server.call.duration'), { 'rpc.method': 'traced.sum' });
    expect(serverPoint?.attributes['client.address']).toBeUndefined();
    expect((await sdk.metric('iroh.server.connection.count'))?.dataPoints[0].value).toBe(1);
    expect(pointWith(await sdk.metric('iroh.server.active_requests'), { 'rpc.system.name': 'nestjs-iroh' })?.value).toBe(0);
    const io = await sdk.metric('iroh.server.network.io');
    expect(pointWith<number>(io, { 'network.io.direction': 'receive' })?.value).toBeGreaterThan(100);
    expect(pointWith<number>(io, { 'network.io.direction': 'transmit' })?.value).toBeGreaterThan(50);
  });

  it('counts a client that closes as an orderly close on the server, not a loss', async () => {
    const other = irohClient(running.ticket);
    await call(other, 'traced.sum', [1]);
    expect((await sdk.metric('iroh.server.connection.count'))?.dataPoints[0].value).toBe(2);
    await other.close();
    await eventually(() => running.server.connectedPeers.length === 1, 5000, 'the server to see the close');
    expect((await sdk.metric('iroh.server.connection.count'))?.dataPoints[0].value).toBe(1);
    expect((await sdk.metric('iroh.server.connection.losses'))?.dataPoints[0]?.value ?? 0).toBe(0);
  });
});

describe('no provider registered (the API installed)', () => {
  it('records nothing, sends no trace context, and serves as usual', async () => {
    unregisterAll();
    const running = await startIrohServer(TracedModule);
    const client = irohClient(running.ticket);
    (client as any).setOnDispatchHook?.((packet: { metadata?: unknown }) => {
      packet.metadata = TENANT;
    });
    seen.reset();
    try {
      await expect(call(client, 'traced.sum', [1, 2])).resolves.toBe(3);
      await expect(callAll(client, 'traced.stream', 2)).resolves.toEqual([0, 10]);
      expect(await callError(client, 'traced.fail', {})).toMatchObject({ code: 'E_TRACED' });
      expect(seen.handler).toEqual([undefined]);
      expect(seen.metadata).toEqual([hasDispatchHook ? { tenant: 'acme' } : undefined]);
      // A provider registered now: the client and server took their meter at connect and
      // listen, and spans need a context manager to join, but nothing may fail.
      const sdk = registerSdk();
      try {
        await expect(call(client, 'traced.sum', [5])).resolves.toBe(5);
        expect(await sdk.metric('rpc.server.call.duration')).toBeUndefined();
      } finally {
        await sdk.shutdown();
      }
    } finally {
      await client.close();
      await running.app.close();
    }
  });
});

describe('reply metadata', () => {
  let running: RunningServer;
  let client: ClientIroh;

  beforeAll(async () => {
    running = await startIrohServer(TracedModule);
    client = irohClient(running.ticket);
  });

  afterAll(async () => {
    await client?.close();
    await running?.app.close();
  });

  /** What the subscriber of a call saw, in order. */
  function observe(pattern: string, data: unknown, onReplyMetadata?: (metadata: Record<string, unknown>) => void) {
    const log: string[] = [];
    const record = onReplyMetadata ?? ((metadata: unknown) => log.push(`metadata ${JSON.stringify(metadata)}`));
    return new Promise<string[]>(resolve =>
      client.send(pattern, data, { onReplyMetadata: record }).subscribe({
        next: value => log.push(`value ${JSON.stringify(value)}`),
        error: (err: { code?: string; message?: string }) => resolve([...log, `error ${err.code ?? err.message}`]),
        complete: () => resolve([...log, 'complete']),
      }),
    );
  }

  it('reaches the caller with the last reply, before it: a value, a stream, an error', async () => {
    const metadata = 'metadata {"etag":"v7","served":["a","b"]}';
    expect(await observe('traced.reply-metadata', {})).toEqual([metadata, 'value "done"', 'complete']);
    const streamed = await observe('traced.reply-metadata', { stream: true });
    // The last value comes with the end (RESPONSE) or before it (DATA, then END).
    expect([
      ['value 1', metadata, 'value 2', 'complete'],
      ['value 1', 'value 2', metadata, 'complete'],
    ]).toContainEqual(streamed);
    expect(await observe('traced.reply-metadata', { fail: true })).toEqual([metadata, 'error E_WITH_METADATA']);
    // A large reply is compressed (off the event loop); the metadata stays in front of it.
    const large = JSON.stringify('y'.repeat(200_000));
    expect(await observe('traced.reply-metadata', { size: 200_000 })).toEqual([metadata, `value ${large}`, 'complete']);
  });

  it('fails the handler that sets something other than an object, and sends nothing of it', async () => {
    const log = await observe('traced.reply-metadata.bad', {});
    expect(log).toHaveLength(1);
    expect(log[0]).toMatch(/^error /);
  });

  it('gives the caller the error its own callback threw', async () => {
    const failing = () => {
      throw new Error('caller callback failed');
    };
    expect(await observe('traced.reply-metadata', {}, failing)).toEqual(['error caller callback failed']);
    // The connection is fine afterwards.
    await expect(call(client, 'traced.sum', [2])).resolves.toBe(2);
  });

  it('travels (flag 0x20, before the value) only to a client whose HELLO announced REPLY_METADATA', async () => {
    const raw = await RawPeer.bind();
    try {
      const connection = await raw.connect(running.ticket);
      const reply = async (features: number) => {
        const bi = await connection.openBi();
        const frames = watchFrames(bi);
        await send(bi, encodeFrame(FrameType.PING, HELLO_ID, encodeHello(features)), request(1, 'traced.reply-metadata', {}));
        return frames.next(f => f.type === FrameType.RESPONSE);
      };
      const old = await reply(Feature.DEADLINE | Feature.DRAIN);
      expect(old.flags & FrameFlag.REPLY_METADATA).toBe(0);
      expect(old.payload.toString()).toBe('"done"');
      const taken = takeReplyMetadata(await reply(Feature.REPLY_METADATA));
      expect(taken.metadata).toEqual({ etag: 'v7', served: ['a', 'b'] });
      expect(taken.frame.payload.toString()).toBe('"done"');
    } finally {
      await raw.close();
    }
  });
});

function hrtimeMs([seconds, nanos]: [number, number]): number {
  return seconds * 1000 + nanos / 1e6;
}
