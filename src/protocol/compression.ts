import { brotliCompress, brotliCompressSync, constants as zlibConstants, deflateRaw, deflateRawSync } from 'zlib';
import { FrameFlag } from './frames';
import { Feature } from './hello';

/**
 * Payload compression on the sending side: which codec, whether a payload is worth it, and
 * doing it without holding the event loop for large payloads (docs/protocol.md,
 * "Compression"; measurements in docs/performance.md).
 *
 * - Raw DEFLATE level 1 (`COMPRESSED`) is what every peer of protocol 1.0 reads.
 * - Brotli quality 1 (`BROTLI`) is used toward a peer whose HELLO announced
 *   {@link Feature.BROTLI}, for payloads of {@link BROTLI_FROM} bytes and more: on the bench
 *   payloads it compresses as well as DEFLATE-1 or better in about a sixth of the time (1 MiB of
 *   random text: 3 ms against 20 ms; incompressible bytes: 0.5 ms against 18 ms). Below that
 *   size DEFLATE-1 gives the smaller output (1 KiB of JSON: 0.37 against 0.41) at the same cost.
 * - Payloads under the threshold (1 KiB by default) are sent as they are: the bytes saved do
 *   not pay for the work on both sides.
 * - A payload of {@link SAMPLE_FROM} bytes or more is judged by a sample first (8 slices of
 *   512 bytes spread over it, compressed with the same codec); it is sent as it is when the
 *   sample does not shrink below {@link SAMPLE_KEEP_RATIO}. Such payloads are compressed on
 *   libuv's thread pool, so the event loop stays free while they are.
 * - A compressed payload is kept only when it is under {@link KEEP_RATIO} of the original.
 */

export enum Codec {
  /** Raw DEFLATE, level 1 (`COMPRESSED`): every peer reads it. */
  DEFLATE = 'deflate',
  /** Brotli, quality 1 (`BROTLI`): only toward a peer that announced {@link Feature.BROTLI}. */
  BROTLI = 'brotli',
}

/** Payloads at least this large use brotli toward a peer that reads it. */
export const BROTLI_FROM = 8 * 1024;

/** Payloads at least this large are sampled first and compressed off the event loop. */
export const SAMPLE_FROM = 64 * 1024;

/** A compressed payload is kept only when smaller than this fraction of the original. */
export const KEEP_RATIO = 0.97;

/** A sample that does not compress below this fraction means: send the payload as it is. */
export const SAMPLE_KEEP_RATIO = 0.95;

const SAMPLE_SLICES = 8;
const SAMPLE_SLICE_BYTES = 512;

const DEFLATE_OPTIONS = { level: 1 };

function brotliOptions(size: number) {
  return {
    params: {
      [zlibConstants.BROTLI_PARAM_QUALITY]: 1,
      [zlibConstants.BROTLI_PARAM_MODE]: zlibConstants.BROTLI_MODE_GENERIC,
      [zlibConstants.BROTLI_PARAM_SIZE_HINT]: size,
    },
  };
}

/** The flag that marks a payload compressed with `codec`. */
export function codecFlag(codec: Codec): FrameFlag {
  return codec === Codec.BROTLI ? FrameFlag.BROTLI : FrameFlag.COMPRESSED;
}

/** Flags that mark a payload as compressed, by any codec. */
export const COMPRESSION_FLAGS = FrameFlag.COMPRESSED | FrameFlag.BROTLI;

/** The codec for a payload of `size` bytes, given the features both sides announced. */
export function chooseCodec(size: number, sharedFeatures: number): Codec {
  return sharedFeatures & Feature.BROTLI && size >= BROTLI_FROM ? Codec.BROTLI : Codec.DEFLATE;
}

export function compressSync(codec: Codec, bytes: Uint8Array): Buffer {
  return codec === Codec.BROTLI ? brotliCompressSync(bytes, brotliOptions(bytes.length)) : deflateRawSync(bytes, DEFLATE_OPTIONS);
}

/** Compresses on libuv's thread pool: the event loop only hands the bytes over and back. */
export function compressAsync(codec: Codec, bytes: Uint8Array): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const done = (err: Error | null, out: Buffer) => (err ? reject(err) : resolve(out));
    if (codec === Codec.BROTLI) brotliCompress(bytes, brotliOptions(bytes.length), done);
    else deflateRaw(bytes, DEFLATE_OPTIONS, done);
  });
}

/**
 * Whether `bytes` looks compressible: 8 slices of 512 bytes, evenly spread, compressed
 * together with `codec`. Checked against whole messages of the bench (random text, JSON,
 * random bytes, JSON with a binary tail), this predicted the outcome every time; it costs
 * tens of microseconds where compressing an incompressible MiB costs milliseconds.
 */
export function sampleCompresses(codec: Codec, bytes: Uint8Array): boolean {
  const sample = Buffer.allocUnsafe(SAMPLE_SLICES * SAMPLE_SLICE_BYTES);
  const stride = Math.floor((bytes.length - SAMPLE_SLICE_BYTES) / (SAMPLE_SLICES - 1));
  for (let i = 0; i < SAMPLE_SLICES; i++) {
    const start = i * stride;
    sample.set(bytes.subarray(start, start + SAMPLE_SLICE_BYTES), i * SAMPLE_SLICE_BYTES);
  }
  return compressSync(codec, sample).length < sample.length * SAMPLE_KEEP_RATIO;
}

/** A payload after compression: `bytes` compressed with the codec `flag` names, or as it was (flag 0). */
export interface CompressedBody {
  bytes: Buffer;
  /** {@link FrameFlag.COMPRESSED}, {@link FrameFlag.BROTLI}, or 0 when sent as it is. */
  flag: number;
}

/**
 * Compresses a payload when that is worth it: synchronously below {@link SAMPLE_FROM} bytes
 * (at most a few hundred microseconds), else on the thread pool after a sample said it will
 * shrink. Never fails: a payload that cannot be compressed is sent as it is.
 */
export function compressBody(bytes: Buffer, threshold: number, sharedFeatures: number): CompressedBody | Promise<CompressedBody> {
  if (threshold <= 0 || bytes.length < threshold) return { bytes, flag: 0 };
  const codec = chooseCodec(bytes.length, sharedFeatures);
  if (bytes.length < SAMPLE_FROM) return kept(bytes, compressSync(codec, bytes), codec);
  if (!sampleCompresses(codec, bytes)) return { bytes, flag: 0 };
  return compressAsync(codec, bytes).then(
    out => kept(bytes, out, codec),
    () => ({ bytes, flag: 0 }),
  );
}

function kept(original: Buffer, compressed: Buffer, codec: Codec): CompressedBody {
  return compressed.length < original.length * KEEP_RATIO ? { bytes: compressed, flag: codecFlag(codec) } : { bytes: original, flag: 0 };
}
