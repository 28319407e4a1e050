/**
 * Payload encoding (src/protocol/payload.ts): JSON and binary values, DEFLATE compression
 * with its size limit, request bodies and GOAWAY payloads.
 */
import { deflateRawSync } from 'zlib';
import {
  ErrorCode,
  FrameFlag,
  decodeGoAway,
  decodeRequestBody,
  decodeValue,
  decompress,
  encodeGoAway,
  encodeRequestBody,
  encodeValue,
  maybeCompress,
} from '../../src/protocol';
import { expectProtocolError } from '../support/expect-protocol-error';

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

  it.each(['{', 'nul', '{"a":}', '\u0000', '[1,2', 'undefined', '\uFFFD'])('refuses malformed JSON %j with MALFORMED_PAYLOAD', text => {
    expectProtocolError(() => decodeValue(Buffer.from(text, 'utf8'), 0), ErrorCode.MALFORMED_PAYLOAD);
  });

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
    ['unicode', 'ü€😀', 'ü€😀', { ü: '€' }],
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
