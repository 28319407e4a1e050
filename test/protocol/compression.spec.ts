/**
 * Sending-side compression (src/protocol/compression.ts): the codec by size and agreed features,
 * the threshold, the ratio kept, the sample that skips incompressible payloads, and large
 * payloads compressed off the event loop.
 */
import { randomBytes } from 'crypto';
import {
  BROTLI_FROM,
  Codec,
  CompressedBody,
  ErrorCode,
  Feature,
  FrameFlag,
  SAMPLE_FROM,
  chooseCodec,
  compressAsync,
  compressBody,
  compressSync,
  decompress,
  sampleCompresses,
} from '../../src/protocol';
import { expectProtocolError } from '../support/expect-protocol-error';

function json(bytes: number): Buffer {
  const rows: unknown[] = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const row = { id: i, name: `name ${i % 17}`, email: `user.${i}@example.com`, active: i % 3 === 0, tags: ['a', 'b'] };
    rows.push(row);
    size += JSON.stringify(row).length + 1;
  }
  return Buffer.from(JSON.stringify(rows));
}

/** Random printable ASCII: compresses to about 0.83 (6.5 bits of 8). */
function randomText(bytes: number): Buffer {
  const out = randomBytes(bytes);
  for (let i = 0; i < bytes; i++) out[i] = 32 + (out[i] % 93);
  return out;
}

async function settled(result: CompressedBody | Promise<CompressedBody>): Promise<CompressedBody> {
  return result;
}

describe('chooseCodec', () => {
  it('uses DEFLATE toward a peer that did not announce brotli, whatever the size', () => {
    expect(chooseCodec(1 << 20, 0)).toBe(Codec.DEFLATE);
    expect(chooseCodec(1 << 20, Feature.DEADLINE | Feature.DRAIN)).toBe(Codec.DEFLATE);
  });

  it('uses brotli from BROTLI_FROM bytes toward a peer that reads it, DEFLATE below', () => {
    expect(chooseCodec(BROTLI_FROM, Feature.BROTLI)).toBe(Codec.BROTLI);
    expect(chooseCodec(BROTLI_FROM - 1, Feature.BROTLI)).toBe(Codec.DEFLATE);
  });
});

describe('compressBody', () => {
  it('leaves payloads under the threshold, and everything with threshold 0, as they are', async () => {
    const small = json(1000);
    expect(await settled(compressBody(small, small.length + 1, Feature.BROTLI))).toEqual({ bytes: small, flag: 0 });
    const big = json(100_000);
    expect(await settled(compressBody(big, 0, Feature.BROTLI))).toEqual({ bytes: big, flag: 0 });
  });

  it.each([
    ['a 1.0 peer', 0, FrameFlag.COMPRESSED],
    ['a peer that reads brotli', Feature.BROTLI, FrameFlag.BROTLI],
  ])('compresses JSON toward %s with the codec it reads, round trip intact', async (_name, features, flag) => {
    for (const size of [2_000, 20_000, 200_000]) {
      const bytes = json(size);
      const result = await settled(compressBody(bytes, 1024, features));
      const expected = size < BROTLI_FROM ? FrameFlag.COMPRESSED : flag;
      expect(result.flag).toBe(expected);
      expect(result.bytes.length).toBeLessThan(bytes.length * 0.5);
      expect(decompress(result.bytes, result.flag, 1 << 24).equals(bytes)).toBe(true);
    }
  });

  it('compresses small payloads at once and large ones through a promise', async () => {
    const small = compressBody(json(SAMPLE_FROM - 100), 1024, Feature.BROTLI);
    expect(small).not.toBeInstanceOf(Promise);
    const large = compressBody(json(SAMPLE_FROM + 100), 1024, Feature.BROTLI);
    expect(large).toBeInstanceOf(Promise);
    expect((await large).flag).toBe(FrameFlag.BROTLI);
  });

  it('keeps random text compressed (ratio about 0.83)', async () => {
    const text = randomText(300_000);
    const result = await settled(compressBody(text, 1024, Feature.BROTLI));
    expect(result.flag).toBe(FrameFlag.BROTLI);
    expect(result.bytes.length / text.length).toBeGreaterThan(0.75);
    expect(result.bytes.length / text.length).toBeLessThan(0.9);
  });

  it('sends incompressible payloads as they are, small (tried) or large (sampled)', async () => {
    for (const size of [5_000, 300_000]) {
      const noise = randomBytes(size);
      expect(await settled(compressBody(noise, 1024, Feature.BROTLI))).toEqual({ bytes: noise, flag: 0 });
      expect(await settled(compressBody(noise, 1024, 0))).toEqual({ bytes: noise, flag: 0 });
    }
  });
});

describe('sampleCompresses', () => {
  it('says yes for JSON and text, no for random bytes, with either codec', () => {
    for (const codec of [Codec.DEFLATE, Codec.BROTLI]) {
      expect(sampleCompresses(codec, json(SAMPLE_FROM))).toBe(true);
      expect(sampleCompresses(codec, randomText(SAMPLE_FROM))).toBe(true);
      expect(sampleCompresses(codec, randomBytes(SAMPLE_FROM))).toBe(false);
    }
  });

  it('looks at the whole payload, not only its head: random bytes after a JSON head are sent as they are', async () => {
    const mixed = Buffer.concat([json(4096), randomBytes(1 << 20)]);
    expect(await settled(compressBody(mixed, 1024, Feature.BROTLI))).toEqual({ bytes: mixed, flag: 0 });
    const head = Buffer.concat([json(64 * 1024), randomBytes(64 * 1024)]);
    expect(sampleCompresses(Codec.BROTLI, head)).toBe(true);
  });
});

describe('brotli', () => {
  it('async and sync output decompress to the input', async () => {
    const bytes = json(100_000);
    for (const out of [compressSync(Codec.BROTLI, bytes), await compressAsync(Codec.BROTLI, bytes)]) {
      expect(decompress(out, FrameFlag.BROTLI, 1 << 20).equals(bytes)).toBe(true);
    }
  });

  it('refuses output above the limit with MESSAGE_TOO_LARGE, and corrupt input with MALFORMED_PAYLOAD', () => {
    const bomb = compressSync(Codec.BROTLI, Buffer.alloc(1 << 20));
    expect(bomb.length).toBeLessThan(1000);
    expectProtocolError(() => decompress(bomb, FrameFlag.BROTLI, 1 << 16), ErrorCode.MESSAGE_TOO_LARGE);
    expectProtocolError(() => decompress(Buffer.from('not brotli at all'), FrameFlag.BROTLI, 1 << 16), ErrorCode.MALFORMED_PAYLOAD);
  });
});
