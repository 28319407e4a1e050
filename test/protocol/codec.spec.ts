import { deflateRawSync } from 'zlib';
import {
  DEFAULT_FRAME_WRITER_OPTIONS,
  DEFAULT_MAX_MESSAGE_SIZE,
  ErrorCode,
  Frame,
  FrameDecoder,
  FrameFlag,
  FrameSink,
  FrameType,
  FrameWriter,
  MAX_FRAME_HEADER_SIZE,
  MAX_VARINT_BYTES,
  OversizedFrame,
  PROTOCOL_VERSION,
  ProtocolError,
  decodeGoAway,
  decodeReplyMessage,
  decodeRequestBody,
  decodeRequestMessage,
  decodeValue,
  decompress,
  encodeEnvelope,
  encodeFrame,
  encodeFrameHeader,
  encodeGoAway,
  encodeReplyMessage,
  encodeRequestBody,
  encodeRequestMessage,
  encodeValue,
  frameTypeName,
  isFinalReply,
  isKnownFrameType,
  maybeCompress,
  readVarint,
  replyFrameType,
  varintSize,
  writeVarint,
} from '../../src/protocol';
import { INVALID_HEADERS } from '../support/invalid-frames';

// ---------------------------------------------------------------- helpers

interface Collected {
  decoder: FrameDecoder;
  frames: Frame[];
  oversized: OversizedFrame[];
  errors: ProtocolError[];
  /** Every callback in the order it happened. */
  events: string[];
}

function collect(maxMessageSize = DEFAULT_MAX_MESSAGE_SIZE): Collected {
  const c = { frames: [], oversized: [], errors: [], events: [] } as unknown as Collected;
  c.decoder = new FrameDecoder(maxMessageSize, {
    onFrame: f => {
      // Copy: the payload may share memory with the pushed chunk.
      c.frames.push({ ...f, payload: Buffer.from(f.payload) });
      c.events.push(`frame:${f.type}:${f.id}`);
    },
    onOversized: f => {
      c.oversized.push(f);
      c.events.push(`oversized:${f.type}:${f.id}`);
    },
    onError: e => {
      c.errors.push(e);
      c.events.push(`error:${e.code}`);
    },
  });
  return c;
}

/** The bytes of `frames`, back to back. */
function stream(frames: Array<[FrameType, number, Buffer, number?]>): Buffer {
  return Buffer.concat(frames.map(([type, id, payload, flags]) => encodeFrame(type, id, payload, flags ?? 0)));
}

function plain(frames: Frame[]) {
  return frames.map(f => ({ type: f.type, flags: f.flags, id: f.id, payload: f.payload.toString('hex') }));
}

function expectProtocolError(fn: () => unknown, code: ErrorCode): ProtocolError {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(ProtocolError);
  expect((thrown as ProtocolError).code).toBe(code);
  return thrown as ProtocolError;
}

const SAMPLE: Array<[FrameType, number, Buffer, number?]> = [
  [FrameType.REQUEST, 1, Buffer.from('hello')],
  [FrameType.END, 1, Buffer.alloc(0)],
  [FrameType.DATA, 300, Buffer.alloc(200, 7), FrameFlag.BINARY],
  [FrameType.PING, 0, Buffer.alloc(0)],
  [FrameType.RESPONSE, 2 ** 31 - 1, Buffer.from('{"a":1}'), FrameFlag.COMPRESSED | FrameFlag.ENVELOPE],
  [FrameType.GOAWAY, 0, encodeGoAway(ErrorCode.GOING_AWAY, 'bye')],
];

// ---------------------------------------------------------------- varint

