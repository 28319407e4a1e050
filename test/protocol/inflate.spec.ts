/**
 * Inflating received payloads within limits (src/protocol/inflate.ts): at once when small, on
 * zlib's thread pool in slices when large, paced by the sender's work rate, charged to a memory
 * budget, and the sync decompress() of what a client receives (DEFLATE and brotli).
 */
import { brotliCompressSync, deflateRawSync } from 'zlib';
import {
  ErrorCode,
  FrameFlag,
  InflateWork,
  ProtocolError,
  ReceiveBudget,
  SYNC_INFLATE_LIMIT,
  compressionOf,
  decompress,
  inflatePayload,
  withoutCompression,
} from '../../src/protocol';
import { expectProtocolError } from '../support/expect-protocol-error';

/** A budget of `capacity` bytes that records what is held. */
function budget(capacity = Infinity): ReceiveBudget & { held: number } {
  const b = {
    held: 0,
    reserve(bytes: number) {
      if (b.held + bytes > capacity) return false;
      b.held += bytes;
      return true;
    },
    release(bytes: number) {
      b.held -= bytes;
    },
  };
  return b;
}

/** A work rate that records what it was charged, asking for `waitMs` once `freeBytes` are used. */
function work(freeBytes = Infinity, waitMs = 0): InflateWork & { charged: number; waits: number } {
  const w = {
    charged: 0,
    waits: 0,
    charge(bytes: number) {
      w.charged += bytes;
      if (w.charged <= freeBytes) return 0;
      w.waits++;
      return waitMs;
    },
  };
  return w;
}

async function rejection(promise: unknown): Promise<ProtocolError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(ProtocolError);
    return err as ProtocolError;
  }
  throw new Error('expected a rejection');
}

const text = (n: number) => Buffer.from('abcdefgh'.repeat(Math.ceil(n / 8)).slice(0, n));

describe('compressionOf', () => {
  it('reads DEFLATE, brotli (which wins) or none from the flags', () => {
    expect(compressionOf(FrameFlag.NONE)).toBeNull();
    expect(compressionOf(FrameFlag.BINARY)).toBeNull();
    expect(compressionOf(FrameFlag.COMPRESSED)).toBe('deflate');
    expect(compressionOf(FrameFlag.BROTLI)).toBe('brotli');
    expect(compressionOf(FrameFlag.BROTLI | FrameFlag.COMPRESSED)).toBe('brotli');
    expect(withoutCompression(FrameFlag.BROTLI | FrameFlag.COMPRESSED | FrameFlag.BINARY)).toBe(FrameFlag.BINARY);
  });
});

