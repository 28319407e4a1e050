/**
 * close() while the first connect() or listen() is still binding: the client or server
 * stays closed, with no bound endpoint or live connection left behind.
 */
import { IrohStatus } from '../../src';
import { RunningServer, eventually, irohClient, startIrohServer } from '../support/harness';
import { MathModule } from '../support/math.app';

jest.setTimeout(30_000);

describe('close() during connect', () => {
  let running: RunningServer;
  beforeAll(async () => {
    running = await startIrohServer(MathModule);
  });
  afterAll(async () => {
    await running?.app.close();
  });

  it('a client closed while connecting stays closed (no endpoint, no connection)', async () => {
    const client = irohClient(running.ticket);
    const statuses: string[] = [];
    client.status.subscribe(s => statuses.push(s));
    const connecting = client.connect().then(
      () => 'connected',
      (err: Error) => `failed: ${err.message}`,
    );
    await client.close(); // e.g. app shutdown while the first request is connecting
    const outcome = await connecting;
    await new Promise(r => setTimeout(r, 300));
    const state = {
      outcome,
      endpointBound: (client as any).endpoint !== null,
      connectionActive: (client as any).active !== null,
      serverPeers: running.server.connectedPeers.length,
      lastStatus: statuses[statuses.length - 1],
    };
    // clean up whatever leaked
    await client.close();
    await eventually(() => running.server.connectedPeers.length === 0, 5000, 'peer gone');
    expect(state).toEqual({
      outcome: expect.stringMatching(/^failed/),
      endpointBound: false,
      connectionActive: false,
      serverPeers: 0,
      lastStatus: IrohStatus.DISCONNECTED,
    });
  });

  it('a server closed while listen() is still binding stays closed (no bound endpoint)', async () => {
    const { IrohServer } = await import('../../src');
    const server = new IrohServer({ relayMode: 'disabled', bindAddr: '127.0.0.1:0' });
    const listening = new Promise<unknown>(resolve => void server.listen(err => resolve(err ?? 'listening')));
    await server.close(); // e.g. SIGTERM (enableShutdownHooks) during start-up
    const outcome = await listening;
    expect(outcome).toBeInstanceOf(Error);
    expect(String(outcome)).toMatch(/closed while it was starting to listen/);
    expect(() => server.unwrap()).toThrow(/not listening/);
    await server.close();
  });
});