describe('varint', () => {
  const values = [
    0, 1, 127, 128, 255, 300, 16383, 16384, 2 ** 21 - 1, 2 ** 21, 2 ** 28, 2 ** 31 - 1, 2 ** 32, 2 ** 35, 2 ** 49 - 1,
    2 ** 49, Number.MAX_SAFE_INTEGER,
  ];

  it.each(values)('round-trips %d with the size varintSize predicts', value => {
    const buf = Buffer.alloc(MAX_VARINT_BYTES + 2, 0xee);
    const end = writeVarint(buf, 1, value);
    expect(end - 1).toBe(varintSize(value));
    const cursor = { value: -1, offset: 1 };
    expect(readVarint(buf, end, cursor)).toBe(true);
    expect(cursor).toEqual({ value, offset: end });
    expect(buf[end]).toBe(0xee); // wrote nothing past its size
  });

  it('uses LEB128 (7 bits per byte, low group first)', () => {
    const enc = (v: number) => [...buf(v)];
    const buf = (v: number) => {
      const b = Buffer.alloc(varintSize(v));
      writeVarint(b, 0, v);
      return b;
    };
    expect(enc(0)).toEqual([0x00]);
    expect(enc(127)).toEqual([0x7f]);
    expect(enc(128)).toEqual([0x80, 0x01]);
    expect(enc(300)).toEqual([0xac, 0x02]);
    expect(enc(Number.MAX_SAFE_INTEGER)).toHaveLength(MAX_VARINT_BYTES);
  });

  it('asks for more bytes when the varint is incomplete, without moving the cursor', () => {
    const bytes = Buffer.from([0x80, 0x80, 0x01]);
    for (let end = 0; end < bytes.length; end++) {
      const cursor = { value: 42, offset: 0 };
      expect(readVarint(bytes, end, cursor)).toBe(false);
      expect(cursor).toEqual({ value: 42, offset: 0 });
    }
    const cursor = { value: 0, offset: 0 };
    expect(readVarint(bytes, 3, cursor)).toBe(true);
    expect(cursor).toEqual({ value: 16384, offset: 3 });
  });

  it('refuses varints longer than 8 bytes, even before the 9th byte arrives', () => {
    const eight = Buffer.alloc(8, 0x80);
    expect(() => readVarint(eight, 8, { value: 0, offset: 0 })).toThrow(RangeError);
    const nine = Buffer.from([...eight, 0x01]);
    expect(() => readVarint(nine, 9, { value: 0, offset: 0 })).toThrow(RangeError);
    // Seven continuation bytes and an end byte are still a valid 8-byte varint.
    const ok = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f]);
    const cursor = { value: 0, offset: 0 };
    expect(readVarint(ok, 8, cursor)).toBe(true);
    expect(cursor.value).toBe(Number.MAX_SAFE_INTEGER);
  });
});

// ---------------------------------------------------------------- frames

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

// ---------------------------------------------------------------- decoder

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
    const frames: Array<[FrameType, number, Buffer, number?]> = [];
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
      ['flag 0x10', Buffer.from([0x11, 0x10, 0x01, 0x00]), ErrorCode.UNKNOWN_FRAME],
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

// ---------------------------------------------------------------- payload

