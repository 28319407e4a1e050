/**
 * Frame encoding and the incremental FrameDecoder on well-formed input
 * (src/protocol/codec.ts; frame type names from src/protocol/frames.ts). Oversized and
 * invalid input: codec-limits.spec.ts.
 */
import {
  ErrorCode,
  FrameFlag,
  FrameType,
  MAX_FRAME_HEADER_SIZE,
  PROTOCOL_VERSION,
  encodeFrame,
  encodeFrameHeader,
  encodeGoAway,
  frameTypeName,
  isKnownFrameType,
} from '../../src/protocol';
import { FrameSpec, collect, plain, stream } from '../support/frame-collector';

const SAMPLE: FrameSpec[] = [
  [FrameType.REQUEST, 1, Buffer.from('hello')],
  [FrameType.END, 1, Buffer.alloc(0)],
  [FrameType.DATA, 300, Buffer.alloc(200, 7), FrameFlag.BINARY],
  [FrameType.PING, 0, Buffer.alloc(0)],
  [FrameType.RESPONSE, 2 ** 31 - 1, Buffer.from('{"a":1}'), FrameFlag.COMPRESSED | FrameFlag.ENVELOPE],
  [FrameType.GOAWAY, 0, encodeGoAway(ErrorCode.GOING_AWAY, 'bye')],
];

