import { mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { firstValueFrom, timeout, toArray, TimeoutError } from 'rxjs';
import { IrohClientError, IrohClientErrorCode, IrohStatus } from '../../src';
import { call, callError, eventually, irohClient, settle, startIrohServer } from '../support/harness';
import { MathModule, observed } from '../support/math.app';
import { killProcess, startServerProcess } from '../support/processes';
import { freeUdpPort } from '../support/ports';

jest.setTimeout(90_000);

/** Fast keep-alive and retries so that failures show within a test's time. */
const resilient = { keepAliveInterval: 200, keepAliveTimeout: 1200, retryAttempts: 4, retryDelay: 100, connectTimeout: 2000 };

describe('connections that survive', () => {
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'nestjs-iroh-resilience-'));
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  beforeEach(() => observed.reset());

  it('fails in-flight requests and streams promptly when the server process dies, then recovers when it is back', async () => {
    const port = await freeUdpPort();
    const env = { KEY_FILE: join(dir, 'killed.key'), BIND_ADDR: `127.0.0.1:${port}` };
    let server = await startServerProcess(env);
    const client = irohClient(server.ticket, resilient);
    const statuses: string[] = [];
    client.status.subscribe(s => statuses.push(s));
    try {
      await expect(call(client, 'sum', [1, 2, 3])).resolves.toBe(6);

      const slow = callError(client, 'delay', { ms: 20_000, value: 'never' }, 30_000);
      const streamValues: number[] = [];
      const stream = settle(client.send('ticks', { tag: 'killed', every: 20 }));
      const streamSub = client
        .send('ticks', { tag: 'watch', every: 20 })
        .subscribe({ next: v => streamValues.push(v), error: () => undefined });
      await eventually(() => streamValues.length >= 3, 5000, 'stream values');

      const killedAt = Date.now();
      await killProcess(server.child);
      const [slowErr, streamResult] = await Promise.all([slow, stream]);
      const detectedAfter = Date.now() - killedAt;
      streamSub.unsubscribe();

      expect(slowErr).toBeInstanceOf(IrohClientError);
      expect(slowErr.code).toBe('CONNECTION_LOST');
      expect((streamResult.error as IrohClientError).code).toBe('CONNECTION_LOST');
      expect(streamResult.values.length).toBeGreaterThan(0);
      // Keep-alive: 1200 ms of silence, checked every 200 ms.
      expect(detectedAfter).toBeLessThan(3000);
      expect(statuses).toContain(IrohStatus.DISCONNECTED);

      server = await startServerProcess(env);
      // Same key file and port: the same ticket, and the same client object reconnects.
      await expect(call(client, 'sum', [2, 3], 20_000)).resolves.toBe(5);
      expect(statuses).toContain(IrohStatus.RECONNECTING);
      expect(statuses[statuses.length - 1]).toBe(IrohStatus.CONNECTED);
    } finally {
      await client.close();
      await killProcess(server.child);
    }
  });

  it('detects a frozen server by keep-alive and reconnects once it answers again', async () => {
    const server = await startServerProcess({ KEY_FILE: join(dir, 'frozen.key') });
    const client = irohClient(server.ticket, resilient);
    try {
      await expect(call(client, 'sum', [1])).resolves.toBe(1);
      const pending = callError(client, 'sum', [1, 1], 20_000);
      server.child.kill('SIGSTOP');
      const frozenAt = Date.now();
      await new Promise(r => setTimeout(r, 50));
      const err = await pending;
      expect(err).toBeInstanceOf(IrohClientError);
      expect(err.code).toBe('CONNECTION_LOST');
      expect(err.message).toMatch(/keep-alive/);
      expect(Date.now() - frozenAt).toBeLessThan(3000);
      server.child.kill('SIGCONT');
      await expect(call(client, 'sum', [4, 4], 20_000)).resolves.toBe(8);
    } finally {
      server.child.kill('SIGCONT');
      await client.close();
      await killProcess(server.child);
    }
  });

  it('restarts on the same port in the same process; the existing client recovers', async () => {
    const port = await freeUdpPort();
    const options = { secretKeyFile: join(dir, 'restart.key'), bindAddr: `127.0.0.1:${port}` };
    let running = await startIrohServer(MathModule, options);
    const ticket = running.ticket;
    const client = irohClient(ticket, resilient);
    try {
      await expect(call(client, 'sum', [1, 1])).resolves.toBe(2);
      await running.app.close();
      running = await startIrohServer(MathModule, options);
      expect(running.ticket).toBe(ticket);
      await expect(call(client, 'sum', [3, 3], 20_000)).resolves.toBe(6);
    } finally {
      await client.close();
      await running.app.close();
    }
  });

  it('drains on close: in-flight requests finish, late ones get a clear error', async () => {
    const running = await startIrohServer(MathModule, { drainTimeout: 3000 });
    const client = irohClient(running.ticket, resilient);
    try {
      await client.connect();
      const inflight = call(client, 'delay', { ms: 400, value: 'finished' });
      await new Promise(r => setTimeout(r, 50));
      const closing = running.app.close();
      await new Promise(r => setTimeout(r, 30));
      // The server said GOAWAY first: the late request is not run there (a request that crossed
      // the GOAWAY is refused and may go elsewhere), and with no other server to go to it fails
      // to connect, since a draining server accepts no new connection.
      const late = await callError(client, 'sum', [1]);
      expect(late).toBeInstanceOf(IrohClientError);
      expect(late).toMatchObject({ code: IrohClientErrorCode.CONNECT_FAILED });
      await expect(inflight).resolves.toBe('finished');
      await closing;
    } finally {
      await client.close();
    }
  });

  it('cuts requests still running after drainTimeout, and their clients hear it promptly', async () => {
    const running = await startIrohServer(MathModule, { drainTimeout: 200 });
    const client = irohClient(running.ticket, resilient);
    try {
      await client.connect();
      const stuck = settle(client.send('ticks', { tag: 'drained', every: 50 }));
      await new Promise(r => setTimeout(r, 100));
      const started = Date.now();
      await running.app.close();
      const { values, error: err } = (await stuck) as { values: number[]; error: any };
      expect(values.length).toBeGreaterThan(0);
      expect(err).toBeInstanceOf(IrohClientError);
      expect(err.code).toBe('CONNECTION_LOST');
      expect(Date.now() - started).toBeLessThan(2000);
      await eventually(() => observed.finalized.includes('drained'), 2000, 'handler finalized');
    } finally {
      await client.close();
    }
  });

  it('cancels the server handler when the rxjs timeout operator fires', async () => {
    const running = await startIrohServer(MathModule);
    const client = irohClient(running.ticket);
    try {
      const result = await settle(client.send('ticks', { tag: 'rx-timeout', every: 1000 }).pipe(timeout(150)));
      expect(result.error).toBeInstanceOf(TimeoutError);
      await eventually(() => observed.finalized.includes('rx-timeout'), 2000, 'handler finalized after timeout');
      expect(running.server.inflightRequests).toBe(0);
      await expect(firstValueFrom(client.send('range', 3).pipe(toArray()))).resolves.toEqual([0, 1, 2]);
    } finally {
      await client.close();
      await running.app.close();
    }
  });
});
