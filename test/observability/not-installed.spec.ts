import type * as Observability from '../../src/observability';

// `@opentelemetry/api` is an optional peer dependency: here its require throws, as it does in
// an application that does not install it.

describe('observability: API not installed', () => {
  let observability: typeof Observability;
  let loads: number;

  beforeEach(() => {
    jest.resetModules();
    loads = 0;
    jest.doMock('@opentelemetry/api', () => {
      loads++;
      throw Object.assign(new Error("Cannot find module '@opentelemetry/api'"), { code: 'MODULE_NOT_FOUND' });
    });
    // Loaded after the mock, in a fresh module registry: an import would bind it before.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    observability = require('../../src/observability');
  });

  afterEach(() => {
    jest.dontMock('@opentelemetry/api');
    jest.resetModules();
  });

  it('tries the API only when a server listens or a client connects, and once', () => {
    expect(loads).toBe(0);
    const server = observability.createServerTelemetry();
    expect(loads).toBe(1);
    observability.createClientTelemetry();
    observability.createServerTelemetry();
    expect(loads).toBe(1);
    expect(server).toBe(observability.NOOP_SERVER_TELEMETRY);
  });

  it('makes every hook a no-op that changes nothing', async () => {
    const client = observability.createClientTelemetry();
    const server = observability.createServerTelemetry();
    expect(client.enabled).toBe(false);
    expect(server.enabled).toBe(false);
    const metadata = { tenant: 'acme' };
    const call = client.startCall('request', 'sum', 'peer', 'relay');
    expect(call.inject(metadata)).toBe(metadata);
    expect(call.inject(undefined)).toBeUndefined();
    call.setPeer('peer');
    call.onValue();
    call.end({ status: 'error', message: 'x' });
    call.cancel();
    client.connectionOpened(true);
    client.connectionClosed(true);
    client.bytesSent(1);
    client.bytesReceived(1);
    client.observePeers(() => []);
    client.dispose();

    const handling = server.startHandling('grpc', '/pkg.S/M', 'client', metadata);
    await expect(handling.run(async () => 'reply')).resolves.toBe('reply');
    expect(() =>
      handling.run(() => {
        throw new Error('handler error');
      }),
    ).toThrow('handler error');
    handling.onValue();
    handling.end();
    server.connectionOpened();
    server.connectionClosed();
    server.bytesSent(1);
    server.bytesReceived(1);
    server.dispose();
  });

  it('still hides the reserved key from handlers when a traced client calls', () => {
    const received = {
      [observability.TRACE_CONTEXT_KEY]: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
      a: 1,
    };
    expect(observability.withoutTraceContext(received)).toEqual({ a: 1 });
    expect(observability.withoutTraceContext({ [observability.TRACE_CONTEXT_KEY]: {} })).toBeUndefined();
  });
});
