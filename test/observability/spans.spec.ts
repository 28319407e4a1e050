import { SpanKind, SpanStatusCode, context, propagation, trace } from '@opentelemetry/api';
import { AlwaysOffSampler, ParentBasedSampler } from '@opentelemetry/sdk-trace-base';
import {
  ClientTelemetry,
  ServerTelemetry,
  TRACE_CONTEXT_KEY,
  createClientTelemetry,
  createServerTelemetry,
  withoutTraceContext,
} from '../../src/observability';
import { RegisteredSdk, registerSdk, unregisterAll } from '../support/otel-sdk';

// One call as the transport would drive it: the client starts it where send() is subscribed
// and sends `call.inject(metadata)`; the server starts handling with the metadata as
// received and runs the handler inside `run()`.

const SERVER_ID = 'ae58ff8833241ac82d6ff7611046ed67b5072d142c588d0063e942d9a75502b6';
const CLIENT_ID = '3b0ac4f6d1a2e5c7b8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1';

describe('observability: spans across the iroh hop', () => {
  let sdk: RegisteredSdk;
  let client: ClientTelemetry;
  let server: ServerTelemetry;

  beforeEach(() => {
    sdk = registerSdk();
    client = createClientTelemetry();
    server = createServerTelemetry();
  });

  afterEach(async () => {
    client.dispose();
    server.dispose();
    await sdk.shutdown();
  });

  it('makes the SERVER span a child of the CLIENT span, itself a child of the span active at subscription', async () => {
    const tracer = trace.getTracer('test');
    const caller = tracer.startSpan('caller');
    const userMetadata = Object.freeze({ tenant: 'acme' });
    const { call, sent } = context.with(trace.setSpan(context.active(), caller), () => {
      const call = client.startCall('request', 'sum', SERVER_ID, 'direct');
      return { call, sent: call.inject(userMetadata) as Record<string, unknown> };
    });
    caller.end();

    expect(userMetadata).toEqual({ tenant: 'acme' });
    expect(sent.tenant).toBe('acme');
    expect(Object.keys(sent[TRACE_CONTEXT_KEY] as object)).toContain('traceparent');

    // Through JSON, as the protocol carries metadata.
    const received = JSON.parse(JSON.stringify(sent));
    const handling = server.startHandling('request', 'sum', CLIENT_ID, received);
    expect(withoutTraceContext(received)).toEqual({ tenant: 'acme' });
    const active = await handling.run(async () => {
      await new Promise(resolve => setImmediate(resolve));
      return trace.getActiveSpan()?.spanContext();
    });
    handling.onValue();
    handling.end();
    call.onValue();
    call.end();

    const callerSpan = sdk.span('caller');
    const clientSpan = sdk.spans().find(s => s.kind === SpanKind.CLIENT)!;
    const serverSpan = sdk.spans().find(s => s.kind === SpanKind.SERVER)!;
    expect(clientSpan.name).toBe('sum');
    expect(serverSpan.name).toBe('sum');
    const traceId = callerSpan.spanContext().traceId;
    expect(clientSpan.spanContext().traceId).toBe(traceId);
    expect(serverSpan.spanContext().traceId).toBe(traceId);
    expect(clientSpan.parentSpanContext?.spanId).toBe(callerSpan.spanContext().spanId);
    expect(serverSpan.parentSpanContext?.spanId).toBe(clientSpan.spanContext().spanId);
    expect(serverSpan.parentSpanContext?.isRemote).toBe(true);
    expect(active?.spanId).toBe(serverSpan.spanContext().spanId);

    expect(clientSpan.attributes).toEqual({
      'rpc.system.name': 'nestjs-iroh',
      'rpc.method': 'sum',
      'iroh.call.type': 'request',
      'server.address': SERVER_ID,
      'iroh.path': 'direct',
      'iroh.reply.value_count': 1,
    });
    expect(serverSpan.attributes).toEqual({
      'rpc.system.name': 'nestjs-iroh',
      'rpc.method': 'sum',
      'iroh.call.type': 'request',
      'client.address': CLIENT_ID,
      'iroh.reply.value_count': 1,
    });
    expect(clientSpan.status.code).toBe(SpanStatusCode.UNSET);
    expect(serverSpan.status.code).toBe(SpanStatusCode.UNSET);
  });

  it('sends metadata undefined as the trace context alone, which the server strips back to undefined', () => {
    const call = client.startCall('request', 'ping');
    const sent = call.inject(undefined) as Record<string, unknown>;
    expect(Object.keys(sent)).toEqual([TRACE_CONTEXT_KEY]);
    const handling = server.startHandling('request', 'ping', CLIENT_ID, sent);
    expect(withoutTraceContext(sent)).toBeUndefined();
    handling.end();
    call.end();
    const serverSpan = sdk.spans().find(s => s.kind === SpanKind.SERVER)!;
    const clientSpan = sdk.spans().find(s => s.kind === SpanKind.CLIENT)!;
    expect(serverSpan.parentSpanContext?.spanId).toBe(clientSpan.spanContext().spanId);
    // No span was active at subscription: the CLIENT span is a root.
    expect(clientSpan.parentSpanContext).toBeUndefined();
  });

  it('leaves metadata that cannot carry the trace context as it is', () => {
    const call = client.startCall('request', 'sum');
    const list = ['a', 'b'];
    expect(call.inject(list)).toBe(list);
    expect(call.inject('text')).toBe('text');
    expect(call.inject(null)).toBeNull();
    class Tagged {
      toJSON() {
        return 'tagged';
      }
    }
    const tagged = new Tagged();
    expect(call.inject(tagged)).toBe(tagged);
    call.end();
  });

  it('sets ERROR and records the error on both sides', () => {
    const call = client.startCall('request', 'divide', SERVER_ID);
    const handling = server.startHandling('request', 'divide', CLIENT_ID, call.inject(undefined));
    const thrown = handling.run(() => {
      try {
        throw new RangeError('division by zero');
      } catch (err) {
        return err;
      }
    });
    handling.end(thrown);
    // What reaches the client: the error object Nest's exception filter made of it.
    call.end({ status: 'error', message: 'division by zero' });

    const serverSpan = sdk.spans().find(s => s.kind === SpanKind.SERVER)!;
    const clientSpan = sdk.spans().find(s => s.kind === SpanKind.CLIENT)!;
    expect(serverSpan.status).toEqual({ code: SpanStatusCode.ERROR, message: 'division by zero' });
    expect(serverSpan.attributes['error.type']).toBe('RangeError');
    expect(serverSpan.events.map(e => e.name)).toEqual(['exception']);
    expect(serverSpan.events[0].attributes?.['exception.type']).toBe('RangeError');
    expect(clientSpan.status).toEqual({ code: SpanStatusCode.ERROR, message: 'division by zero' });
    expect(clientSpan.attributes['error.type']).toBe('_OTHER');
    expect(clientSpan.events[0].attributes?.['exception.message']).toBe('division by zero');
  });

  it('takes error.type from a transport error code', () => {
    const call = client.startCall('request', 'slow');
    const timeout = Object.assign(new Error('No reply within 100 ms'), { name: 'IrohClientError', code: 'TIMEOUT' });
    call.end(timeout);
    const handling = server.startHandling('request', 'big', CLIENT_ID, undefined);
    handling.end({ status: 'error', code: 'MESSAGE_TOO_LARGE', message: 'Reply too large' });
    expect(sdk.span('slow').attributes['error.type']).toBe('TIMEOUT');
    expect(sdk.span('slow').events[0].attributes?.['exception.message']).toBe('No reply within 100 ms');
    expect(sdk.span('big').attributes['error.type']).toBe('MESSAGE_TOO_LARGE');
  });

  it('counts the values of a streamed reply on one span per side', () => {
    const call = client.startCall('request', 'count');
    const handling = server.startHandling('request', 'count', CLIENT_ID, call.inject(undefined));
    for (let i = 0; i < 5; i++) {
      handling.onValue();
      call.onValue();
    }
    handling.end();
    call.end();
    expect(sdk.spans().map(s => s.attributes['iroh.reply.value_count'])).toEqual([5, 5]);
  });

  it('ends a span once: a later end or cancel changes nothing', () => {
    const call = client.startCall('request', 'once');
    call.end();
    call.end(new Error('late'));
    call.cancel();
    expect(sdk.spans()).toHaveLength(1);
    expect(sdk.span('once').status.code).toBe(SpanStatusCode.UNSET);
  });

  it('reports a cancelled call as CANCELLED without the ERROR status', () => {
    const call = client.startCall('request', 'stream', SERVER_ID);
    const handling = server.startHandling('request', 'stream', CLIENT_ID, call.inject(undefined));
    call.onValue();
    call.cancel();
    handling.cancel();
    for (const span of sdk.spans()) {
      expect(span.attributes['error.type']).toBe('CANCELLED');
      expect(span.status.code).toBe(SpanStatusCode.UNSET);
      expect(span.events).toEqual([]);
    }
    expect(sdk.spans()).toHaveLength(2);
  });

  it('traces events without a value count', () => {
    const call = client.startCall('event', 'user.created', SERVER_ID);
    const handling = server.startHandling('event', 'user.created', CLIENT_ID, call.inject({ id: 7 }));
    handling.run(() => undefined);
    handling.end();
    call.end();
    const [serverSpan, clientSpan] = [
      sdk.spans().find(s => s.kind === SpanKind.SERVER)!,
      sdk.spans().find(s => s.kind === SpanKind.CLIENT)!,
    ];
    expect(serverSpan.parentSpanContext?.spanId).toBe(clientSpan.spanContext().spanId);
    expect(clientSpan.attributes['iroh.call.type']).toBe('event');
    expect(clientSpan.attributes['iroh.reply.value_count']).toBeUndefined();
    expect(serverSpan.attributes['iroh.reply.value_count']).toBeUndefined();
  });

  it('names gRPC spans by method and reports gRPC status codes as the gRPC conventions say', () => {
    const path = '/hero.HeroesService/FindOne';
    const call = client.startCall('grpc', path, SERVER_ID);
    const handling = server.startHandling('grpc', path, CLIENT_ID, call.inject({ headers: { 'x-id': ['1'] } }));
    const notFound = { code: 5, details: 'Hero 404 not found' };
    handling.end(notFound);
    call.end(notFound);
    const serverSpan = sdk.spans().find(s => s.kind === SpanKind.SERVER)!;
    const clientSpan = sdk.spans().find(s => s.kind === SpanKind.CLIENT)!;
    for (const span of [serverSpan, clientSpan]) {
      expect(span.name).toBe('hero.HeroesService/FindOne');
      expect(span.attributes['rpc.system.name']).toBe('grpc');
      expect(span.attributes['rpc.method']).toBe('hero.HeroesService/FindOne');
      expect(span.attributes['rpc.status_code']).toBe('NOT_FOUND');
    }
    // NOT_FOUND is the caller's problem: an error for the client, not for the server.
    expect(clientSpan.status).toEqual({ code: SpanStatusCode.ERROR, message: 'Hero 404 not found' });
    expect(clientSpan.attributes['error.type']).toBe('NOT_FOUND');
    expect(serverSpan.status.code).toBe(SpanStatusCode.UNSET);
    expect(serverSpan.attributes['error.type']).toBeUndefined();

    const ok = client.startCall('grpc', '/hero.HeroesService/List');
    ok.end();
    expect(sdk.span('hero.HeroesService/List').attributes['rpc.status_code']).toBe('OK');
  });

  it('reports a pattern no handler matches as _OTHER, under the system name', () => {
    const handling = server.startHandling('request', 'made.up.1234', CLIENT_ID, undefined, false);
    handling.end('There is no matching message handler defined in the remote service.');
    const span = sdk.span('nestjs-iroh');
    expect(span.attributes['rpc.method']).toBe('_OTHER');
    expect(span.attributes['rpc.method_original']).toBe('made.up.1234');
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
  });

  it('starts a root SERVER span when the reserved key holds no usable trace context', () => {
    for (const value of ['garbage', { traceparent: 42 }, { traceparent: '00-zz-yy-01' }, null, ['00']]) {
      const metadata = { [TRACE_CONTEXT_KEY]: value, kept: true };
      const handling = server.startHandling('request', 'hostile', CLIENT_ID, metadata);
      handling.end();
      expect(withoutTraceContext(metadata)).toEqual({ kept: true });
    }
    expect(sdk.spans()).toHaveLength(5);
    for (const span of sdk.spans()) expect(span.parentSpanContext).toBeUndefined();
  });

  it('does not parent SERVER spans to whatever context the server code runs in', () => {
    const unrelated = trace.getTracer('test').startSpan('server bootstrap');
    context.with(trace.setSpan(context.active(), unrelated), () => {
      server.startHandling('request', 'sum', CLIENT_ID, undefined).end();
    });
    unrelated.end();
    expect(sdk.span('sum').parentSpanContext).toBeUndefined();
  });

  it('sets the server and the path when the peer is chosen after the call started', () => {
    const call = client.startCall('request', 'sum');
    call.setPeer(SERVER_ID, 'relay');
    call.end();
    expect(sdk.span('sum').attributes).toMatchObject({ 'server.address': SERVER_ID, 'iroh.path': 'relay' });
  });

  it('keeps calls going when the propagator throws', () => {
    propagation.disable();
    propagation.setGlobalPropagator({
      inject: () => {
        throw new Error('broken propagator');
      },
      extract: () => {
        throw new Error('broken propagator');
      },
      fields: () => [],
    });
    const call = client.startCall('request', 'sum');
    const metadata = { a: 1 };
    expect(call.inject(metadata)).toBe(metadata);
    const handling = server.startHandling('request', 'sum', CLIENT_ID, { [TRACE_CONTEXT_KEY]: { traceparent: 'x' } });
    expect(handling.run(() => 42)).toBe(42);
    handling.end();
    call.end();
    // The client's call was traced; the server's start failed and went on untraced.
    expect(sdk.spans()).toHaveLength(1);
  });
});

describe('observability: sampled-out calls', () => {
  afterEach(() => unregisterAll());

  it("passes the sampling decision on, and the handler runs in the caller's trace context", async () => {
    const sdk = registerSdk({ sampler: new ParentBasedSampler({ root: new AlwaysOffSampler() }) });
    try {
      const client = createClientTelemetry();
      const server = createServerTelemetry();
      const call = client.startCall('request', 'sum');
      const sent = call.inject(undefined) as Record<string, Record<string, string>>;
      expect(sent[TRACE_CONTEXT_KEY].traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
      const handling = server.startHandling('request', 'sum', CLIENT_ID, sent);
      const inHandler = handling.run(() => trace.getActiveSpan()?.spanContext());
      handling.end();
      call.end();
      expect(inHandler?.traceId).toBe(sent[TRACE_CONTEXT_KEY].traceparent.split('-')[1]);
      expect(sdk.spans()).toEqual([]);
    } finally {
      await sdk.shutdown();
    }
  });
});
