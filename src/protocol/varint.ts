/**
 * Unsigned LEB128 varints, as QUIC-era protocols (and irpc) use for length prefixes:
 * 7 bits per byte, high bit set on every byte but the last.
 *
 * Values are limited to 2^53 - 1 so they stay exact as JavaScript numbers, which caps a
 * varint at 8 bytes.
 */
export const MAX_VARINT_BYTES = 8;

/** Bytes needed to encode `value`. */
export function varintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    size++;
  }
  return size;
}

/** Writes `value` into `buf` at `offset`; returns the offset after it. */
export function writeVarint(buf: Uint8Array, offset: number, value: number): number {
  while (value >= 0x80) {
    buf[offset++] = (value % 128) | 0x80;
    value = Math.floor(value / 128);
  }
  buf[offset++] = value;
  return offset;
}

/** Result slots of {@link readVarint}, reused to keep the decoder free of allocations. */
export interface VarintCursor {
  value: number;
  offset: number;
}

/**
 * Reads a varint from `buf` starting at `cursor.offset`, up to `end`.
 * Returns `true` and advances the cursor when complete, `false` when more bytes are
 * needed, and throws a `RangeError` when the varint is longer than {@link MAX_VARINT_BYTES}.
 */
export function readVarint(buf: Uint8Array, end: number, cursor: VarintCursor): boolean {
  let value = 0;
  let scale = 1;
  let pos = cursor.offset;
  for (let i = 0; i < MAX_VARINT_BYTES; i++) {
    if (pos >= end) return false;
    const byte = buf[pos++];
    value += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) {
      cursor.value = value;
      cursor.offset = pos;
      return true;
    }
    scale *= 128;
  }
  throw new RangeError(`varint longer than ${MAX_VARINT_BYTES} bytes`);
}
