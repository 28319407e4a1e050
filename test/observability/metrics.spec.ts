import { trace } from '@opentelemetry/api';
import { ClientTelemetry, ServerTelemetry, TRACE_CONTEXT_KEY, createClientTelemetry, createServerTelemetry } from '../../src/observability';
import { HistogramPoint, RegisteredSdk, pointWith, registerSdk } from '../support/otel-sdk';

const SERVER_ID = 'ae58ff8833241ac82d6ff7611046ed67b5072d142c588d0063e942d9a75502b6';
const OTHER_SERVER_ID = '5d1c3b0a9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a392817065f4e';
const CLIENT_ID = '3b0ac4f6d1a2e5c7b8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1';

describe('observability: metrics', () => {
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

  it('records call durations on both histograms, in seconds, by method, peer and outcome', async () => {
    for (let i = 0; i < 3; i++) {
      const call = client.startCall('request', 'sum', SERVER_ID);
      const handling = server.startHandling('request', 'sum', CLIENT_ID, call.inject(undefined));
      await new Promise(resolve => setTimeout(resolve, 5));
      handling.end();
      call.end();
    }
    const failed = client.startCall('request', 'sum', SERVER_ID);
    const failedHandling = server.startHandling('request', 'sum', CLIENT_ID, undefined);
    failedHandling.end({ status: 'error', code: 'LIMIT_EXCEEDED', message: 'too many' });
    failed.end({ status: 'error', code: 'LIMIT_EXCEEDED', message: 'too many' });

    const clientDuration = await sdk.metric('rpc.client.call.duration');
    const serverDuration = await sdk.metric('rpc.server.call.duration');
    expect(clientDuration?.descriptor.unit).toBe('s');
    expect(serverDuration?.descriptor.unit).toBe('s');

    const clientOk = pointWith<HistogramPoint['value']>(clientDuration, {
      'rpc.method': 'sum',
      'server.address': SERVER_ID,
      'error.type': undefined,
    });
    expect(clientOk?.attributes).toEqual({ 'rpc.system.name': 'nestjs-iroh', 'rpc.method': 'sum', 'server.address': SERVER_ID });
    expect(clientOk?.value.count).toBe(3);
    // Each call waited 5 ms (timers may fire up to 1 ms early), and none anywhere near a second.
    expect(clientOk!.value.min).toBeGreaterThanOrEqual(0.003);
    expect(clientOk!.value.max).toBeLessThan(1);
    expect(clientOk!.value.buckets.boundaries[0]).toBe(0.0001);

    const serverOk = pointWith<HistogramPoint['value']>(serverDuration, { 'rpc.method': 'sum', 'error.type': undefined });
    expect(serverOk?.attributes).toEqual({ 'rpc.system.name': 'nestjs-iroh', 'rpc.method': 'sum' });
    expect(serverOk?.value.count).toBe(3);
    expect(serverOk!.value.min).toBeGreaterThanOrEqual(0.003);

    expect(pointWith<HistogramPoint['value']>(clientDuration, { 'error.type': 'LIMIT_EXCEEDED' })?.value.count).toBe(1);
    expect(pointWith<HistogramPoint['value']>(serverDuration, { 'error.type': 'LIMIT_EXCEEDED' })?.value.count).toBe(1);
  });

  it('keeps one series per peer on the client and none per caller on the server', async () => {
    client.startCall('request', 'sum', SERVER_ID).end();
    client.startCall('request', 'sum', OTHER_SERVER_ID).end();
    server.startHandling('request', 'sum', CLIENT_ID, undefined).end();
    server.startHandling('request', 'sum', 'another-client', undefined).end();
    expect((await sdk.metric('rpc.client.call.duration'))?.dataPoints).toHaveLength(2);
    expect((await sdk.metric('rpc.server.call.duration'))?.dataPoints).toHaveLength(1);
  });

  it('puts every unmatched pattern in one _OTHER series', async () => {
    for (let i = 0; i < 20; i++) server.startHandling('request', `random.${i}`, CLIENT_ID, undefined, false).end('no handler');
    const points = (await sdk.metric('rpc.server.call.duration'))?.dataPoints ?? [];
    expect(points).toHaveLength(1);
    expect(points[0].attributes).toEqual({ 'rpc.system.name': 'nestjs-iroh', 'rpc.method': '_OTHER', 'error.type': '_OTHER' });
  });

  it('counts requests in flight on both sides, events excluded', async () => {
    const calls = [client.startCall('request', 'a'), client.startCall('grpc', '/pkg.S/M'), client.startCall('event', 'e')];
    const handlings = [
      server.startHandling('request', 'a', CLIENT_ID, undefined),
      server.startHandling('event', 'e', CLIENT_ID, undefined),
    ];
    const inFlight = async (name: string, system: string) =>
      pointWith<number>(await sdk.metric(name), { 'rpc.system.name': system })?.value;
    expect(await inFlight('iroh.client.active_requests', 'nestjs-iroh')).toBe(1);
    expect(await inFlight('iroh.client.active_requests', 'grpc')).toBe(1);
    expect(await inFlight('iroh.server.active_requests', 'nestjs-iroh')).toBe(1);
    calls[0].end();
    calls[1].cancel();
    calls[2].end();
    for (const handling of handlings) handling.end(new Error('failed'));
    expect(await inFlight('iroh.client.active_requests', 'nestjs-iroh')).toBe(0);
    expect(await inFlight('iroh.client.active_requests', 'grpc')).toBe(0);
    expect(await inFlight('iroh.server.active_requests', 'nestjs-iroh')).toBe(0);
  });

  it('counts connections, losses, reconnects and bytes', async () => {
    client.connectionOpened();
    client.connectionClosed(true);
    client.connectionOpened(true);
    client.bytesSent(100);
    client.bytesSent(28);
    client.bytesReceived(64);
    server.connectionOpened();
    server.connectionOpened();
    server.connectionClosed(false);
    server.bytesReceived(128);
    server.bytesSent(64);

    const value = async (name: string, attributes: Record<string, unknown> = {}) =>
      pointWith<number>(await sdk.metric(name), attributes)?.value;
    expect(await value('iroh.client.connection.count')).toBe(1);
    expect(await value('iroh.client.connection.losses')).toBe(1);
    expect(await value('iroh.client.reconnects')).toBe(1);
    expect(await value('iroh.client.network.io', { 'network.io.direction': 'transmit' })).toBe(128);
    expect(await value('iroh.client.network.io', { 'network.io.direction': 'receive' })).toBe(64);
    expect(await value('iroh.server.connection.count')).toBe(1);
    expect(await value('iroh.server.connection.losses')).toBeUndefined();
    expect(await value('iroh.server.network.io', { 'network.io.direction': 'receive' })).toBe(128);
    expect(await value('iroh.server.network.io', { 'network.io.direction': 'transmit' })).toBe(64);
  });

  it('reads the path and RTT of each peer when metrics are collected, until disposed', async () => {
    let reads = 0;
    client.observePeers(() => {
      reads++;
      return [
        { endpointId: SERVER_ID, path: 'direct', rttMs: 12.5 },
        { endpointId: OTHER_SERVER_ID, path: 'relay', rttMs: 80 },
      ];
    });
    expect(reads).toBe(0);
    const rtt = await sdk.metric('iroh.client.connection.rtt');
    expect(reads).toBe(1);
    expect(rtt?.descriptor.unit).toBe('s');
    expect(pointWith<number>(rtt, { 'server.address': SERVER_ID })?.attributes).toEqual({
      'server.address': SERVER_ID,
      'iroh.path': 'direct',
    });
    expect(pointWith<number>(rtt, { 'server.address': SERVER_ID })?.value).toBeCloseTo(0.0125);
    expect(pointWith<number>(rtt, { 'server.address': OTHER_SERVER_ID, 'iroh.path': 'relay' })?.value).toBeCloseTo(0.08);

    client.dispose();
    await sdk.metric('iroh.client.connection.rtt');
    expect(reads).toBe(1);
  });

  it('contains a peer source that throws (the collection reports no error)', async () => {
    client.observePeers(() => {
      throw new Error('binding gone');
    });
    // sdk.metric rejects when the collection reports an error.
    await expect(sdk.metric('iroh.client.connection.rtt')).resolves.toBeUndefined();
  });
});

describe('observability: metrics without tracing', () => {
  it('records the duration but runs the handler in no context of its own when there is no trace to pass on', async () => {
    const sdk = registerSdk({ traces: false });
    const server = createServerTelemetry();
    try {
      const untraced = server.startHandling('request', 'sum', CLIENT_ID, { tenant: 'acme' });
      // Entering a context would turn on AsyncLocalStorage's promise hooks for nothing.
      expect(untraced.run(() => trace.getActiveSpan())).toBeUndefined();
      untraced.end();
      const traced = server.startHandling('request', 'sum', CLIENT_ID, {
        [TRACE_CONTEXT_KEY]: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
      });
      expect(traced.run(() => trace.getActiveSpan()?.spanContext().traceId)).toBe('0af7651916cd43dd8448eb211c80319c');
      traced.end();
      const duration = await sdk.metric('rpc.server.call.duration');
      expect(pointWith<HistogramPoint['value']>(duration, { 'rpc.method': 'sum' })?.value.count).toBe(2);
    } finally {
      server.dispose();
      await sdk.shutdown();
    }
  });
});
