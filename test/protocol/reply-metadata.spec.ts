import {
  FrameFlag,
  FrameType,
  MAX_REPLY_METADATA_SIZE,
  ProtocolError,
  decodeFrameValue,
  encodeReplyMetadata,
  encodeValue,
  maybeCompress,
  takeReplyMetadata,
  withReplyMetadata,
} from '../../src/protocol';

const frameOf = (payload: { bytes: Buffer; flags: number }, type = FrameType.RESPONSE) => ({
  type,
  id: 7,
  ...{ payload: payload.bytes, flags: payload.flags },
});

describe('reply metadata', () => {
  it('travels before the reply, which decodes as without it (compressed or not)', () => {
    const metadata = encodeReplyMetadata({ etag: 'v2', tags: ['a'] });
    for (const value of [encodeValue({ total: 6 }), maybeCompress(encodeValue('y'.repeat(5000)), 1), encodeValue(Buffer.from([1, 2]))]) {
      const frame = frameOf(withReplyMetadata(value, metadata));
      expect(frame.flags & FrameFlag.REPLY_METADATA).toBeTruthy();
      const taken = takeReplyMetadata(frame);
      expect(taken.metadata).toEqual({ etag: 'v2', tags: ['a'] });
      expect(taken.frame.flags).toBe(value.flags);
      expect(decodeFrameValue(taken.frame, 1 << 20)).toEqual(decodeFrameValue(frameOf(value), 1 << 20));
    }
  });

  it('leaves a frame without the flag as it is', () => {
    const frame = frameOf(encodeValue(1));
    expect(takeReplyMetadata(frame)).toEqual({ frame, metadata: undefined });
  });

  it('refuses to send anything but a plain JSON object within the limit', () => {
    expect(() => encodeReplyMetadata([1])).toThrow(TypeError);
    expect(() => encodeReplyMetadata('text')).toThrow(TypeError);
    expect(() => encodeReplyMetadata(null)).toThrow(TypeError);
    expect(() => encodeReplyMetadata({ big: 'x'.repeat(MAX_REPLY_METADATA_SIZE) })).toThrow(/more than 8192/);
    expect(encodeReplyMetadata({}).toString()).toBe('{}');
  });

  it('reads a malformed prefix as MALFORMED_PAYLOAD', () => {
    const malformed = [
      Buffer.from([0x80]), // truncated varint
      Buffer.from([0x05, 0x7b]), // longer than the payload
      Buffer.from([0x03, 0x5b, 0x31, 0x5d]), // [1]: not an object
      Buffer.from([0x02, 0x7b, 0x7b]), // not JSON
      Buffer.from([0x81, 0x80, 0x01]), // above the limit
    ];
    for (const payload of malformed) {
      expect(() => takeReplyMetadata({ type: FrameType.END, id: 1, flags: FrameFlag.REPLY_METADATA, payload })).toThrow(ProtocolError);
    }
  });
});