describe('encodeValue / decodeValue', () => {
  it('sends undefined as the empty payload and decodes it back', () => {
    expect(encodeValue(undefined)).toEqual({ bytes: Buffer.alloc(0), flags: FrameFlag.NONE });
    expect(decodeValue(Buffer.alloc(0), 0)).toBeUndefined();
  });

  it('sends functions and symbols as undefined (what JSON.stringify does)', () => {
    expect(encodeValue(() => 1).bytes.length).toBe(0);
    expect(encodeValue(Symbol('x')).bytes.length).toBe(0);
  });

  it('sends Buffers as raw bytes with the BINARY flag, and they come back as Buffers', () => {
    const buf = Buffer.from([0, 1, 254, 255]);
    const enc = encodeValue(buf);
    expect(enc.flags).toBe(FrameFlag.BINARY);
    expect(enc.bytes).toBe(buf);
    const back = decodeValue(enc.bytes, enc.flags);
    expect(Buffer.isBuffer(back)).toBe(true);
    expect(back).toEqual(buf);
    // An empty Buffer stays a Buffer, not undefined.
    expect(decodeValue(Buffer.alloc(0), FrameFlag.BINARY)).toEqual(Buffer.alloc(0));
  });

  it('sends Uint8Array views without copying their neighbours', () => {
    const backing = new Uint8Array([9, 9, 1, 2, 3, 9]);
    const view = backing.subarray(2, 5);
    const enc = encodeValue(view);
    expect(enc.flags).toBe(FrameFlag.BINARY);
    expect([...enc.bytes]).toEqual([1, 2, 3]);
  });

  it.each([null, 0, -1.5, 'text ü€😀', true, [], {}, { a: [1, { b: null }] }])('round-trips JSON %p', value => {
    const enc = encodeValue(value);
    expect(enc.flags).toBe(FrameFlag.NONE);
    expect(decodeValue(enc.bytes, enc.flags)).toEqual(value);
  });

  it.each(['{', 'nul', '{"a":}', '\u0000', '[1,2', 'undefined', '\uFFFD'])(
    'refuses malformed JSON %j with MALFORMED_PAYLOAD',
    text => {
      expectProtocolError(() => decodeValue(Buffer.from(text, 'utf8'), 0), ErrorCode.MALFORMED_PAYLOAD);
    },
  );

  it('refuses invalid UTF-8 that is not JSON with MALFORMED_PAYLOAD', () => {
    expectProtocolError(() => decodeValue(Buffer.from([0xff, 0xfe, 0x80]), 0), ErrorCode.MALFORMED_PAYLOAD);
  });

  it('does not let "__proto__" keys pollute prototypes', () => {
    const value = decodeValue(Buffer.from('{"__proto__":{"polluted":1},"constructor":{"prototype":{"p":1}}}'), 0) as any;
    expect(({} as any).polluted).toBeUndefined();
    expect(({} as any).p).toBeUndefined();
    expect(Object.prototype.hasOwnProperty.call(value, '__proto__')).toBe(true);
  });
});

describe('compression', () => {
  const compressible = Buffer.from(JSON.stringify({ rows: Array.from({ length: 200 }, (_, i) => ({ id: i, ok: true })) }));

  it('compresses at or above the threshold when it saves space, and round-trips', () => {
    const enc = maybeCompress({ bytes: compressible, flags: FrameFlag.BINARY }, 1024);
    expect(enc.flags).toBe(FrameFlag.BINARY | FrameFlag.COMPRESSED);
    expect(enc.bytes.length).toBeLessThan(compressible.length / 2);
    expect(decompress(enc.bytes, enc.flags, compressible.length)).toEqual(compressible);
  });

  it('leaves small, incompressible or threshold-0 payloads alone', () => {
    const small = { bytes: Buffer.alloc(1023), flags: 0 };
    expect(maybeCompress(small, 1024)).toBe(small);
    const random = { bytes: Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 2654435761) >>> 24)), flags: 0 };
    // That sequence is not random enough for DEFLATE to fail; use real noise.
    for (let i = 0; i < random.bytes.length; i++) random.bytes[i] = Math.floor(Math.random() * 256);
    expect(maybeCompress(random, 1024)).toBe(random);
    const big = { bytes: compressible, flags: 0 };
    expect(maybeCompress(big, 0)).toBe(big);
  });

  it('passes uncompressed payloads through decompress untouched', () => {
    const bytes = Buffer.from('abc');
    expect(decompress(bytes, FrameFlag.BINARY, 1)).toBe(bytes);
  });

  it('accepts output of exactly maxSize and refuses one byte more', () => {
    const packed = deflateRawSync(Buffer.alloc(1000, 5));
    expect(decompress(packed, FrameFlag.COMPRESSED, 1000)).toEqual(Buffer.alloc(1000, 5));
    expectProtocolError(() => decompress(packed, FrameFlag.COMPRESSED, 999), ErrorCode.MESSAGE_TOO_LARGE);
  });

  it('refuses a zip bomb without inflating it', () => {
    // 64 MiB of zeros in ~64 KiB of DEFLATE.
    const bomb = deflateRawSync(Buffer.alloc(64 * 1024 * 1024), { level: 9 });
    expect(bomb.length).toBeLessThan(128 * 1024);
    const before = process.memoryUsage().arrayBuffers;
    const started = Date.now();
    const err = expectProtocolError(() => decompress(bomb, FrameFlag.COMPRESSED, 1024 * 1024), ErrorCode.MESSAGE_TOO_LARGE);
    expect(err.message).toMatch(/maximum message size of 1048576/);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(32 * 1024 * 1024);
  });

  it.each([
    ['garbage', Buffer.from([0xff, 0xff, 0xff, 0xff])],
    ['an empty payload', Buffer.alloc(0)],
    ['a truncated stream', deflateRawSync(Buffer.alloc(5000, 1)).subarray(0, 5)],
  ])('refuses %s flagged COMPRESSED with MALFORMED_PAYLOAD', (_name, bytes) => {
    expectProtocolError(() => decompress(bytes, FrameFlag.COMPRESSED, 1 << 20), ErrorCode.MALFORMED_PAYLOAD);
  });
});

