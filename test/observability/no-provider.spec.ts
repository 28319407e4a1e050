import { SpanKind, context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { TRACE_CONTEXT_KEY, createClientTelemetry, createServerTelemetry, withoutTraceContext } from '../../src/observability';
import { registerSdk, unregisterAll } from '../support/otel-sdk';

const CLIENT_ID = '3b0ac4f6d1a2e5c7b8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1';
const TRACED_METADATA = {
  [TRACE_CONTEXT_KEY]: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
  tenant: 'acme',
};

describe('observability: API installed, no provider registered', () => {
  beforeEach(() => unregisterAll());
  afterEach(() => unregisterAll());

  it('changes no metadata and runs handlers as they are', async () => {
    const client = createClientTelemetry();
    const server = createServerTelemetry();
    const metadata = { tenant: 'acme' };
    const call = client.startCall('request', 'sum', 'peer', 'direct');
    expect(call.inject(metadata)).toBe(metadata);
    expect(call.inject(undefined)).toBeUndefined();
    call.onValue();
    call.end(new Error('failed'));
    client.connectionOpened();
    client.bytesSent(10);
    client.observePeers(() => [{ endpointId: 'peer', path: 'direct', rttMs: 1 }]);
    client.dispose();

    const handling = server.startHandling('request', 'sum', CLIENT_ID, TRACED_METADATA);
    await expect(handling.run(async () => 42)).resolves.toBe(42);
    handling.onValue();
    handling.end();
    expect(withoutTraceContext(TRACED_METADATA)).toEqual({ tenant: 'acme' });
    // The no-op calls, shared: nothing was allocated per call.
    expect(client.startCall('request', 'sum')).toBe(call);
    expect(server.startHandling('event', 'e', CLIENT_ID, undefined)).toBe(handling);
  });

  it('picks up a TracerProvider registered later (traces go through a proxy), not a MeterProvider', async () => {
    // A context manager alone: still no provider.
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    const client = createClientTelemetry();
    const sdk = registerSdk();
    try {
      const call = client.startCall('request', 'late', 'peer');
      expect(call.inject(undefined)).toHaveProperty([TRACE_CONTEXT_KEY, 'traceparent']);
      call.end();
      expect(sdk.span('late').kind).toBe(SpanKind.CLIENT);
      // The meter was taken before the MeterProvider existed: it stays a no-op.
      expect(await sdk.metric('rpc.client.call.duration')).toBeUndefined();
      // A client created now (at its next connect) records.
      const later = createClientTelemetry();
      later.startCall('request', 'late', 'peer').end();
      expect((await sdk.metric('rpc.client.call.duration'))?.dataPoints).toHaveLength(1);
    } finally {
      await sdk.shutdown();
    }
  });

  it('passes a trace context on through a server that only propagates', async () => {
    const sdk = registerSdk({ traces: false, metrics: false });
    try {
      const server = createServerTelemetry();
      const handling = server.startHandling('request', 'sum', CLIENT_ID, TRACED_METADATA);
      // The handler's own calls would carry the caller's trace.
      const inHandler = handling.run(() => trace.getSpanContext(context.active()));
      handling.end();
      expect(inHandler?.traceId).toBe('0af7651916cd43dd8448eb211c80319c');
      expect(inHandler?.spanId).toBe('b7ad6b7169203331');
    } finally {
      await sdk.shutdown();
    }
  });
});
