import { ProtocolError } from './errors';
import { Codec, compressSync } from './compression';
import { ErrorCode, FrameFlag } from './frames';
import { compressionOf, inflateSync } from './inflate';
import { MAX_REASON_LENGTH } from './limits';
import { readVarint, varintSize, writeVarint } from './varint';

/**
 * Values ↔ payload bytes. A value is JSON (UTF-8) unless it is a Buffer or Uint8Array,
 * which travels as raw bytes with the BINARY flag and arrives as a Buffer. `undefined`
 * is the empty payload.
 */

const EMPTY = Buffer.alloc(0);

export interface EncodedPayload {
  bytes: Buffer;
  flags: number;
  /** Size before compression, when `bytes` is compressed. */
  uncompressedLength?: number;
  /**
   * A request body in the compact layout, not compressed: its pattern, and where the pattern
   * field ends in the body (the body is `bytes` after the deadline varint, when there is one).
   * A stream that shares a pattern table with its peer sends a reference instead of the field.
   */
  pattern?: string;
  patternEnd?: number;
}

/**
 * The size a message counts for against `maxMessageSize`: its uncompressed size, since the
 * receiver refuses to inflate past its limit.
 */
export function messageSize(payload: EncodedPayload): number {
  return Math.max(payload.bytes.length, payload.uncompressedLength ?? 0);
}

export function encodeValue(value: unknown): EncodedPayload {
  if (value === undefined) return { bytes: EMPTY, flags: FrameFlag.NONE };
  if (Buffer.isBuffer(value)) return { bytes: value, flags: FrameFlag.BINARY };
  if (value instanceof Uint8Array) {
    return { bytes: Buffer.from(value.buffer, value.byteOffset, value.byteLength), flags: FrameFlag.BINARY };
  }
  const json = JSON.stringify(value);
  // JSON.stringify returns undefined for functions and symbols: send them as undefined.
  return { bytes: json === undefined ? EMPTY : Buffer.from(json, 'utf8'), flags: FrameFlag.NONE };
}

export function decodeValue(bytes: Buffer, flags: number): unknown {
  if (flags & FrameFlag.BINARY) return bytes;
  if (bytes.length === 0) return undefined;
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new ProtocolError(ErrorCode.MALFORMED_PAYLOAD, `payload is not valid JSON: ${(err as Error).message}`);
  }
}

/**
 * Compresses `payload` when it is at least `threshold` bytes and DEFLATE makes it smaller.
 * The binding charges ~0.25 µs per byte across the boundary, far more than zlib's level 1
 * costs, so any real saving is worth it.
 */
export function maybeCompress(payload: EncodedPayload, threshold: number): EncodedPayload {
  if (threshold <= 0 || payload.bytes.length < threshold) return payload;
  const compressed = compressSync(Codec.DEFLATE, payload.bytes);
  if (compressed.length >= payload.bytes.length * 0.9) return payload;
  return { bytes: compressed, flags: payload.flags | FrameFlag.COMPRESSED, uncompressedLength: payload.bytes.length };
}

/**
 * Undoes {@link maybeCompress} (DEFLATE, or brotli with the BROTLI flag), refusing output
 * larger than `maxSize` without producing it. Synchronous: for payloads whose inflated size
 * is bounded by the caller's limits (replies a client asked for); a server inflates what
 * peers send with {@link inflatePayload}, which also counts memory and work.
 */
export function decompress(bytes: Buffer, flags: number, maxSize: number): Buffer {
  const compression = compressionOf(flags);
  return compression ? inflateSync(bytes, compression, maxSize) : bytes;
}

/**
 * The body of REQUEST and EVENT frames in the compact layout:
 * varint pattern length, pattern (UTF-8), varint metadata length, metadata (JSON, absent
 * when the length is 0), then the data value.
 */
export interface RequestBody {
  pattern: string;
  metadata: unknown;
  data: unknown;
}

/**
 * A request body; the result names its pattern and where the pattern field ends (for pattern
 * tables). JSON text is written straight into the body, without an intermediate Buffer.
 */