describe('request bodies', () => {
  it('lays out varint pattern length, pattern, varint metadata length, metadata, data', () => {
    const enc = encodeRequestBody('sum', [1, 2], undefined);
    expect(enc.flags).toBe(0);
    expect(enc.bytes.toString('latin1')).toBe('\x03sum\x00[1,2]');
    const withMeta = encodeRequestBody('p', 'd', { t: 1 });
    expect(withMeta.bytes.toString('latin1')).toBe('\x01p\x07{"t":1}"d"');
  });

  it.each<[string, string, unknown, unknown]>([
    ['simple', 'sum', [1, 2, 3], undefined],
    ['object pattern text', '{"cmd":"sum","v":2}', { a: 1 }, { trace: 'x' }],
    ['unicode', 'ü€😀', 'ü€😀', { 'ü': '€' }],
    ['empty pattern and no data', '', undefined, undefined],
    ['null data and metadata', 'x', null, null],
    ['long pattern', 'p'.repeat(300), 1, undefined],
  ])('round-trips %s', (_name, pattern, data, metadata) => {
    const enc = encodeRequestBody(pattern, data, metadata);
    const body = decodeRequestBody(enc.bytes, enc.flags);
    expect(body).toEqual({ pattern, data, metadata: metadata === null ? null : metadata });
  });

  it('carries Buffer data as BINARY', () => {
    const data = Buffer.from([1, 2, 3, 0]);
    const enc = encodeRequestBody('bin', data, { m: 1 });
    expect(enc.flags).toBe(FrameFlag.BINARY);
    const body = decodeRequestBody(enc.bytes, enc.flags);
    expect(body.pattern).toBe('bin');
    expect(body.metadata).toEqual({ m: 1 });
    expect(Buffer.isBuffer(body.data)).toBe(true);
    expect(body.data).toEqual(data);
  });

  it('refuses every truncation that cuts the pattern, the metadata or the data', () => {
    const enc = encodeRequestBody('pattern', { key: 'value' }, { meta: true });
    const metaEnd = 1 + 'pattern'.length + 1 + '{"meta":true}'.length;
    for (let n = 0; n < enc.bytes.length; n++) {
      const prefix = enc.bytes.subarray(0, n);
      if (n === metaEnd) {
        // Exactly the head: a request without data, which is valid.
        expect(decodeRequestBody(prefix, 0)).toEqual({ pattern: 'pattern', metadata: { meta: true }, data: undefined });
      } else {
        expectProtocolError(() => decodeRequestBody(prefix, 0), ErrorCode.MALFORMED_PAYLOAD);
      }
    }
  });

  it.each([
    ['pattern length past the end', Buffer.from([0x05, 0x61])],
    ['huge pattern length', Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x61])],
    ['pattern length varint of 9 bytes', Buffer.from([...Buffer.alloc(8, 0x80), 0x01])],
    ['metadata length past the end', Buffer.from([0x01, 0x61, 0x09, 0x7b])],
    ['metadata length varint too long', Buffer.from([0x01, 0x61, ...Buffer.alloc(8, 0xff)])],
    ['metadata not JSON', Buffer.from([0x01, 0x61, 0x01, 0x7b])],
    ['data not JSON', Buffer.from([0x01, 0x61, 0x00, 0x7b])],
  ])('refuses %s with MALFORMED_PAYLOAD', (_name, bytes) => {
    expectProtocolError(() => decodeRequestBody(bytes, 0), ErrorCode.MALFORMED_PAYLOAD);
  });

  it('decodes requests through decodeRequestMessage, compressed or as envelopes', () => {
    const data = { rows: Array.from({ length: 300 }, (_, i) => i) };
    const enc = encodeRequestMessage('big', data, { m: 1 }, 64);
    expect(enc.flags & FrameFlag.COMPRESSED).toBe(FrameFlag.COMPRESSED);
    const frame: Frame = { type: FrameType.REQUEST, flags: enc.flags, id: 1, payload: enc.bytes };
    expect(decodeRequestMessage(frame, 1 << 20)).toEqual({ envelope: false, body: { pattern: 'big', data, metadata: { m: 1 } } });
    // The decompressed size counts against the limit, not the wire size.
    expectProtocolError(() => decodeRequestMessage(frame, 100), ErrorCode.MESSAGE_TOO_LARGE);

    const env = encodeEnvelope({ pattern: 'x', data: 1 }, 0);
    expect(env.flags).toBe(FrameFlag.ENVELOPE);
    expect(decodeRequestMessage({ type: FrameType.REQUEST, flags: env.flags, id: 1, payload: env.bytes }, 1 << 20)).toEqual({
      envelope: true,
      value: { pattern: 'x', data: 1 },
    });
  });
});

