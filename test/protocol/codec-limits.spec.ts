/**
 * The FrameDecoder against frames it must not deliver (src/protocol/codec.ts): payloads
 * above the message size limit are reported from their header and skipped; invalid headers
 * fail the decoder once and for good.
 */
import { ErrorCode, FrameFlag, FrameType, ProtocolError, encodeFrame, encodeFrameHeader } from '../../src/protocol';
import { collect, stream } from '../support/frame-collector';
import { INVALID_HEADERS } from '../support/invalid-frames';

describe('FrameDecoder', () => {
  describe('oversized frames', () => {
    it('reports the header, skips the payload and decodes what follows', () => {
      const c = collect(10);
      const bytes = stream([
        [FrameType.DATA, 1, Buffer.from('ok')],
        [FrameType.REQUEST, 2, Buffer.alloc(11, 0x11), FrameFlag.BINARY],
        [FrameType.DATA, 3, Buffer.from('after')],
      ]);
      for (let i = 0; i <= bytes.length; i++) {
        const s = collect(10);
        s.decoder.push(bytes.subarray(0, i));
        s.decoder.push(bytes.subarray(i));
        expect(s.events).toEqual([`frame:${FrameType.DATA}:1`, `oversized:${FrameType.REQUEST}:2`, `frame:${FrameType.DATA}:3`]);
        expect(s.oversized).toEqual([{ type: FrameType.REQUEST, flags: FrameFlag.BINARY, id: 2, length: 11 }]);
        expect(s.frames.map(f => f.payload.toString())).toEqual(['ok', 'after']);
        expect(s.errors).toEqual([]);
      }
      c.decoder.push(bytes);
      expect(c.frames).toHaveLength(2);
    });

    it('judges a 4 GiB announcement by its header and never stores the skipped bytes', () => {
      const c = collect(1024 * 1024);
      const length = 4 * 1024 ** 3;
      c.decoder.push(encodeFrameHeader(FrameType.REQUEST, 0, 5, length));
      expect(c.oversized).toEqual([{ type: FrameType.REQUEST, flags: 0, id: 5, length }]);
      const junk = Buffer.alloc(1024 * 1024, 0xab);
      for (let i = 0; i < 8; i++) c.decoder.push(junk);
      const internals = c.decoder as unknown as { payloadParts: Buffer[]; headerRemainder: Buffer | null; current: unknown };
      expect(internals.payloadParts).toEqual([]);
      expect(internals.headerRemainder).toBeNull();
      expect(internals.current).toBeNull();
      expect(c.frames).toEqual([]);
      expect(c.errors).toEqual([]);
      expect(c.decoder.idle).toBe(false);
    });

    it('announces lengths beyond 2^32 correctly', () => {
      const c = collect(100);
      c.decoder.push(encodeFrameHeader(FrameType.EVENT, 0, 0, 2 ** 40 + 3));
      expect(c.oversized).toEqual([{ type: FrameType.EVENT, flags: 0, id: 0, length: 2 ** 40 + 3 }]);
    });
  });

  describe('invalid input', () => {
    const cases: Array<[string, Buffer, ErrorCode]> = [
      ...INVALID_HEADERS,
      ['flags 0xa0', Buffer.from([0x11, 0xa0, 0x01, 0x00]), ErrorCode.UNKNOWN_FRAME],
      ['flag 0x80', Buffer.from([0x11, 0x80, 0x01, 0x00]), ErrorCode.UNKNOWN_FRAME],
      ['length varint of 9 bytes', Buffer.from([0x11, 0x00, 0x01, ...Buffer.alloc(8, 0x80), 0x00]), ErrorCode.PROTOCOL_ERROR],
      ['an HTTP request', Buffer.from('GET / HTTP/1.1\r\n\r\n'), ErrorCode.UNSUPPORTED_VERSION],
      ['an SSH banner', Buffer.from('SSH-2.0-OpenSSH_9.2\r\n'), ErrorCode.UNSUPPORTED_VERSION],
    ];

    it.each(cases)('%s: onError once, then nothing at all', (_name, bad, code) => {
      const good = encodeFrame(FrameType.DATA, 1, Buffer.from('good'));
      const c = collect();
      c.decoder.push(Buffer.concat([good, bad, good, bad]));
      c.decoder.push(good);
      c.decoder.push(encodeFrameHeader(FrameType.DATA, 0, 1, 1 << 30));
      expect(c.events).toEqual([`frame:${FrameType.DATA}:1`, `error:${code}`]);
      expect(c.errors[0]).toBeInstanceOf(ProtocolError);
      expect(c.decoder.failed).toBe(true);
    });

    it.each(cases)('%s: same outcome when fed one byte at a time', (_name, bad, code) => {
      const c = collect();
      for (const b of Buffer.concat([bad, encodeFrame(FrameType.END, 1)])) c.decoder.push(Buffer.from([b]));
      expect(c.events).toEqual([`error:${code}`]);
    });

    it('fails on a bad frame that follows a payload split across chunks', () => {
      const first = encodeFrame(FrameType.DATA, 1, Buffer.alloc(100, 3));
      const c = collect();
      c.decoder.push(first.subarray(0, 50));
      c.decoder.push(Buffer.concat([first.subarray(50), Buffer.from([0x31, 0x00])]));
      expect(c.events).toEqual([`frame:${FrameType.DATA}:1`, `error:${ErrorCode.UNSUPPORTED_VERSION}`]);
    });

    it('fails in the middle of a skipped payload only once the skip is over', () => {
      const c = collect(4);
      c.decoder.push(Buffer.concat([encodeFrame(FrameType.EVENT, 0, Buffer.alloc(5, 0xff)), Buffer.from([0xff, 0xff])]));
      expect(c.events).toEqual([`oversized:${FrameType.EVENT}:0`, `error:${ErrorCode.UNSUPPORTED_VERSION}`]);
    });
  });
});
