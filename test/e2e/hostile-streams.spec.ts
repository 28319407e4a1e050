/**
 * A real IrohServer against raw peers that end their streams early: frames cut off by a FIN
 * or a reset end that stream only, and streams the client finishes are still answered and
 * then released.
 */
import { FrameType, encodeFrame, encodeRequestBody } from '../../src/protocol';
import { eventually } from '../support/harness';
import { heapAfterGc, hostileServer } from '../support/hostile-server';
import { readFrames, request, send, summary } from '../support/raw-peer';

jest.setTimeout(30_000);

describe('IrohServer under hostile input', () => {
  const hostile = hostileServer();
  const { connect, drop, channelsOfRawConnections, goodClientWorks } = hostile;

  describe('truncated frames', () => {
    const full = request(1, 'sum', [1, 2]);
    const long = encodeFrame(FrameType.REQUEST, 300, encodeRequestBody('echo', 'x'.repeat(400), undefined).bytes);
    const cuts: Array<[string, Buffer]> = [
      ['after the first byte', full.subarray(0, 1)],
      ['inside the header', long.subarray(0, 3)],
      ['inside a varint', long.subarray(0, 4)],
      ['after the header', long.subarray(0, 5)],
      ['inside the payload', long.subarray(0, 200)],
      ['one byte short', long.subarray(0, long.length - 1)],
    ];

    it.each(cuts)('cut %s, then FIN: the server ends the stream quietly, the connection stays up', async (_name, prefix) => {
      const connection = await connect();
      const bi = await connection.openBi();
      await send(bi, prefix);
      await bi.send.finish();
      const received = await readFrames(bi, 5000);
      expect(received).toEqual({ frames: [], end: 'finished' });
      // A new stream on the same connection works.
      const next = await connection.openBi();
      await send(next, request(1, 'sum', [1, 2]));
      await next.send.finish();
      const answer = await readFrames(next, 5000);
      expect(summary(answer.frames)).toEqual([['RESPONSE', 1, '3']]);
      drop(connection);
    });

    it('a stream reset mid-frame ends that stream only', async () => {
      const connection = await connect();
      const bi = await connection.openBi();
      await send(bi, long.subarray(0, 100));
      await bi.send.reset(7n);
      const next = await connection.openBi();
      await send(next, request(2, 'sum', [2, 2]));
      await next.send.finish();
      expect(summary((await readFrames(next, 5000)).frames)).toEqual([['RESPONSE', 2, '4']]);
      drop(connection);
    });
  });

  describe('streams the client finishes', () => {
    it('answers requests in flight after the client finished its side of the stream', async () => {
      const connection = await connect();
      const bi = await connection.openBi();
      await send(bi, request(1, 'delay', { ms: 100, value: 'late' }), request(2, 'sum', [1, 1]));
      await bi.send.finish();
      const received = await readFrames(bi, 5000);
      expect(received.end).toBe('finished');
      expect(summary(received.frames).sort((a, b) => a[1] - b[1])).toEqual([
        ['RESPONSE', 1, '"late"'],
        ['RESPONSE', 2, '2'],
      ]);
    });

    it('releases a channel once the client finished its stream and every reply is sent', async () => {
      const connection = await connect();
      for (let batch = 0; batch < 20; batch++) {
        await Promise.all(
          Array.from({ length: 10 }, async (_, i) => {
            const bi = await connection.openBi();
            await send(bi, request(1, 'sum', [i]));
            await bi.send.finish();
            expect((await readFrames(bi, 5000)).end).toBe('finished');
          }),
        );
      }
      // 200 streams are over on both sides; the server holds none of them.
      await eventually(() => channelsOfRawConnections() === 0, 2000, 'finished channels to be released');
    });
  });

  it('server heap stays bounded after all of the above', async () => {
    await goodClientWorks();
    const growth = (await heapAfterGc()) - hostile.heapBefore;
    expect(growth).toBeLessThan(48 * 1024 * 1024);
  });
});