export function encodeRequestBody(pattern: string, data: unknown, metadata: unknown): EncodedPayload {
  const patternLength = Buffer.byteLength(pattern, 'utf8');
  const metaJson = metadata === undefined ? undefined : JSON.stringify(metadata);
  const metaLength = metaJson === undefined ? 0 : Buffer.byteLength(metaJson, 'utf8');
  let binary: Buffer | null = null;
  let json: string | undefined;
  if (data instanceof Uint8Array) binary = encodeValue(data).bytes;
  else if (data !== undefined) json = JSON.stringify(data);
  const dataLength = binary !== null ? binary.length : json === undefined ? 0 : Buffer.byteLength(json, 'utf8');
  const headLength = varintSize(patternLength) + patternLength + varintSize(metaLength) + metaLength;
  const bytes = Buffer.allocUnsafe(headLength + dataLength);
  let offset = writeVarint(bytes, 0, patternLength);
  offset += bytes.write(pattern, offset, patternLength, 'utf8');
  const patternEnd = offset;
  offset = writeVarint(bytes, offset, metaLength);
  if (metaJson !== undefined) offset += bytes.write(metaJson, offset, metaLength, 'utf8');
  if (binary !== null) binary.copy(bytes, offset);
  else if (json !== undefined) bytes.write(json, offset, dataLength, 'utf8');
  return { bytes, flags: binary !== null ? FrameFlag.BINARY : FrameFlag.NONE, pattern, patternEnd };
}

/**
 * Reads a request body. `resolvedPattern` is the pattern a stream resolved from a pattern
 * reference ({@link FrameFlag.PATTERN_REF}): the body then starts at the metadata length.
 */
export function decodeRequestBody(bytes: Buffer, flags: number, resolvedPattern?: string): RequestBody {
  const cursor = { value: 0, offset: 0 };
  const end = bytes.length;
  let ok: boolean;
  let pattern: string;
  if (resolvedPattern === undefined) {
    try {
      ok = readVarint(bytes, end, cursor) && cursor.offset + cursor.value <= end;
    } catch {
      ok = false;
    }
    if (!ok) throw new ProtocolError(ErrorCode.MALFORMED_PAYLOAD, 'request body: bad pattern length');
    pattern = bytes.toString('utf8', cursor.offset, cursor.offset + cursor.value);
    cursor.offset += cursor.value;
  } else {
    pattern = resolvedPattern;
  }
  try {
    ok = readVarint(bytes, end, cursor) && cursor.offset + cursor.value <= end;
  } catch {
    ok = false;
  }
  if (!ok) throw new ProtocolError(ErrorCode.MALFORMED_PAYLOAD, 'request body: bad metadata length');
  const metadata = cursor.value === 0 ? undefined : decodeValue(bytes.subarray(cursor.offset, cursor.offset + cursor.value), 0);
  const data = decodeValue(bytes.subarray(cursor.offset + cursor.value), flags);
  return { pattern, metadata, data };
}

/** GOAWAY payload: varint error code, then a UTF-8 reason. */
export function encodeGoAway(code: ErrorCode, reason: string): Buffer {
  const text = Buffer.from(reason, 'utf8').subarray(0, MAX_REASON_LENGTH);
  const bytes = Buffer.allocUnsafe(varintSize(code) + text.length);
  text.copy(bytes, writeVarint(bytes, 0, code));
  return bytes;
}

export function decodeGoAway(bytes: Buffer): { code: number; reason: string } {
  const cursor = { value: ErrorCode.PROTOCOL_ERROR, offset: 0 };
  try {
    if (!readVarint(bytes, bytes.length, cursor)) return { code: ErrorCode.PROTOCOL_ERROR, reason: '' };
  } catch {
    return { code: ErrorCode.PROTOCOL_ERROR, reason: '' };
  }
  return { code: cursor.value, reason: bytes.toString('utf8', cursor.offset) };
}
