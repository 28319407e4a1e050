/**
 * A real IrohServer against raw peers that send well-framed but unacceptable messages:
 * oversized (by size, by announced length, by inflated size) and malformed payloads get an
 * ERROR for that request, and the stream stays usable.
 */
import { deflateRawSync } from 'zlib';
import { FrameFlag, FrameType, encodeFrame, encodeFrameHeader, encodeRequestBody } from '../../src/protocol';
import { eventually } from '../support/harness';
import { MAX, errorValue, heapAfterGc, hostileServer } from '../support/hostile-server';
import { observed } from '../support/math.app';
import { event, readFrames, request, send, summary } from '../support/raw-peer';

jest.setTimeout(30_000);

describe('IrohServer under hostile input', () => {
  const hostile = hostileServer();
  const { connect, drop, goodClientWorks } = hostile;

  describe('oversized and malformed messages: an ERROR for that request, the stream stays usable', () => {
    it('an oversized REQUEST gets ERROR MESSAGE_TOO_LARGE; the next request on the stream is answered', async () => {
      const connection = await connect();
      const bi = await connection.openBi();
      const big = encodeFrame(FrameType.REQUEST, 1, Buffer.alloc(MAX + 1, 0x61));
      await send(bi, big, request(2, 'sum', [1, 2]), event('item.created', { after: 'oversized' }));
      await bi.send.finish();
      const received = await readFrames(bi, 10_000);
      expect(received.end).toBe('finished');
      const byId = new Map(received.frames.map(f => [f.id, f]));
      expect(received.frames).toHaveLength(2);
      const err = errorValue(byId.get(1)!);
      expect(err.code).toBe('MESSAGE_TOO_LARGE');
      expect(err.message).toContain(`${MAX + 1} bytes exceeds the maximum message size of ${MAX} bytes`);
      expect(summary([byId.get(2)!])).toEqual([['RESPONSE', 2, '3']]);
      await eventually(() => observed.events.length === 1, 3000, 'event after the oversized request');
      drop(connection);
    });

    it('a REQUEST announcing 4 GiB is refused from its header, before its payload arrives', async () => {
      const connection = await connect();
      const bi = await connection.openBi();
      const heap = process.memoryUsage().heapUsed;
      await send(bi, encodeFrameHeader(FrameType.REQUEST, 0, 9, 4 * 1024 ** 3), Buffer.alloc(1000, 0x62));
      const received = await readFrames(bi, 5000, frames => frames.length > 0);
      expect(received.end).toBe('done');
      const err = errorValue(received.frames[0]);
      expect(received.frames[0].id).toBe(9);
      expect(err.code).toBe('MESSAGE_TOO_LARGE');
      expect(err.message).toContain('4294967296 bytes');
      // Keep sending some of the announced payload: it is skipped, not stored.
      for (let i = 0; i < 8; i++) await send(bi, Buffer.alloc(256 * 1024, 0x63));
      expect(process.memoryUsage().heapUsed - heap).toBeLessThan(64 * 1024 * 1024);
      await goodClientWorks();
      drop(connection);
    });

    it('an oversized EVENT is dropped; the stream stays usable', async () => {
      const connection = await connect();
      const bi = await connection.openBi();
      const body = encodeRequestBody('item.created', 'y'.repeat(MAX), undefined).bytes;
      await send(bi, encodeFrame(FrameType.EVENT, 0, body), event('item.created', 'small'), request(3, 'sum', [3]));
      await bi.send.finish();
      const received = await readFrames(bi, 10_000);
      expect(summary(received.frames)).toEqual([['RESPONSE', 3, '3']]);
      await eventually(() => observed.events.length === 1, 3000, 'the small event');
      expect(observed.events).toEqual(['small']);
      drop(connection);
    });

    it('a compressed REQUEST that inflates past the limit (zip bomb) gets MESSAGE_TOO_LARGE', async () => {
      const connection = await connect();
      const bi = await connection.openBi();
      const bomb = deflateRawSync(encodeRequestBody('echo', 'z'.repeat(64 * MAX), undefined).bytes, { level: 9 });
      expect(bomb.length).toBeLessThan(MAX);
      await send(bi, encodeFrame(FrameType.REQUEST, 1, bomb, FrameFlag.COMPRESSED), request(2, 'sum', [5, 5]));
      await bi.send.finish();
      const received = await readFrames(bi, 10_000);
      const byId = new Map(received.frames.map(f => [f.id, f]));
      expect(errorValue(byId.get(1)!).code).toBe('MESSAGE_TOO_LARGE');
      expect(summary([byId.get(2)!])).toEqual([['RESPONSE', 2, '10']]);
      drop(connection);
    });

    it('malformed request payloads get ERROR MALFORMED_PAYLOAD; the stream stays usable', async () => {
      const connection = await connect();
      const bi = await connection.openBi();
      const malformed = [
        Buffer.from([0x05, 0x61]), // pattern length past the end
        Buffer.from([0x03, 0x73, 0x75, 0x6d, 0x00, 0x7b]), // data is not JSON
        Buffer.from([0x03, 0x73, 0x75, 0x6d, 0x02, 0x7b, 0x7b]), // metadata is not JSON
        Buffer.from([...Buffer.alloc(8, 0xff), 0x01]), // pattern length varint too long
      ];
      const frames = malformed.map((payload, i) => encodeFrame(FrameType.REQUEST, i + 1, payload));
      frames.push(encodeFrame(FrameType.REQUEST, 5, Buffer.from([0xde, 0xad, 0xbe, 0xef]), FrameFlag.COMPRESSED)); // corrupt deflate
      frames.push(encodeFrame(FrameType.REQUEST, 6, Buffer.from('{"pattern":'), FrameFlag.ENVELOPE)); // envelope not JSON
      frames.push(event('item.created', 'ok')); // a good event...
      frames.push(encodeFrame(FrameType.EVENT, 0, Buffer.from([0x09]))); // ...and a malformed one, dropped
      frames.push(request(7, 'sum', [3, 4]));
      await send(bi, ...frames);
      await bi.send.finish();
      const received = await readFrames(bi, 10_000);
      expect(received.end).toBe('finished');
      const sorted = [...received.frames].sort((a, b) => a.id - b.id);
      expect(sorted.map(f => f.id)).toEqual([1, 2, 3, 4, 5, 6, 7]);
      for (const f of sorted.slice(0, 6)) expect(errorValue(f).code).toBe('MALFORMED_PAYLOAD');
      expect(summary(sorted.slice(6))).toEqual([['RESPONSE', 7, '7']]);
      await eventually(() => observed.events.length === 1, 3000, 'the good event');
      drop(connection);
    });

    it('envelopes of any JSON shape get exactly one final reply', async () => {
      const connection = await connect();
      const bi = await connection.openBi();
      const values = [
        'null',
        '1',
        '"sum"',
        '{}',
        '[]',
        '{"pattern":{"a":1}}',
        '{"pattern":null}',
        '{"pattern":"sum","data":[1,2],"id":99}',
      ];
      await send(bi, ...values.map((v, i) => encodeFrame(FrameType.REQUEST, i + 1, Buffer.from(v), FrameFlag.ENVELOPE)));
      await bi.send.finish();
      const received = await readFrames(bi, 10_000);
      expect(received.end).toBe('finished');
      expect(received.frames.map(f => f.id).sort((a, b) => a - b)).toEqual(values.map((_, i) => i + 1));
      const last = received.frames.find(f => f.id === values.length)!;
      expect(summary([last])).toEqual([['RESPONSE', values.length, '3']]);
      drop(connection);
    });
  });

  it('server heap stays bounded after all of the above', async () => {
    await goodClientWorks();
    const growth = (await heapAfterGc()) - hostile.heapBefore;
    expect(growth).toBeLessThan(48 * 1024 * 1024);
  });
});