describe('replies', () => {
  it('picks the frame type Nest reply messages map to', () => {
    expect(replyFrameType({ err: 'x', isDisposed: true })).toBe(FrameType.ERROR);
    expect(replyFrameType({ err: undefined })).toBe(FrameType.ERROR);
    expect(replyFrameType({ response: 1, isDisposed: true })).toBe(FrameType.RESPONSE);
    expect(replyFrameType({ response: undefined, isDisposed: true })).toBe(FrameType.END);
    expect(replyFrameType({ response: 1 })).toBe(FrameType.DATA);
    expect([FrameType.RESPONSE, FrameType.END, FrameType.ERROR].every(isFinalReply)).toBe(true);
    expect([FrameType.DATA, FrameType.REQUEST, FrameType.PING].some(isFinalReply)).toBe(false);
  });

  it('round-trips reply messages', () => {
    const messages = [
      { response: { a: 1 }, isDisposed: true },
      { response: 2 },
      { err: { code: 'E' }, isDisposed: true },
      { isDisposed: true },
    ];
    for (const message of messages) {
      const enc = encodeReplyMessage(message, 1024);
      const frame: Frame = { type: replyFrameType(message), flags: enc.flags, id: 1, payload: enc.bytes };
      expect(decodeReplyMessage(frame, 1 << 20)).toEqual(message);
    }
  });

  it('refuses malformed reply payloads with a ProtocolError', () => {
    const frame: Frame = { type: FrameType.RESPONSE, flags: 0, id: 1, payload: Buffer.from('{') };
    expectProtocolError(() => decodeReplyMessage(frame, 100), ErrorCode.MALFORMED_PAYLOAD);
  });
});

describe('GOAWAY payloads', () => {
  it.each([
    [ErrorCode.NO_ERROR, ''],
    [ErrorCode.PROTOCOL_ERROR, 'unknown frame type 11'],
    [ErrorCode.GOING_AWAY, 'server shutting down ü€'],
    [300, 'a code beyond one varint byte'],
  ])('round-trips code %d and reason %p', (code, reason) => {
    expect(decodeGoAway(encodeGoAway(code, reason))).toEqual({ code, reason });
  });

  it.each([
    ['empty', Buffer.alloc(0)],
    ['truncated varint', Buffer.from([0x80])],
    ['9-byte varint', Buffer.alloc(9, 0x80)],
  ])('reads a %s payload as PROTOCOL_ERROR without throwing', (_name, bytes) => {
    expect(decodeGoAway(bytes)).toEqual({ code: ErrorCode.PROTOCOL_ERROR, reason: '' });
  });
});

// ---------------------------------------------------------------- writer

