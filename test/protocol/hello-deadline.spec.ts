import {
  ErrorCode,
  Feature,
  FrameFlag,
  FrameType,
  HELLO_REVISION,
  NO_HELLO,
  ProtocolError,
  decodeHello,
  decodeRequestMessage,
  encodeHello,
  encodeRequestMessage,
  sharedFeatures,
  withDeadline,
} from '../../src/protocol';

describe('HELLO', () => {
  it('round-trips the revision and feature bits', () => {
    const features = Feature.DEADLINE | Feature.DRAIN;
    expect(decodeHello(encodeHello(features))).toEqual({ revision: HELLO_REVISION, features });
  });

  it('reads an empty payload (a protocol 1.0 peer) as no features', () => {
    expect(decodeHello(Buffer.alloc(0))).toEqual(NO_HELLO);
  });

  it('ignores fields a later revision appends', () => {
    const later = Buffer.concat([encodeHello(Feature.DRAIN), Buffer.from([0x05, 0x01, 0x02])]);
    expect(decodeHello(later).features).toBe(Feature.DRAIN);
  });

  it('refuses a truncated HELLO as a protocol error', () => {
    const truncated = Buffer.from([0x01]);
    expect(() => decodeHello(truncated)).toThrow(ProtocolError);
    expect(() => decodeHello(Buffer.from([0x81]))).toThrow('malformed HELLO');
  });

  it('uses only the features both sides announced', () => {
    expect(sharedFeatures(Feature.DEADLINE | Feature.DRAIN, { revision: 1, features: Feature.DRAIN | 0x100 })).toBe(Feature.DRAIN);
    expect(sharedFeatures(Feature.DEADLINE, NO_HELLO)).toBe(0);
  });
});

describe('request deadlines', () => {
  const frameOf = (payload: { bytes: Buffer; flags: number }) => ({
    type: FrameType.REQUEST,
    id: 1,
    flags: payload.flags,
    payload: payload.bytes,
  });

  it('carry the remaining milliseconds before the body, plain or compressed', () => {
    for (const data of ['small', 'x'.repeat(5000)]) {
      const encoded = withDeadline(encodeRequestMessage('sum', data, { a: 1 }, 1024), 1234.2);
      expect(encoded.flags & FrameFlag.DEADLINE).toBe(FrameFlag.DEADLINE);
      const decoded = decodeRequestMessage(frameOf(encoded), 1 << 20);
      expect(decoded).toEqual({ envelope: false, body: { pattern: 'sum', data, metadata: { a: 1 } }, timeoutMs: 1235 });
    }
  });

  it('are absent when the caller set none', () => {
    const decoded = decodeRequestMessage(frameOf(encodeRequestMessage('sum', 1, undefined, 0)), 1 << 20);
    expect(decoded.timeoutMs).toBeUndefined();
  });

  it('count at least 1 ms, so an expired deadline still reads as one', () => {
    const decoded = decodeRequestMessage(frameOf(withDeadline(encodeRequestMessage('p', 1, undefined, 0), 0)), 1 << 20);
    expect(decoded.timeoutMs).toBe(1);
  });

  it('refuse a zero or truncated deadline as a malformed payload', () => {
    for (const bytes of [Buffer.from([0x00, 0x01, 0x70]), Buffer.from([0x80])]) {
      let error: unknown;
      try {
        decodeRequestMessage({ type: FrameType.REQUEST, id: 1, flags: FrameFlag.DEADLINE, payload: bytes }, 1 << 20);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(ProtocolError);
      expect((error as ProtocolError).code).toBe(ErrorCode.MALFORMED_PAYLOAD);
    }
  });
});
