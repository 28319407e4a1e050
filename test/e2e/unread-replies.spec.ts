/**
 * Clients that stop reading their replies: app.close() still finishes within drainTimeout
 * and a bounded grace period, and writeStallTimeout cuts such a client off.
 */
import iroh = require('@number0/iroh/index.js');
import { encodeFrame, encodeRequestBody, FrameType } from '../../src/protocol';
import { RunningServer, eventually, startIrohServer } from '../support/harness';
import { MathModule } from '../support/math.app';

jest.setTimeout(60_000);

const ALPN = [...Buffer.from('nestjs-iroh/1')];

function request(id: number, pattern: string, data: unknown): number[] {
  const body = encodeRequestBody(pattern, data, undefined);
  return [...encodeFrame(FrameType.REQUEST, id, body.bytes, body.flags)];
}

describe('server close() with a client that does not read', () => {
  let running: RunningServer;
  let raw: iroh.Endpoint;
  let connection: iroh.Connection | null = null;

  beforeAll(async () => {
    running = await startIrohServer(MathModule, { drainTimeout: 200 });
    const builder = iroh.Endpoint.builder();
    iroh.presetMinimal(builder);
    builder.bindAddr('127.0.0.1:0');
    raw = await builder.bind();
  });

  afterAll(async () => {
    await running?.app.close().catch(() => undefined);
    try {
      connection?.close(0n, []);
    } catch {
      /* closed */
    }
    await raw?.close();
  });

  it('app.close() finishes within drainTimeout + a bounded grace period', async () => {
    connection = await raw.connect(iroh.EndpointTicket.fromString(running.ticket).endpointAddr(), ALPN);
    const bi = await connection.openBi();
    // Four 2 MiB incompressible replies: far more than the stream's flow-control window.
    for (let id = 1; id <= 4; id++) await bi.send.writeAll(request(id, 'blob', 2 * 1024 * 1024));
    // Let the handlers answer; the replies queue on the server, since nobody reads them.
    await eventually(() => running.server.inflightRequests === 0, 10_000, 'replies queued');
    await new Promise(r => setTimeout(r, 500));

    const started = Date.now();
    const outcome = await Promise.race([
      running.app.close().then(() => `closed after ${Date.now() - started} ms`),
      new Promise<string>(r => setTimeout(() => r('still closing after 15000 ms'), 15_000)),
    ]);
    // Unblock the server so the process can exit cleanly whatever happened.
    connection.close(0n, []);
    connection = null;
    expect(outcome).toMatch(/^closed after/);
  });

  it('a client that leaves replies unread is cut off after writeStallTimeout', async () => {
    const server2 = await startIrohServer(MathModule, { drainTimeout: 0, writeStallTimeout: 1000 });
    const conn = await raw.connect(iroh.EndpointTicket.fromString(server2.ticket).endpointAddr(), ALPN);
    try {
      const bi = await conn.openBi();
      // 3 MiB of replies: more than the stream's flow-control window, but under the 4 MiB
      // at which the server stops reading (so it does read the bad frame below).
      for (let id = 1; id <= 3; id++) await bi.send.writeAll(request(id, 'blob', 1024 * 1024));
      await eventually(() => server2.server.inflightRequests === 0, 10_000, 'replies queued');
      await new Promise(r => setTimeout(r, 500));
      // While it does not read, the server reads nothing more from it either (backpressure):
      // the stall timeout is what ends it.
      const outcome = await Promise.race([
        conn.closed().then(reason => `closed: ${reason}`, err => `closed: ${String(err).split('\n')[0]}`),
        new Promise<string>(r => setTimeout(() => r('still open after 8000 ms'), 8000)),
      ]);
      expect(outcome).toMatch(/^closed: .*replies unread/);
    } finally {
      conn.close(0n, []);
      await server2.app.close();
    }
  });
});
