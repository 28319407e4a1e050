/**
 * Keep-alive counts any traffic from the peer, so replies and requests that take longer
 * than keepAliveTimeout to cross the wire do not kill a healthy connection.
 */
import { randomBytes } from 'crypto';
import { ClientIroh } from '../../src';
import { RunningServer, call, irohClient, startIrohServer } from '../support/harness';
import { MathModule } from '../support/math.app';

jest.setTimeout(60_000);

describe('keep-alive during a long transfer', () => {
  let running: RunningServer;
  const clients: ClientIroh[] = [];

  beforeAll(async () => {
    running = await startIrohServer(MathModule);
  });
  afterAll(async () => {
    await Promise.all(clients.map(c => c.close()));
    await running?.app.close();
  });

  it('control: with keep-alive off, a 6 MiB incompressible reply arrives', async () => {
    const client = irohClient(running.ticket, { keepAliveInterval: 0 });
    clients.push(client);
    const started = Date.now();
    const blob: Buffer = await call(client, 'blob', 6 * 1024 * 1024, 50_000);
    expect(blob.length).toBe(6 * 1024 * 1024);
    console.log(`6 MiB reply took ${Date.now() - started} ms`);
  });

  it('a large reply that takes longer than keepAliveTimeout is delivered (connection is alive and busy)', async () => {
    // Smaller keep-alive so the test is quick; the defaults (2 s / 6 s) fail the same way
    // for any reply that takes more than ~6 s (16 MiB at the binding's few MB/s).
    const client = irohClient(running.ticket, { keepAliveInterval: 250, keepAliveTimeout: 750 });
    clients.push(client);
    await client.connect();
    const result = await call(client, 'blob', 6 * 1024 * 1024, 50_000).then(
      (b: Buffer) => ({ ok: b.length }),
      (err: any) => ({ error: `${err?.code}: ${err?.message}` }),
    );
    expect(result).toEqual({ ok: 6 * 1024 * 1024 });
  });

  it('a large request that takes longer than keepAliveTimeout to upload is delivered', async () => {
    const client = irohClient(running.ticket, { keepAliveInterval: 250, keepAliveTimeout: 750 });
    clients.push(client);
    await client.connect();
    const payload = randomBytes(6 * 1024 * 1024);
    const result = await call(client, 'echo', payload, 50_000).then(
      (b: Buffer) => ({ ok: b.length }),
      (err: any) => ({ error: `${err?.code}: ${err?.message}` }),
    );
    expect(result).toEqual({ ok: 6 * 1024 * 1024 });
  });
});
