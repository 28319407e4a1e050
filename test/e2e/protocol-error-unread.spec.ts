/**
 * A peer that breaks the protocol while leaving replies unread is still disconnected
 * within a few seconds of the protocol error.
 */
import { eventually, startIrohServer } from '../support/harness';
import { MathModule } from '../support/math.app';
import { RawPeer, closedBy, request, send } from '../support/raw-peer';

jest.setTimeout(60_000);

describe('protocol error from a peer that does not read', () => {
  it('the connection is closed within a few seconds of the protocol error', async () => {
    const running = await startIrohServer(MathModule, { drainTimeout: 0 });
    const raw = await RawPeer.bind();
    try {
      const conn = await raw.connect(running.ticket);
      const bi = await conn.openBi();
      // 3 MiB of replies: more than the stream's flow-control window, but under the 4 MiB
      // at which the server stops reading, so it does read the bad frame below.
      for (let id = 1; id <= 3; id++) await send(bi, request(id, 'blob', 1024 * 1024));
      await eventually(() => running.server.inflightRequests === 0, 10_000, 'replies queued');
      await new Promise(r => setTimeout(r, 500));
      await send(bi, Buffer.from([0x21, 0x00, 0x01, 0x00])); // frame version 2: a protocol error
      const closed = await closedBy(conn, 8000);
      expect(closed.reason).toMatch(/unsupported protocol version/);
    } finally {
      raw.dropAll();
      await running.app.close();
      await raw.close();
    }
  });
});
