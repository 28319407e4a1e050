import type { Transform } from 'stream';
import { brotliDecompressSync, createBrotliDecompress, createInflateRaw, inflateRawSync } from 'zlib';
import { COMPRESSION_FLAGS, Codec } from './compression';
import { ProtocolError } from './errors';
import { ErrorCode, FrameFlag } from './frames';
import type { ReceiveBudget } from './receive-budget';

/**
 * Decompressing received payloads within limits: the size limit (`maxMessageSize`), the
 * receiver's memory budget and the sender's work rate. Small outputs are inflated at once;
 * larger ones on zlib's thread pool in slices of {@link INFLATE_SLICE} bytes, so that a
 * 16 MiB payload never holds the event loop for more than a slice's callback.
 */

/** Output up to this size is inflated synchronously (about half a millisecond of work). */
export const SYNC_INFLATE_LIMIT = 256 * 1024;

/** Bytes of output per step of an asynchronous inflate: one thread-pool job, one callback. */
export const INFLATE_SLICE = 64 * 1024;

/** The codec of a payload with these flags, or null. BROTLI wins over COMPRESSED. */
export function compressionOf(flags: number): Codec | null {
  if (flags & FrameFlag.BROTLI) return Codec.BROTLI;
  if (flags & FrameFlag.COMPRESSED) return Codec.DEFLATE;
  return null;
}

/** Flags without the compression bits: what the payload's flags are once inflated. */
export function withoutCompression(flags: number): number {
  return flags & ~COMPRESSION_FLAGS;
}

/** The work a sender may cause: the bytes of output inflated for it, at a bounded rate. */
export interface InflateWork {
  /**
   * Charges `bytes` of output to the sender; returns how long (ms) its further inflation must
   * wait to stay within its rate (0: none).
   */
  charge(bytes: number): number;
}

export interface InflateOptions {
  /** Largest output accepted: past it the payload is refused with MESSAGE_TOO_LARGE. */
  maxSize: number;
  /**
   * Memory for the output, reserved as it is produced. On success the caller holds a
   * reservation of the result's length and releases it once the message is handed on; on
   * failure nothing stays reserved.
   */
  budget?: ReceiveBudget;
  /** The sender's work rate, charged with every byte of output: inflation pauses while it is exceeded. */
  work?: InflateWork;
  /** Outputs up to this size are inflated synchronously (default {@link SYNC_INFLATE_LIMIT}). */
  syncLimit?: number;
  /** Asked before each step of an asynchronous inflate: true stops it (the message is no longer wanted). */
  cancelled?: () => boolean;
}

/** The error for an output past `maxSize`. */
export function tooLargeError(maxSize: number): ProtocolError {
  return new ProtocolError(ErrorCode.MESSAGE_TOO_LARGE, `Decompressed message exceeds the maximum message size of ${maxSize} bytes`);
}

function cancelledError(): ProtocolError {
  return new ProtocolError(ErrorCode.LIMIT_EXCEEDED, 'Decompression cancelled');
}

function memoryError(): ProtocolError {
  return new ProtocolError(ErrorCode.LIMIT_EXCEEDED, 'Decompression refused: the server is out of receive memory');
}

function corruptError(err: unknown): ProtocolError {
  return new ProtocolError(ErrorCode.MALFORMED_PAYLOAD, `compressed payload is corrupt: ${(err as Error)?.message ?? err}`);
}

function isOutputLimit(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError;
}

/** Synchronous inflate with an output limit; throws a ProtocolError (MESSAGE_TOO_LARGE, MALFORMED_PAYLOAD). */
export function inflateSync(bytes: Buffer, compression: Codec, maxSize: number): Buffer {
  try {
    return compression === Codec.BROTLI
      ? brotliDecompressSync(bytes, { maxOutputLength: maxSize })
      : inflateRawSync(bytes, { maxOutputLength: maxSize });
  } catch (err) {
    throw isOutputLimit(err) ? tooLargeError(maxSize) : corruptError(err);
  }
}

/**
 * Inflates a payload compressed as its `flags` say (returned as is when it is not), within
 * `options`' limits. Returns the output at once when it is small and the sender is within its
 * work rate; otherwise a promise: the sender's rate is waited for, and large outputs are
 * produced on zlib's thread pool slice by slice, pausing whenever the rate is exceeded.
 * Failures are ProtocolErrors: MESSAGE_TOO_LARGE past `maxSize`, MALFORMED_PAYLOAD for
 * corrupt input, LIMIT_EXCEEDED when the memory budget runs out (or when cancelled).
 */
export function inflatePayload(bytes: Buffer, flags: number, options: InflateOptions): Buffer | Promise<Buffer> {
  const compression = compressionOf(flags);
  if (!compression) return bytes;
  const { maxSize, work, budget } = options;
  const wait = work ? work.charge(0) : 0;
  if (wait > 0) {
    return delay(wait).then(() => {
      if (options.cancelled?.()) throw cancelledError();
      return inflatePayload(bytes, flags, options);
    });
  }
  const syncLimit = Math.min(options.syncLimit ?? SYNC_INFLATE_LIMIT, maxSize);
  let output: Buffer;
  try {
    output = inflateSync(bytes, compression, syncLimit);
  } catch (err) {
    const tooLargeForSync = err instanceof ProtocolError && err.code === ErrorCode.MESSAGE_TOO_LARGE;
    if (!tooLargeForSync || syncLimit >= maxSize) throw err;
    // The sync attempt's work is spent: charge it, then inflate again in slices.
    work?.charge(syncLimit);
    return inflateInSlices(bytes, compression, options);
  }
  // Past the sender's rate, its next message waits.
  work?.charge(output.length);
  if (budget && !budget.reserve(output.length)) throw memoryError();
  return output;
}

function delay(ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms));
}

function inflateInSlices(bytes: Buffer, compression: Codec, options: InflateOptions): Promise<Buffer> {
  const { maxSize, work, budget, cancelled } = options;
  return new Promise<Buffer>((resolve, reject) => {
    const stream: Transform =
      compression === Codec.BROTLI ? createBrotliDecompress({ chunkSize: INFLATE_SLICE }) : createInflateRaw({ chunkSize: INFLATE_SLICE });
    const parts: Buffer[] = [];
    let total = 0;
    let settled = false;
    let pause: NodeJS.Timeout | null = null;
    const fail = (error: ProtocolError) => {
      if (settled) return;
      settled = true;
      if (pause) clearTimeout(pause);
      stream.destroy();
      if (total > 0) budget?.release(total);
      reject(error);
    };
    stream.on('data', (chunk: Buffer) => {
      if (settled) return;
      if (cancelled?.()) return fail(cancelledError());
      if (total + chunk.length > maxSize) return fail(tooLargeError(maxSize));
      if (budget && !budget.reserve(chunk.length)) return fail(memoryError());
      total += chunk.length;
      parts.push(chunk);
      const wait = work ? work.charge(chunk.length) : 0;
      if (wait > 0) {
        // Past the sender's rate: no more output until it is within it again.
        stream.pause();
        pause = setTimeout(() => {
          pause = null;
          if (cancelled?.()) return fail(cancelledError());
          stream.resume();
        }, wait);
      }
    });
    stream.on('error', (err: Error) => fail(corruptError(err)));
    stream.on('end', () => {
      if (settled) return;
      settled = true;
      resolve(parts.length === 1 ? parts[0] : Buffer.concat(parts, total));
    });
    stream.end(bytes);
  });
}
