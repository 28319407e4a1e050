/** Request and reply messages as frames (src/protocol/messages.ts). */
import {
  ErrorCode,
  Frame,
  FrameFlag,
  FrameType,
  decodeReplyMessage,
  decodeRequestMessage,
  encodeEnvelope,
  encodeReplyMessage,
  encodeRequestMessage,
  isFinalReply,
  replyFrameType,
} from '../../src/protocol';
import { expectProtocolError } from '../support/expect-protocol-error';

describe('request messages', () => {
  it('decodes requests through decodeRequestMessage, compressed or as envelopes', () => {
    const data = { rows: Array.from({ length: 300 }, (_, i) => i) };
    const enc = encodeRequestMessage('big', data, { m: 1 }, 64);
    expect(enc.flags & FrameFlag.COMPRESSED).toBe(FrameFlag.COMPRESSED);
    const frame: Frame = { type: FrameType.REQUEST, flags: enc.flags, id: 1, payload: enc.bytes };
    expect(decodeRequestMessage(frame, 1 << 20)).toEqual({ envelope: false, body: { pattern: 'big', data, metadata: { m: 1 } } });
    // The decompressed size counts against the limit, not the wire size.
    expectProtocolError(() => decodeRequestMessage(frame, 100), ErrorCode.MESSAGE_TOO_LARGE);

    const env = encodeEnvelope({ pattern: 'x', data: 1 }, 0);
    expect(env.flags).toBe(FrameFlag.ENVELOPE);
    expect(decodeRequestMessage({ type: FrameType.REQUEST, flags: env.flags, id: 1, payload: env.bytes }, 1 << 20)).toEqual({
      envelope: true,
      value: { pattern: 'x', data: 1 },
    });
  });
});

describe('replies', () => {
  it('picks the frame type Nest reply messages map to', () => {
    expect(replyFrameType({ err: 'x', isDisposed: true })).toBe(FrameType.ERROR);
    expect(replyFrameType({ err: undefined })).toBe(FrameType.ERROR);
    expect(replyFrameType({ response: 1, isDisposed: true })).toBe(FrameType.RESPONSE);
    expect(replyFrameType({ response: undefined, isDisposed: true })).toBe(FrameType.END);
    expect(replyFrameType({ response: 1 })).toBe(FrameType.DATA);
    expect([FrameType.RESPONSE, FrameType.END, FrameType.ERROR].every(isFinalReply)).toBe(true);
    expect([FrameType.DATA, FrameType.REQUEST, FrameType.PING].some(isFinalReply)).toBe(false);
  });

  it('round-trips reply messages', () => {
    const messages = [
      { response: { a: 1 }, isDisposed: true },
      { response: 2 },
      { err: { code: 'E' }, isDisposed: true },
      { isDisposed: true },
    ];
    for (const message of messages) {
      const enc = encodeReplyMessage(message, 1024);
      const frame: Frame = { type: replyFrameType(message), flags: enc.flags, id: 1, payload: enc.bytes };
      expect(decodeReplyMessage(frame, 1 << 20)).toEqual(message);
    }
  });

  it('refuses malformed reply payloads with a ProtocolError', () => {
    const frame: Frame = { type: FrameType.RESPONSE, flags: 0, id: 1, payload: Buffer.from('{') };
    expectProtocolError(() => decodeReplyMessage(frame, 100), ErrorCode.MALFORMED_PAYLOAD);
  });
});
