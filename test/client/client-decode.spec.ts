/**
 * ClientIroh.decodeReply: large compressed replies are inflated off the event loop (a promise),
 * small ones at once; failures read as the client's reply errors either way.
 */
import { randomBytes } from 'crypto';
import { brotliCompressSync, deflateRawSync } from 'zlib';
import { ClientIroh } from '../../src';
import { IrohClientError } from '../../src/client/client-errors';
import { Frame, FrameFlag, FrameType, ReplyMessage } from '../../src/protocol';

/** Random letters: compresses to about 0.7, so 200 KB stays well over 64 KiB compressed. */
const doc = { text: [...randomBytes(200_000)].map(b => String.fromCharCode(97 + (b % 26))).join('') };
const text = Buffer.from(JSON.stringify(doc));

function frame(payload: Buffer, flags: number): Frame {
  return { type: FrameType.RESPONSE, id: 1, flags, payload };
}

describe('ClientIroh.decodeReply', () => {
  const client = new ClientIroh({ peer: 'a'.repeat(64), relayMode: 'disabled', maxMessageSize: 4 << 20 });
  afterAll(() => client.close());

  it('inflates a large compressed reply through a promise, with either codec', async () => {
    for (const [payload, flags] of [
      [brotliCompressSync(text), FrameFlag.BROTLI],
      [deflateRawSync(text), FrameFlag.COMPRESSED],
    ] as const) {
      expect(payload.length).toBeGreaterThanOrEqual(64 * 1024);
      const decoded = client.decodeReply(frame(payload, flags));
      expect(decoded).toBeInstanceOf(Promise);
      expect(await decoded).toEqual({ response: doc, isDisposed: true });
    }
  });

  it('decodes a small compressed reply at once', () => {
    const small = Buffer.from(JSON.stringify({ a: 'x'.repeat(2000) }));
    const decoded = client.decodeReply(frame(deflateRawSync(small), FrameFlag.COMPRESSED)) as ReplyMessage;
    expect(decoded).toEqual({ response: { a: 'x'.repeat(2000) }, isDisposed: true });
  });

  it('refuses a large reply that inflates past maxMessageSize (MESSAGE_TOO_LARGE), and a corrupt one (PROTOCOL_ERROR)', async () => {
    const small = new ClientIroh({ peer: 'a'.repeat(64), relayMode: 'disabled', maxMessageSize: 128 * 1024 });
    try {
      const payload = brotliCompressSync(text);
      await expect(small.decodeReply(frame(payload, FrameFlag.BROTLI))).rejects.toMatchObject({
        code: 'MESSAGE_TOO_LARGE',
        message: expect.stringMatching(/^Reply refused: /),
      });
      const corrupt = Buffer.alloc(100_000, 7);
      const error = await (client.decodeReply(frame(corrupt, FrameFlag.BROTLI)) as Promise<ReplyMessage>).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(IrohClientError);
      expect(error).toMatchObject({ code: 'PROTOCOL_ERROR', message: expect.stringMatching(/^Malformed reply: /) });
    } finally {
      await small.close();
    }
  });
});
