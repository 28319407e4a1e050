/** The LEB128 varints of frame headers and request bodies (src/protocol/varint.ts). */
import { MAX_VARINT_BYTES, readVarint, varintSize, writeVarint } from '../../src/protocol';

describe('varint', () => {
  const values = [
    0,
    1,
    127,
    128,
    255,
    300,
    16383,
    16384,
    2 ** 21 - 1,
    2 ** 21,
    2 ** 28,
    2 ** 31 - 1,
    2 ** 32,
    2 ** 35,
    2 ** 49 - 1,
    2 ** 49,
    Number.MAX_SAFE_INTEGER,
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