describe('inflatePayload', () => {
  it('returns an uncompressed payload as it is, charging nothing', () => {
    const payload = Buffer.from('plain');
    const b = budget();
    const w = work();
    expect(inflatePayload(payload, FrameFlag.BINARY, { maxSize: 10, budget: b, work: w })).toBe(payload);
    expect([b.held, w.charged]).toEqual([0, 0]);
  });

  it.each([
    ['DEFLATE', FrameFlag.COMPRESSED, (b: Buffer) => deflateRawSync(b)],
    ['brotli', FrameFlag.BROTLI, (b: Buffer) => brotliCompressSync(b)],
  ])('inflates a small %s payload at once, reserving and charging its length', (_name, flag, compress) => {
    const original = text(10_000);
    const b = budget();
    const w = work();
    const out = inflatePayload(compress(original), flag, { maxSize: 1 << 20, budget: b, work: w });
    expect(Buffer.isBuffer(out)).toBe(true);
    expect((out as Buffer).equals(original)).toBe(true);
    expect([b.held, w.charged]).toEqual([original.length, original.length]);
  });

  it.each([
    ['DEFLATE', FrameFlag.COMPRESSED, (b: Buffer) => deflateRawSync(b)],
    ['brotli', FrameFlag.BROTLI, (b: Buffer) => brotliCompressSync(b)],
  ])('inflates a large %s payload asynchronously, in slices', async (_name, flag, compress) => {
    const original = text(3 * 1024 * 1024 + 5);
    const b = budget();
    const out = inflatePayload(compress(original), flag, { maxSize: 4 << 20, budget: b });
    expect(out).toBeInstanceOf(Promise);
    expect((await out).equals(original)).toBe(true);
    expect(b.held).toBe(original.length);
  });

  it('refuses output past maxSize (a zip bomb) with MESSAGE_TOO_LARGE, holding nothing afterwards', async () => {
    const bomb = deflateRawSync(Buffer.alloc(8 * 1024 * 1024));
    const b = budget();
    const err = await rejection(inflatePayload(bomb, FrameFlag.COMPRESSED, { maxSize: 2 << 20, budget: b }));
    expect(err.code).toBe(ErrorCode.MESSAGE_TOO_LARGE);
    expect(b.held).toBe(0);
    // At or below the sync limit, the refusal is immediate.
    expectProtocolError(() => inflatePayload(bomb, FrameFlag.COMPRESSED, { maxSize: 1000 }), ErrorCode.MESSAGE_TOO_LARGE);
  });

  it('refuses corrupt input with MALFORMED_PAYLOAD, whether it fails early or after the sync limit', async () => {
    expectProtocolError(
      () => inflatePayload(Buffer.from([1, 2, 3, 4, 5]), FrameFlag.COMPRESSED, { maxSize: 1 << 20 }),
      ErrorCode.MALFORMED_PAYLOAD,
    );
    const valid = deflateRawSync(text(2 * SYNC_INFLATE_LIMIT));
    const truncated = valid.subarray(0, valid.length - 20);
    const b = budget();
    const err = await rejection(inflatePayload(truncated, FrameFlag.COMPRESSED, { maxSize: 1 << 20, budget: b }));
    expect(err.code).toBe(ErrorCode.MALFORMED_PAYLOAD);
    expect(b.held).toBe(0);
  });

  it('refuses with LIMIT_EXCEEDED when the memory budget runs out, giving back what it took', async () => {
    const small = deflateRawSync(text(1000));
    expectProtocolError(
      () => inflatePayload(small, FrameFlag.COMPRESSED, { maxSize: 1 << 20, budget: budget(999) }),
      ErrorCode.LIMIT_EXCEEDED,
    );
    const b = budget(1024 * 1024);
    const err = await rejection(inflatePayload(deflateRawSync(text(2 << 20)), FrameFlag.COMPRESSED, { maxSize: 4 << 20, budget: b }));
    expect(err.code).toBe(ErrorCode.LIMIT_EXCEEDED);
    expect(b.held).toBe(0);
  });

  it('charges the sender for every byte of output, the sync attempt included, and pauses while it is past its rate', async () => {
    const original = text(2 << 20);
    // Past the first MiB, every slice asks for a 5 ms pause.
    const w = work(1 << 20, 5);
    const out = await inflatePayload(deflateRawSync(original), FrameFlag.COMPRESSED, { maxSize: 4 << 20, work: w });
    expect(out.equals(original)).toBe(true);
    expect(w.charged).toBe(original.length + SYNC_INFLATE_LIMIT);
    expect(w.waits).toBeGreaterThan(0);
  });

  it('waits before starting when the sender is already past its rate', async () => {
    let first = true;
    const w: InflateWork = { charge: () => (first ? ((first = false), 30) : 0) };
    const out = inflatePayload(deflateRawSync(text(100)), FrameFlag.COMPRESSED, { maxSize: 1000, work: w });
    expect(out).toBeInstanceOf(Promise);
    expect((await out).equals(text(100))).toBe(true);
  });

  it('stops when the message is no longer wanted', async () => {
    let wanted = true;
    const b = budget();
    const out = inflatePayload(deflateRawSync(text(8 << 20)), FrameFlag.COMPRESSED, {
      maxSize: 16 << 20,
      budget: b,
      cancelled: () => !wanted,
    });
    wanted = false;
    const err = await rejection(out);
    expect(err.code).toBe(ErrorCode.LIMIT_EXCEEDED);
    expect(b.held).toBe(0);
  });
});

describe('decompress (what a client inflates: its own replies, bounded by its limit)', () => {
  it('inflates DEFLATE and brotli synchronously, refusing past the limit', () => {
    const original = text(50_000);
    expect(decompress(deflateRawSync(original), FrameFlag.COMPRESSED, 1 << 20).equals(original)).toBe(true);
    expect(decompress(brotliCompressSync(original), FrameFlag.BROTLI, 1 << 20).equals(original)).toBe(true);
    expectProtocolError(() => decompress(brotliCompressSync(original), FrameFlag.BROTLI, 1000), ErrorCode.MESSAGE_TOO_LARGE);
    expectProtocolError(() => decompress(Buffer.from('not brotli'), FrameFlag.BROTLI, 1000), ErrorCode.MALFORMED_PAYLOAD);
  });
});
