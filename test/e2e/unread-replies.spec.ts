/**
 * Clients that stop reading their replies: app.close() still finishes within drainTimeout
 * and a bounded grace period, and writeStallTimeout cuts such a client off.
 */
import { RunningServer, eventually, startIrohServer } from '../support/harness';
import { MathModule } from '../support/math.app';
import { RawPeer, closedBy, request, send } from '../support/raw-peer';

jest.setTimeout(60_000);

describe('server close() with a client that does not read', () => {
  let running: RunningServer;
  let raw: RawPeer;

  beforeAll(async () => {
    running = await startIrohServer(MathModule, { drainTimeout: 200 });
    raw = await RawPeer.bind();
  });

  afterAll(async () => {
    await running?.app.close().catch(() => undefined);
    await raw?.close();
  });

  it('app.close() finishes within drainTimeout + a bounded grace period', async () => {
    const connection = await raw.connect(running.ticket);
    const bi = await connection.openBi();
    // Four 2 MiB incompressible replies: far more than the stream's flow-control window.
    for (let id = 1; id <= 4; id++) await send(bi, request(id, 'blob', 2 * 1024 * 1024));
    // Let the handlers answer; the replies queue on the server, since nobody reads them.
    await eventually(() => running.server.inflightRequests === 0, 10_000, 'replies queued');
    await new Promise(r => setTimeout(r, 500));

    const started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      running.app.close().then(() => `closed after ${Date.now() - started} ms`),
      new Promise<string>(r => (timer = setTimeout(() => r('still closing after 15000 ms'), 15_000))),
    ]);
    clearTimeout(timer);
    // Unblock the server so the process can exit cleanly whatever happened.
    raw.drop(connection);
    expect(outcome).toMatch(/^closed after/);
  });

  it('a client that leaves replies unread is cut off after writeStallTimeout', async () => {
    const server2 = await startIrohServer(MathModule, { drainTimeout: 0, writeStallTimeout: 1000 });
    try {
      const conn = await raw.connect(server2.ticket);
      const bi = await conn.openBi();
      // 3 MiB of replies: more than the stream's flow-control window, but under the 4 MiB
      // at which the server stops reading (so it does read the bad frame below).
      for (let id = 1; id <= 3; id++) await send(bi, request(id, 'blob', 1024 * 1024));
      await eventually(() => server2.server.inflightRequests === 0, 10_000, 'replies queued');
      await new Promise(r => setTimeout(r, 500));
      // While it does not read, the server reads nothing more from it either (backpressure):
      // the stall timeout is what ends it.
      const closed = await closedBy(conn, 8000);
      expect(closed.reason).toMatch(/replies unread/);
    } finally {
      raw.dropAll();
      await server2.app.close();
    }
  });
});
