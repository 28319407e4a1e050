/**
 * Per-stream pattern tables (src/protocol/pattern-table.ts): definitions then references,
 * in agreement on both sides; the bounds; and every way a reference can be wrong.
 */
import {
  ErrorCode,
  MAX_DEFINING_PAYLOAD,
  MAX_TABLE_PATTERNS,
  MAX_TABLE_PATTERN_BYTES,
  PatternTableReader,
  PatternTableWriter,
} from '../../src/protocol';
import { expectProtocolError } from '../support/expect-protocol-error';

/** A payload as the stream sends it: the reference, then a body. */
function payloadOf(reference: Buffer, body = 'BODY'): Buffer {
  return Buffer.concat([reference, Buffer.from(body)]);
}

describe('pattern tables', () => {
  it('define a pattern once, then name it by a one-byte reference the reader resolves', () => {
    const writer = new PatternTableWriter();
    const reader = new PatternTableReader();
    const first = writer.reference('echo', 70) as Buffer;
    expect(first).toEqual(Buffer.from([0, 0, 4, ...Buffer.from('echo')]));
    const second = writer.reference('echo', 70) as Buffer;
    expect(second).toEqual(Buffer.from([1]));
    for (const ref of [first, second]) {
      const payload = payloadOf(ref);
      const { pattern, offset } = reader.read(payload);
      expect(pattern).toBe('echo');
      expect(payload.subarray(offset).toString()).toBe('BODY');
    }
    expect(reader.size).toBe(1);
  });

  it('number patterns in the order they are defined, on both sides, UTF-8 included', () => {
    const writer = new PatternTableWriter();
    const reader = new PatternTableReader();
    const patterns = ['a', '{"cmd":"sum"}', 'ü€😀', '/hero.HeroesService/FindOne'];
    const sent = [...patterns, ...patterns.reverse(), 'a'].map(p => ({ p, ref: writer.reference(p, 10) as Buffer }));
    for (const { p, ref } of sent) expect(reader.read(payloadOf(ref)).pattern).toBe(p);
    expect(writer.size).toBe(4);
    expect(reader.size).toBe(4);
  });

  it(`hold at most ${MAX_TABLE_PATTERNS} patterns; later ones go in full, earlier ones stay referenced`, () => {
    const writer = new PatternTableWriter();
    const reader = new PatternTableReader();
    for (let i = 0; i < MAX_TABLE_PATTERNS; i++) reader.read(payloadOf(writer.reference(`p${i}`, 0) as Buffer));
    expect(writer.reference('one too many', 0)).toBeNull();
    const last = writer.reference(`p${MAX_TABLE_PATTERNS - 1}`, 0) as Buffer;
    expect(reader.read(payloadOf(last)).pattern).toBe(`p${MAX_TABLE_PATTERNS - 1}`);
  });

  it('leave long patterns out of the table, and define only in small payloads', () => {
    const writer = new PatternTableWriter();
    expect(writer.reference('x'.repeat(MAX_TABLE_PATTERN_BYTES + 1), 10)).toBeNull();
    expect(writer.reference('big', MAX_DEFINING_PAYLOAD)).toBeNull();
    // The same pattern in a small payload is defined, and from then on referenced at any size.
    expect(writer.reference('big', 10)?.[0]).toBe(0);
    expect(writer.reference('big', 1 << 20)).toEqual(Buffer.from([1]));
    expect(writer.size).toBe(1);
  });

  describe('reader errors: PROTOCOL_ERROR (the tables no longer agree)', () => {
    const cases: Array<[string, Buffer[]]> = [
      ['a reference to an index never defined', [Buffer.from([1])]],
      ['a definition that skips an index (one the reader never saw)', [Buffer.from([0, 1, 1, 0x61])]],
      ['a second definition of an index', [Buffer.from([0, 0, 1, 0x61]), Buffer.from([0, 0, 1, 0x62])]],
      ['a truncated definition', [Buffer.from([0, 0, 5, 0x61])]],
      ['a pattern longer than the table takes', [Buffer.from([0, 0, 0x81, 0x02])]],
      ['an empty payload', [Buffer.alloc(0)]],
      ['a reference varint longer than 8 bytes', [Buffer.alloc(9, 0x80)]],
    ];
    it.each(cases)('%s', (_name, payloads) => {
      const reader = new PatternTableReader();
      const last = payloads.pop() as Buffer;
      for (const p of payloads) reader.read(p);
      expectProtocolError(() => reader.read(last), ErrorCode.PROTOCOL_ERROR);
    });

    it(`more than ${MAX_TABLE_PATTERNS} definitions`, () => {
      const reader = new PatternTableReader();
      for (let i = 0; i < MAX_TABLE_PATTERNS; i++) reader.read(Buffer.from([0, ...varint(i), 1, 0x61]));
      expectProtocolError(() => reader.read(Buffer.from([0, ...varint(MAX_TABLE_PATTERNS), 1, 0x61])), ErrorCode.PROTOCOL_ERROR);
    });
  });
});

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}
