import { ClientTCP, Transport } from '@nestjs/microservices';
import { NestFactory } from '@nestjs/core';
import { INestMicroservice } from '@nestjs/common';
import { firstValueFrom, take, toArray, timeout } from 'rxjs';
import { ClientIroh, IrohClientError, IrohStatus } from '../../src';
import { call, callAll, callError, eventually, irohClient, RunningServer, settle, startIrohServer } from '../support/harness';
import { MathModule, observed } from '../support/math.app';

jest.setTimeout(60_000);

describe('IrohServer and ClientIroh carry Nest patterns over iroh', () => {
  let running: RunningServer;
  let client: ClientIroh;

  beforeAll(async () => {
    running = await startIrohServer(MathModule);
    client = irohClient(running.ticket);
    await client.connect();
  });

  afterAll(async () => {
    await client?.close();
    await running?.app.close();
  });

  beforeEach(() => observed.reset());

  it('exposes endpoint id and ticket after listen', () => {
    expect(running.server.endpointId).toMatch(/^[0-9a-f]{64}$/);
    expect(running.ticket).toMatch(/^endpoint[a-z0-9]+$/);
  });

  it('answers request/response', async () => {
    await expect(call(client, 'sum', [1, 2, 3])).resolves.toBe(6);
  });

  it('answers Promise handlers', async () => {
    await expect(call(client, 'sum.async', [4, 5])).resolves.toBe(9);
  });

  it('routes object patterns like Nest (key order does not matter)', async () => {
    await expect(call(client, { version: 2, cmd: 'sum' }, [2, 3])).resolves.toEqual({ total: 5 });
  });

  it('delivers every value of an Observable, in order, then completes', async () => {
    await expect(callAll(client, 'range', 500)).resolves.toEqual(Array.from({ length: 500 }, (_, i) => i));
    await expect(callAll(client, 'ticks.limited', 5)).resolves.toEqual([0, 1, 2, 3, 4]);
  });

  it('completes without a value for an empty Observable', async () => {
    await expect(callAll(client, 'range', 0)).resolves.toEqual([]);
  });

  it('round-trips JSON values and binary buffers', async () => {
    const doc = { a: 'ü€😀', n: null, list: [1, 2.5, true], nested: { deep: [{}] } };
    await expect(call(client, 'echo', doc)).resolves.toEqual(doc);
    const bytes = Buffer.from([0, 1, 2, 253, 254, 255]);
    const back = await call(client, 'echo', bytes);
    expect(Buffer.isBuffer(back)).toBe(true);
    expect(Buffer.compare(back, bytes)).toBe(0);
  });

  it('carries large compressible and incompressible messages', async () => {
    const doc = { rows: Array.from({ length: 3000 }, (_, i) => ({ id: i, name: `row ${i}`, ok: i % 2 === 0 })) };
    await expect(call(client, 'echo', doc)).resolves.toEqual(doc);
    const random = Buffer.alloc(200_000);
    for (let i = 0; i < random.length; i++) random[i] = (Math.random() * 256) | 0;
    const back = await call(client, 'echo', random, 30_000);
    expect(Buffer.compare(back, random)).toBe(0);
  });

  it('tells the handler who called through IrohContext', async () => {
    const me = client.unwrap<any>().id().toString();
    await expect(call(client, 'whoami', {})).resolves.toEqual({ id: me, pattern: 'whoami' });
  });

  it("fails unknown patterns with Nest's own message", async () => {
    const err = await callError(client, 'no.such.pattern', {});
    expect(err).toBe('There is no matching message handler defined in the remote service.');
    // The connection is still fine afterwards.
    await expect(call(client, 'sum', [1])).resolves.toBe(1);
  });

  it('delivers RpcException payloads unchanged', async () => {
    await expect(callError(client, 'fail.rpc', {})).resolves.toEqual({ code: 'E_NOPE', message: 'not allowed', details: [1, 2] });
    await expect(callError(client, 'fail.rpc.string', {})).resolves.toEqual({ status: 'error', message: 'plain message' });
  });

  it('delivers other errors as Nest does', async () => {
    await expect(callError(client, 'fail.plain', {})).resolves.toEqual({ status: 'error', message: 'Internal server error' });
  });

  it('delivers the values before a stream error, then the error', async () => {
    const { values, error } = await settle(client.send('fail.stream', {}));
    expect(values).toEqual([1, 2]);
    expect(error).toEqual({ code: 'E_MID', message: 'stream broke' });
  });

  it('runs pipes (ValidationPipe with DTO classes)', async () => {
    await expect(call(client, 'items.create', { name: 'bolt', quantity: 3 })).resolves.toEqual({ created: '3xbolt', isDto: true });
    await expect(callError(client, 'items.create', { name: 7, quantity: 0 })).resolves.toEqual({
      code: 'E_VALIDATION',
      fields: ['name', 'quantity'],
    });
  });

  it('runs guards', async () => {
    await expect(call(client, 'guarded.even', 4)).resolves.toBe('ok 4');
    await expect(callError(client, 'guarded.even', 3)).resolves.toEqual({ status: 'error', message: 'Forbidden resource' });
  });

  it('runs interceptors', async () => {
    await expect(call(client, 'intercepted', 'x')).resolves.toEqual({ wrapped: 'x' });
  });

  it('delivers events to @EventPattern handlers', async () => {
    await firstValueFrom(client.emit('item.created', { id: 1 }), { defaultValue: undefined });
    client.emit('item.created', { id: 2 });
    await eventually(() => observed.events.length === 2, 5000, 'two events');
    expect(observed.events).toEqual([{ id: 1 }, { id: 2 }]);
  });

  it('survives events with no handler or a failing handler', async () => {
    client.emit('nobody.listens', { x: 1 });
    client.emit('event.fails', {});
    client.emit('item.created', { id: 3 });
    await eventually(() => observed.events.length === 1, 5000, 'event after bad ones');
    await expect(call(client, 'sum', [2, 2])).resolves.toBe(4);
  });

  it('keeps many concurrent requests apart on one client', async () => {
    const calls = Array.from({ length: 300 }, (_, i) => call(client, 'delay', { ms: (i * 7) % 20, value: { i, tag: `v${i}` } }));
    const results = await Promise.all(calls);
    results.forEach((r, i) => expect(r).toEqual({ i, tag: `v${i}` }));
  });

  it('keeps many clients apart on one server, each on its own connection', async () => {
    const clients = Array.from({ length: 6 }, () => irohClient(running.ticket));
    try {
      const ids = await Promise.all(clients.map(async c => (await call(c, 'whoami', {})).id));
      expect(new Set(ids).size).toBe(6);
      const results = await Promise.all(clients.flatMap((c, ci) => Array.from({ length: 40 }, (_, i) => call(c, 'echo', { ci, i }))));
      let k = 0;
      clients.forEach((_, ci) => {
        for (let i = 0; i < 40; i++) expect(results[k++]).toEqual({ ci, i });
      });
      await eventually(() => running.server.connectedPeers.length >= 7, 5000, 'peer count');
    } finally {
      await Promise.all(clients.map(c => c.close()));
    }
  });

  it('reuses one connection for all requests', async () => {
    const connectionBefore = (client as any).active.connection;
    await Promise.all(Array.from({ length: 20 }, (_, i) => call(client, 'sum', [i])));
    expect((client as any).active.connection).toBe(connectionBefore);
    const id = client.unwrap<any>().id().toString();
    expect(running.server.connectedPeers.filter(p => p === id)).toHaveLength(1);
  });

  it('cancels the server handler when the client unsubscribes', async () => {
    const values = await firstValueFrom(client.send('ticks', { tag: 'take3', every: 5 }).pipe(take(3), toArray(), timeout(5000)));
    expect(values).toEqual([0, 1, 2]);
    await eventually(() => observed.finalized.includes('take3'), 2000, 'handler finalize after unsubscribe');
  });
});

