import { ProtocolError } from './errors';
import { ErrorCode } from './frames';
import { VarintCursor, readVarint, varintSize, writeVarint } from './varint';

/**
 * Per-stream pattern tables (docs/protocol.md, "Pattern table"). Between peers that both
 * announced {@link Feature.PATTERN_TABLE}, a REQUEST or EVENT names its pattern by reference
 * ({@link FrameFlag.PATTERN_REF}): the first time in full with the index it gets, then by that
 * index alone. A 64-byte echo request saves its 5-byte pattern field minus one byte, and a
 * gRPC path of 30 bytes saves 30: each byte costs about 0.2 µs through the binding.
 *
 * The reference starts the payload, before the deadline varint and outside compression:
 *
 *     varint 0, varint index, varint length, pattern (UTF-8)   defines `index` and uses it
 *     varint n (n ≥ 1)                                       uses index n − 1
 *
 * The sender numbers patterns 0, 1, 2, … in the order it defines them, and the receiver
 * checks that each definition takes the next index, so a definition it never read (a frame it
 * skipped) is a protocol error at once rather than a request routed to the wrong handler.
 * Definitions travel only in payloads of at most {@link MAX_DEFINING_PAYLOAD} bytes, which
 * every receiver that announced the feature reads whole; larger requests with a pattern not
 * yet in the table carry it in full, as protocol 1.0 does.
 */

/** Patterns one table holds at most; later patterns are sent in full. */
export const MAX_TABLE_PATTERNS = 128;

/** Longest pattern (UTF-8 bytes) put in a table; longer ones are always sent in full. */
export const MAX_TABLE_PATTERN_BYTES = 256;

/** Largest payload that may carry a definition. */
export const MAX_DEFINING_PAYLOAD = 1024;

/** The sending side of a stream's pattern table. */
export class PatternTableWriter {
  /** The reference (varint index + 1) of each pattern defined so far. */
  private readonly references = new Map<string, Buffer>();

  get size(): number {
    return this.references.size;
  }

  /**
   * The bytes that name `pattern` in a payload whose body (without the pattern field) has
   * `bodyBytes` bytes: a reference when the pattern is in the table, a definition when it can
   * be added now, or null when it goes in full.
   */
  reference(pattern: string, bodyBytes: number): Buffer | null {
    const known = this.references.get(pattern);
    if (known !== undefined) return known;
    if (this.references.size >= MAX_TABLE_PATTERNS) return null;
    const length = Buffer.byteLength(pattern, 'utf8');
    if (length > MAX_TABLE_PATTERN_BYTES) return null;
    const index = this.references.size;
    const size = 1 + varintSize(index) + varintSize(length) + length;
    if (size + bodyBytes > MAX_DEFINING_PAYLOAD) return null;
    const definition = Buffer.allocUnsafe(size);
    let offset = writeVarint(definition, 0, 0);
    offset = writeVarint(definition, offset, index);
    offset = writeVarint(definition, offset, length);
    definition.write(pattern, offset, 'utf8');
    const reference = Buffer.allocUnsafe(varintSize(index + 1));
    writeVarint(reference, 0, index + 1);
    this.references.set(pattern, reference);
    return definition;
  }
}

/** A pattern reference read from the start of a payload. */
export interface ResolvedPattern {
  pattern: string;
  /** Where the payload continues after the reference. */
  offset: number;
}

/** The receiving side of a stream's pattern table. */
export class PatternTableReader {
  private readonly patterns: string[] = [];
  private readonly cursor: VarintCursor = { value: 0, offset: 0 };

  get size(): number {
    return this.patterns.length;
  }

  /**
   * Reads the reference at the start of `payload`, adding the pattern it defines. Throws a
   * ProtocolError (PROTOCOL_ERROR: the two tables no longer agree, so the stream cannot go
   * on) for a malformed reference, an unknown index, or a definition out of order.
   */
  read(payload: Buffer): ResolvedPattern {
    const cursor = this.cursor;
    cursor.offset = 0;
    const ref = this.varint(payload, 'reference');
    if (ref > 0) {
      const pattern = this.patterns[ref - 1];
      if (pattern === undefined) throw tableError(`unknown pattern index ${ref - 1}`);
      return { pattern, offset: cursor.offset };
    }
    const index = this.varint(payload, 'index');
    if (index !== this.patterns.length) {
      throw tableError(`pattern defined at index ${index}, expected ${this.patterns.length}`);
    }
    if (index >= MAX_TABLE_PATTERNS) throw tableError(`more than ${MAX_TABLE_PATTERNS} patterns defined`);
    const length = this.varint(payload, 'length');
    if (length > MAX_TABLE_PATTERN_BYTES) throw tableError(`pattern of ${length} bytes defined`);
    const start = cursor.offset;
    if (start + length > payload.length) throw tableError('truncated pattern definition');
    const pattern = payload.toString('utf8', start, start + length);
    this.patterns.push(pattern);
    return { pattern, offset: start + length };
  }

  private varint(payload: Buffer, what: string): number {
    let ok: boolean;
    try {
      ok = readVarint(payload, payload.length, this.cursor);
    } catch {
      ok = false;
    }
    if (!ok) throw tableError(`malformed pattern ${what}`);
    return this.cursor.value;
  }
}

function tableError(message: string): ProtocolError {
  return new ProtocolError(ErrorCode.PROTOCOL_ERROR, `pattern table: ${message}`);
}