describe('FrameWriter', () => {
  function recordingSink() {
    const calls: Array<{ parts: Buffer[]; total: number }> = [];
    let gate: Promise<void> = Promise.resolve();
    const sink: FrameSink = async (parts, total) => {
      calls.push({ parts, total });
      await gate;
    };
    return {
      calls,
      sink,
      hold(): () => void {
        let release!: () => void;
        gate = new Promise(r => (release = r));
        return () => {
          gate = Promise.resolve();
          release();
        };
      },
    };
  }

  function decodeAll(calls: Array<{ parts: Buffer[]; total: number }>): Frame[] {
    const c = collect();
    for (const call of calls) {
      const bytes = Buffer.concat(call.parts);
      expect(bytes.length).toBe(call.total);
      c.decoder.push(bytes);
    }
    expect(c.errors).toEqual([]);
    return c.frames;
  }

  it('batches every write of one tick into one sink call, in order (burst splitting off)', async () => {
    const rec = recordingSink();
    const errors: Error[] = [];
    const writer = new FrameWriter(rec.sink, e => errors.push(e), { ...DEFAULT_FRAME_WRITER_OPTIONS, splitBurstBytes: 0 });
    for (let i = 1; i <= 1000; i++) {
      expect(writer.write(FrameType.DATA, i, i % 3 === 0 ? null : Buffer.from(`v${i}`), i % 2 ? FrameFlag.BINARY : 0)).toBe(true);
    }
    expect(writer.pendingBytes).toBeGreaterThan(0);
    expect(rec.calls).toHaveLength(0); // nothing is written synchronously
    await writer.flushed();
    expect(rec.calls).toHaveLength(1);
    expect(writer.pendingBytes).toBe(0);
    const frames = decodeAll(rec.calls);
    expect(frames.map(f => f.id)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    expect(frames[2].payload.length).toBe(0);
    expect(frames[0].payload.toString()).toBe('v1');
    expect(frames[0].flags).toBe(FrameFlag.BINARY);
    expect(errors).toEqual([]);
  });

  it('sends a burst queued while idle as two writes by default (so both sides pipeline), in order', async () => {
    const rec = recordingSink();
    const writer = new FrameWriter(rec.sink, () => undefined);
    for (let i = 1; i <= 1000; i++) writer.write(FrameType.DATA, i, Buffer.from(`v${i}`));
    await writer.flushed();
    expect(rec.calls).toHaveLength(2);
    expect(Math.abs(rec.calls[0].total - rec.calls[1].total)).toBeLessThan(64);
    expect(decodeAll(rec.calls).map(f => f.id)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    // A small burst is not split.
    const small = recordingSink();
    const w2 = new FrameWriter(small.sink, () => undefined);
    for (let i = 1; i <= 10; i++) w2.write(FrameType.PONG, i, null);
    await w2.flushed();
    expect(small.calls).toHaveLength(1);
  });

  it('queues writes made while a batch is in flight into the next single call', async () => {
    const rec = recordingSink();
    const writer = new FrameWriter(rec.sink, () => undefined);
    const release = rec.hold();
    writer.write(FrameType.DATA, 1, Buffer.from('a'));
    await new Promise(r => setImmediate(r));
    expect(rec.calls).toHaveLength(1);
    for (let i = 2; i <= 50; i++) writer.write(FrameType.DATA, i, Buffer.from('b'));
    await new Promise(r => setImmediate(r));
    expect(rec.calls).toHaveLength(1); // still waiting for the first
    let flushed = false;
    const done = writer.flushed().then(() => (flushed = true));
    await new Promise(r => setImmediate(r));
    expect(flushed).toBe(false);
    release();
    await done;
    expect(rec.calls).toHaveLength(2);
    expect(decodeAll(rec.calls).map(f => f.id)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
  });

  it('resolves flushed() at once when nothing is queued', async () => {
    const rec = recordingSink();
    const writer = new FrameWriter(rec.sink, () => undefined);
    await expect(writer.flushed()).resolves.toBeUndefined();
    expect(rec.calls).toHaveLength(0);
  });

  it('resolves flushed() only after the sink accepted the bytes', async () => {
    const rec = recordingSink();
    const writer = new FrameWriter(rec.sink, () => undefined);
    const release = rec.hold();
    writer.write(FrameType.PING, 1, null);
    let flushed = false;
    const done = writer.flushed().then(() => (flushed = true));
    await new Promise(r => setTimeout(r, 20));
    expect(rec.calls).toHaveLength(1);
    expect(flushed).toBe(false);
    release();
    await done;
  });

  it('rejects flushed(), reports once and refuses further writes when the sink fails', async () => {
    const failure = new Error('stream reset by peer');
    let calls = 0;
    const errors: Error[] = [];
    const writer = new FrameWriter(async () => {
      calls++;
      throw failure;
    }, e => errors.push(e));
    writer.write(FrameType.DATA, 1, Buffer.from('x'));
    const first = writer.flushed();
    writer.write(FrameType.DATA, 2, Buffer.from('y'));
    await expect(first).rejects.toBe(failure);
    expect(errors).toEqual([failure]);
    expect(writer.isClosed).toBe(true);
    expect(writer.write(FrameType.DATA, 3, Buffer.from('z'))).toBe(false);
    await expect(writer.flushed()).rejects.toBe(failure);
    await new Promise(r => setTimeout(r, 10));
    expect(calls).toBe(1);
    expect(errors).toHaveLength(1);
    expect(writer.pendingBytes).toBe(0);
  });

  it('wraps non-Error sink failures and survives a sink that throws synchronously', async () => {
    const errors: Error[] = [];
    const writer = new FrameWriter((() => {
      throw 'plain string';
    }) as unknown as FrameSink, e => errors.push(e));
    writer.write(FrameType.DATA, 1, null);
    await expect(writer.flushed()).rejects.toThrow('plain string');
    expect(errors[0]).toBeInstanceOf(Error);
  });

  it('caps each batch at maxBatchBytes (a larger single part goes alone) and keeps the order', async () => {
    const rec = recordingSink();
    const writer = new FrameWriter(rec.sink, () => undefined, { maxBatchBytes: 100, splitBurstBytes: 0, schedule: f => setImmediate(f) });
    for (let i = 1; i <= 40; i++) writer.write(FrameType.DATA, i, Buffer.alloc(i === 20 ? 500 : 30, i));
    await writer.flushed();
    expect(rec.calls.length).toBeGreaterThan(10);
    for (const call of rec.calls) {
      const bigPart = call.parts.some(p => p.length > 100);
      expect(call.total <= 100 || (bigPart && call.parts.length === 1)).toBe(true);
    }
    const frames = decodeAll(rec.calls);
    expect(frames.map(f => f.id)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(frames.every(f => f.payload.every(b => b === f.id))).toBe(true);
  });

  it('drainedBelow() resolves once the queue is small enough', async () => {
    const rec = recordingSink();
    const writer = new FrameWriter(rec.sink, () => undefined, { maxBatchBytes: 1000, splitBurstBytes: 0, schedule: f => setImmediate(f) });
    const release = rec.hold();
    for (let i = 1; i <= 10; i++) writer.write(FrameType.DATA, i, Buffer.alloc(996));
    let drained = false;
    const done = writer.drainedBelow(3000).then(() => (drained = true));
    await new Promise(r => setTimeout(r, 20));
    expect(drained).toBe(false);
    release();
    await done;
    expect(writer.pendingBytes).toBeLessThanOrEqual(3000);
    await expect(writer.drainedBelow(1 << 30)).resolves.toBeUndefined();
    await writer.flushed();
  });

  it('after close() refuses new frames but still writes what was queued', async () => {
    const rec = recordingSink();
    const writer = new FrameWriter(rec.sink, () => undefined);
    writer.write(FrameType.DATA, 1, Buffer.from('queued'));
    writer.close();
    expect(writer.isClosed).toBe(true);
    expect(writer.write(FrameType.DATA, 2, Buffer.from('late'))).toBe(false);
    await writer.flushed();
    expect(decodeAll(rec.calls).map(f => f.payload.toString())).toEqual(['queued']);
  });
});