describe('ClientIroh lifecycle', () => {
  let running: RunningServer;

  beforeAll(async () => {
    running = await startIrohServer(MathModule);
  });

  afterAll(async () => {
    await running?.app.close();
  });

  it('reports status and events, and unwraps to the iroh endpoint', async () => {
    const client = irohClient(running.ticket);
    const statuses: string[] = [];
    const sub = client.status.subscribe(s => statuses.push(s));
    const events: string[] = [];
    client.on('connect', () => events.push('connect'));
    client.on('close', () => events.push('close'));
    expect(() => client.unwrap()).toThrow(/connect/);
    await client.connect();
    expect(typeof client.unwrap<any>().id).toBe('function');
    await client.close();
    sub.unsubscribe();
    expect(statuses).toEqual([IrohStatus.CONNECTING, IrohStatus.CONNECTED, IrohStatus.DISCONNECTED]);
    expect(events).toEqual(['connect', 'close']);
  });

  it('pings the server with a PING frame and reports the path', async () => {
    const client = irohClient(running.ticket);
    try {
      const result = await client.ping({ timeout: 5000 });
      expect(result.rttMs).toBeGreaterThan(0);
      expect(result.rttMs).toBeLessThan(5000);
      expect(result.path).toBe('direct');
      expect(result.remoteAddr).toMatch(/^127\.0\.0\.1:\d+$/);
    } finally {
      await client.close();
    }
  });

  it('connects lazily on send and again after close()', async () => {
    const client = irohClient(running.ticket);
    await expect(call(client, 'sum', [1, 1])).resolves.toBe(2);
    await client.close();
    await expect(call(client, 'sum', [2, 2])).resolves.toBe(4);
    await client.close();
  });

  it('fails in-flight requests promptly when closed', async () => {
    const client = irohClient(running.ticket);
    await client.connect();
    const pending = callError(client, 'delay', { ms: 3000, value: 1 });
    await new Promise(r => setTimeout(r, 50));
    const started = Date.now();
    await client.close();
    const err = await pending;
    expect(err).toBeInstanceOf(IrohClientError);
    expect(err.code).toBe('CLIENT_CLOSED');
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('times out requests with the client timeout and cancels them on the server', async () => {
    const client = irohClient(running.ticket, { timeout: 100 });
    try {
      const err = await callError(client, 'delay', { ms: 2000, value: 1 });
      expect(err).toBeInstanceOf(IrohClientError);
      expect(err.code).toBe('TIMEOUT');
      await expect(call(client, 'sum', [5])).resolves.toBe(5);
    } finally {
      await client.close();
    }
  });

  it('fails clearly when the peer is not valid', async () => {
    const client = new ClientIroh({ peer: 'not-a-ticket', relayMode: 'disabled' });
    const err = await callError(client, 'sum', [1]);
    expect(String(err.message)).toMatch(/endpoint ticket/);
  });

  it('fails within connectTimeout when nobody answers', async () => {
    // A real endpoint id, at an address where nothing listens.
    const { ClientIroh: C } = await import('../../src');
    const silent = await startIrohServer(MathModule);
    const ticket = silent.ticket;
    await silent.app.close();
    const client = new C({ peer: ticket, relayMode: 'disabled', bindAddr: '127.0.0.1:0', connectTimeout: 500, retryAttempts: 0 });
    const started = Date.now();
    const err = await callError(client, 'sum', [1]);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(String(err.message)).toMatch(/timed out|cannot connect/);
    expect(err).toBeInstanceOf(IrohClientError);
    expect(err.code).toBe('CONNECT_FAILED');
    await client.close();
  });
});

describe("parity with Nest's TCP transport", () => {
  let tcpApp: INestMicroservice;
  let iroh: RunningServer;
  let tcp: ClientTCP;
  let client: ClientIroh;

  beforeAll(async () => {
    tcpApp = await NestFactory.createMicroservice(MathModule, {
      transport: Transport.TCP,
      options: { host: '127.0.0.1', port: 0 },
      logger: false,
    });
    await tcpApp.listen();
    const port = (tcpApp as any).serverInstance?.server?.address?.().port ?? (tcpApp as any).server?.server?.address?.().port;
    tcp = new ClientTCP({ host: '127.0.0.1', port });
    iroh = await startIrohServer(MathModule);
    client = irohClient(iroh.ticket);
  });

  afterAll(async () => {
    await client?.close();
    tcp?.close();
    await iroh?.app.close();
    await tcpApp?.close();
  });

  const cases: Array<[string, unknown, unknown]> = [
    ['sum', 'sum', [1, 2, 3]],
    ['object pattern', { cmd: 'sum', version: 2 }, [4]],
    ['stream', 'range', 5],
    ['unknown pattern', 'nope', {}],
    ['RpcException object', 'fail.rpc', {}],
    ['RpcException string', 'fail.rpc.string', {}],
    ['plain error', 'fail.plain', {}],
    ['stream error', 'fail.stream', {}],
    ['validation ok', 'items.create', { name: 'a', quantity: 1 }],
    ['validation failure', 'items.create', { name: 1 }],
    ['guard denies', 'guarded.even', 1],
    ['interceptor', 'intercepted', [1]],
    ['null value', 'echo', null],
  ];

  it.each(cases)('%s: same values and error as TCP', async (_name, pattern, data) => {
    const overTcp = await settle(tcp.send(pattern, data).pipe(timeout(5000)));
    const overIroh = await settle(client.send(pattern, data).pipe(timeout(5000)));
    expect(overIroh).toEqual(overTcp);
  });
});
