/**
 * A peer that breaks the protocol while leaving replies unread is still disconnected
 * within a few seconds of the protocol error.
 */
import iroh = require('@number0/iroh/index.js');
import { encodeFrame, encodeRequestBody, FrameType } from '../../src/protocol';
import { eventually, startIrohServer } from '../support/harness';
import { MathModule } from '../support/math.app';

jest.setTimeout(60_000);

const ALPN = [...Buffer.from('nestjs-iroh/1')];

function request(id: number, pattern: string, data: unknown): number[] {
  const body = encodeRequestBody(pattern, data, undefined);
  return [...encodeFrame(FrameType.REQUEST, id, body.bytes, body.flags)];
}

describe('protocol error from a peer that does not read', () => {
  it('the connection is closed within a few seconds of the protocol error', async () => {
    const running = await startIrohServer(MathModule, { drainTimeout: 0 });
    const builder = iroh.Endpoint.builder();
    iroh.presetMinimal(builder);
    builder.bindAddr('127.0.0.1:0');
    const raw = await builder.bind();
    const conn = await raw.connect(iroh.EndpointTicket.fromString(running.ticket).endpointAddr(), ALPN);
    try {
      const bi = await conn.openBi();
      // 3 MiB of replies: more than the stream's flow-control window, but under the 4 MiB
      // at which the server stops reading, so it does read the bad frame below.
      for (let id = 1; id <= 3; id++) await bi.send.writeAll(request(id, 'blob', 1024 * 1024));
      await eventually(() => running.server.inflightRequests === 0, 10_000, 'replies queued');
      await new Promise(r => setTimeout(r, 500));
      await bi.send.writeAll([0x21, 0x00, 0x01, 0x00]); // frame version 2: a protocol error
      const outcome = await Promise.race([
        conn.closed().then(reason => `closed: ${reason}`, err => `closed: ${String(err).split('\n')[0]}`),
        new Promise<string>(r => setTimeout(() => r('still open 8000 ms after the protocol error'), 8000)),
      ]);
      expect(outcome).toMatch(/^closed: .*unsupported protocol version/);
    } finally {
      conn.close(0n, []);
      await running.app.close();
      await raw.close();
    }
  });
});