describe('encodeFrame / encodeFrameHeader', () => {
  it('lays out version|type, flags, varint id, varint length, payload', () => {
    const frame = encodeFrame(FrameType.REQUEST, 300, Buffer.from('abc'), FrameFlag.COMPRESSED);
    expect([...frame]).toEqual([0x11, 0x01, 0xac, 0x02, 0x03, 0x61, 0x62, 0x63]);
    expect(frame[0] >> 4).toBe(PROTOCOL_VERSION);
  });

  it('encodes an empty payload as the header alone', () => {
    expect([...encodeFrame(FrameType.END, 5)]).toEqual([0x14, 0x00, 0x05, 0x00]);
    expect([...encodeFrame(FrameType.GOAWAY, 0, Buffer.alloc(0))]).toEqual([0x1a, 0x00, 0x00, 0x00]);
  });

  it('never produces a header longer than MAX_FRAME_HEADER_SIZE', () => {
    const header = encodeFrameHeader(FrameType.DATA, FrameFlag.BINARY, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
    expect(header.length).toBe(MAX_FRAME_HEADER_SIZE);
    expect(encodeFrameHeader(FrameType.DATA, 0, 0, 0).length).toBe(4);
  });

  it('names and recognises frame types', () => {
    for (let t = 0; t < 16; t++) expect(isKnownFrameType(t)).toBe(t >= 1 && t <= 10);
    expect(frameTypeName(FrameType.GOAWAY)).toBe('GOAWAY');
    expect(frameTypeName(14)).toBe('UNKNOWN(14)');
  });
});

describe('FrameDecoder', () => {
  it('decodes one frame, keeping type, flags, id and payload', () => {
    const c = collect();
    c.decoder.push(encodeFrame(FrameType.REQUEST, 7, Buffer.from('xyz'), FrameFlag.BINARY));
    expect(plain(c.frames)).toEqual([
      { type: FrameType.REQUEST, flags: FrameFlag.BINARY, id: 7, payload: Buffer.from('xyz').toString('hex') },
    ]);
    expect(c.errors).toEqual([]);
    expect(c.decoder.idle).toBe(true);
  });

  it('decodes many frames from one chunk, in order', () => {
    const frames: FrameSpec[] = [];
    for (let i = 0; i < 500; i++) {
      frames.push([FrameType.DATA, i + 1, Buffer.alloc(i % 37, i & 0xff)]);
      if (i % 5 === 0) frames.push([FrameType.END, i + 1, Buffer.alloc(0)]);
    }
    const c = collect();
    c.decoder.push(stream(frames));
    expect(c.frames).toHaveLength(frames.length);
    expect(plain(c.frames)).toEqual(
      frames.map(([type, id, payload, flags]) => ({ type, id, flags: flags ?? 0, payload: payload.toString('hex') })),
    );
    expect(c.decoder.idle).toBe(true);
  });

  it('decodes the same frames whichever byte boundary the stream is split at', () => {
    const bytes = stream(SAMPLE);
    const whole = collect();
    whole.decoder.push(bytes);
    expect(whole.frames).toHaveLength(SAMPLE.length);
    for (let i = 0; i <= bytes.length; i++) {
      const c = collect();
      c.decoder.push(bytes.subarray(0, i));
      c.decoder.push(bytes.subarray(i));
      expect(plain(c.frames)).toEqual(plain(whole.frames));
      expect(c.errors).toEqual([]);
      expect(c.decoder.idle).toBe(true);
    }
  });

  it('decodes the same frames from any three-way split and from single bytes', () => {
    const bytes = stream(SAMPLE.filter(([, , p]) => p.length < 100));
    const whole = collect();
    whole.decoder.push(bytes);
    for (let i = 0; i <= bytes.length; i++) {
      for (let j = i; j <= bytes.length; j++) {
        const c = collect();
        c.decoder.push(bytes.subarray(0, i));
        c.decoder.push(bytes.subarray(i, j));
        c.decoder.push(bytes.subarray(j));
        expect(plain(c.frames)).toEqual(plain(whole.frames));
      }
    }
    const single = collect();
    for (const b of bytes) single.decoder.push(Buffer.from([b]));
    expect(plain(single.frames)).toEqual(plain(whole.frames));
  });

  it('handles a header split at every byte when id and length are 8-byte varints', () => {
    const max = Number.MAX_SAFE_INTEGER;
    const header = encodeFrameHeader(FrameType.DATA, 0, max, 3);
    const bytes = Buffer.concat([header, Buffer.from('abc'), encodeFrame(FrameType.END, max)]);
    for (let i = 0; i <= bytes.length; i++) {
      const c = collect();
      c.decoder.push(bytes.subarray(0, i));
      c.decoder.push(bytes.subarray(i));
      expect(c.errors).toEqual([]);
      expect(c.frames.map(f => [f.type, f.id, f.payload.toString()])).toEqual([
        [FrameType.DATA, max, 'abc'],
        [FrameType.END, max, ''],
      ]);
    }
  });

  it('delivers zero-length payloads, including at the very end of a chunk', () => {
    const c = collect();
    c.decoder.push(encodeFrame(FrameType.END, 1));
    c.decoder.push(Buffer.concat([encodeFrame(FrameType.PING, 9), encodeFrame(FrameType.PONG, 9)]));
    expect(c.frames.map(f => [f.type, f.id, f.payload.length])).toEqual([
      [FrameType.END, 1, 0],
      [FrameType.PING, 9, 0],
      [FrameType.PONG, 9, 0],
    ]);
  });

  it('accepts a payload of exactly maxMessageSize', () => {
    const c = collect(16);
    c.decoder.push(encodeFrame(FrameType.REQUEST, 1, Buffer.alloc(16, 1)));
    expect(c.frames).toHaveLength(1);
    expect(c.oversized).toEqual([]);
  });

  it('reports idle only between frames', () => {
    const c = collect();
    const bytes = encodeFrame(FrameType.DATA, 1, Buffer.alloc(10));
    expect(c.decoder.idle).toBe(true);
    c.decoder.push(bytes.subarray(0, 1));
    expect(c.decoder.idle).toBe(false);
    c.decoder.push(bytes.subarray(1, 6));
    expect(c.decoder.idle).toBe(false);
    c.decoder.push(bytes.subarray(6));
    expect(c.decoder.idle).toBe(true);
  });

  it('ignores empty chunks', () => {
    const c = collect();
    c.decoder.push(Buffer.alloc(0));
    const bytes = encodeFrame(FrameType.DATA, 1, Buffer.from('x'));
    c.decoder.push(bytes.subarray(0, 2));
    c.decoder.push(Buffer.alloc(0));
    c.decoder.push(bytes.subarray(2));
    expect(c.frames).toHaveLength(1);
  });
});
