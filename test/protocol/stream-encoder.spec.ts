/**
 * The per-stream end of encoding (src/protocol/stream-encoder.ts): what a message looks like on
 * the wire toward a protocol 1.0 peer and toward one that shares a pattern table and brotli,
 * decoded back the way a receiver does.
 */
import {
  EncodedPayload,
  ErrorCode,
  Feature,
  Frame,
  FrameFlag,
  FrameType,
  PatternTableReader,
  StreamEncoder,
  WirePayload,
  decodeReplyMessage,
  decodeRequestMessage,
  encodeEnvelope,
  encodeReplyMessage,
  encodeReplyMetadata,
  encodeRequestMessage,
  takeReplyMetadata,
  withDeadline,
  withReplyMetadata,
} from '../../src/protocol';
import { expectProtocolError } from '../support/expect-protocol-error';

const ALL = Feature.DEADLINE | Feature.DRAIN | Feature.BROTLI | Feature.PATTERN_TABLE;

function frameOf(type: FrameType, wire: WirePayload): Frame {
  const payload = wire.prefix ? Buffer.concat([wire.prefix, wire.body]) : wire.body;
  return { type, id: 1, flags: wire.flags, payload };
}

/** What a receiving stream does before decoding: resolve the pattern reference. */
function received(frame: Frame, table: PatternTableReader): Frame {
  if (!(frame.flags & FrameFlag.PATTERN_REF)) return frame;
  const { pattern, offset } = table.read(frame.payload);
  return { ...frame, pattern, payload: frame.payload.subarray(offset), flags: frame.flags & ~FrameFlag.PATTERN_REF };
}

async function encode(encoder: StreamEncoder, type: FrameType, payload: EncodedPayload): Promise<WirePayload> {
  return encoder.encode(type, payload);
}

const bigData = { rows: Array.from({ length: 3000 }, (_, i) => ({ i, name: `row ${i}`, tags: ['x', 'y'] })) };

describe('StreamEncoder', () => {
  it('toward a protocol 1.0 peer: the 1.0 layout, DEFLATE, nothing a 1.0 decoder cannot read', async () => {
    const encoder = new StreamEncoder(1024);
    for (const data of ['small', bigData]) {
      const wire = await encode(encoder, FrameType.REQUEST, withDeadline(encodeRequestMessage('sum', data, { m: 1 }, 0), 250));
      expect(wire.flags & (FrameFlag.BROTLI | FrameFlag.PATTERN_REF)).toBe(0);
      const decoded = decodeRequestMessage(frameOf(FrameType.REQUEST, wire), 1 << 24);
      expect(decoded).toEqual({ envelope: false, body: { pattern: 'sum', data, metadata: { m: 1 } }, timeoutMs: 250 });
      if (data === bigData) expect(wire.flags & FrameFlag.COMPRESSED).toBe(FrameFlag.COMPRESSED);
    }
  });

  it('toward a peer with every feature: pattern defined then referenced, deadline after it, brotli body', async () => {
    const encoder = new StreamEncoder(1024);
    encoder.agree(ALL);
    const table = new PatternTableReader();
    const sizes: number[] = [];
    for (const data of ['a', 'b', bigData]) {
      const wire = await encode(encoder, FrameType.REQUEST, withDeadline(encodeRequestMessage('echo', data, undefined, 0), 99));
      sizes.push(wire.body.length + (wire.prefix?.length ?? 0));
      const decoded = decodeRequestMessage(received(frameOf(FrameType.REQUEST, wire), table), 1 << 24);
      expect(decoded).toEqual({ envelope: false, body: { pattern: 'echo', data, metadata: undefined }, timeoutMs: 99 });
      if (data === bigData) expect(wire.flags & FrameFlag.BROTLI).toBe(FrameFlag.BROTLI);
    }
    // The second request names 'echo' with one byte instead of five (varint + 4 bytes).
    const plain = encodeRequestMessage('echo', 'b', undefined, 0).bytes.length + 1;
    expect(sizes[1]).toBe(plain - 4);
    expect(table.size).toBe(1);
  });

  it('events use the table too; envelopes and replies never carry a reference', async () => {
    const encoder = new StreamEncoder(1024);
    encoder.agree(ALL);
    const event = await encode(encoder, FrameType.EVENT, encodeRequestMessage('ev', 1, undefined, 0));
    expect(event.flags & FrameFlag.PATTERN_REF).toBe(FrameFlag.PATTERN_REF);
    const envelope = await encode(encoder, FrameType.REQUEST, encodeEnvelope({ pattern: 'ev', data: 1 }, 0));
    expect(envelope.flags & FrameFlag.PATTERN_REF).toBe(0);
    const reply = await encode(encoder, FrameType.RESPONSE, encodeReplyMessage({ response: bigData }, 0));
    expect(reply.prefix).toBeNull();
    expect(reply.flags).toBe(FrameFlag.BROTLI);
    expect(decodeReplyMessage(frameOf(FrameType.RESPONSE, reply), 1 << 24)).toEqual({ response: bigData, isDisposed: true });
  });

  it('passes payloads compressed earlier through untouched (their pattern is inside the compressed bytes)', async () => {
    const encoder = new StreamEncoder(1024);
    encoder.agree(ALL);
    const early = withDeadline(encodeRequestMessage('sum', bigData, undefined, 1024), 5);
    const wire = await encode(encoder, FrameType.REQUEST, early);
    expect(wire.flags).toBe(early.flags);
    expect(frameOf(FrameType.REQUEST, wire).payload.equals(early.bytes)).toBe(true);
  });

  it('sends small requests uncompressed and large ones through a promise', async () => {
    const encoder = new StreamEncoder(1024);
    encoder.agree(ALL);
    expect(encoder.encode(FrameType.REQUEST, encodeRequestMessage('p', 'x', undefined, 0))).not.toBeInstanceOf(Promise);
    const large = encoder.encode(FrameType.REQUEST, encodeRequestMessage('p', bigData, undefined, 0));
    expect(large).toBeInstanceOf(Promise);
    expect((await large).flags).toBe(FrameFlag.BROTLI | FrameFlag.PATTERN_REF);
  });

  it('a decoder refuses a reference nobody resolved', async () => {
    const encoder = new StreamEncoder(0);
    encoder.agree(ALL);
    const wire = await encode(encoder, FrameType.REQUEST, encodeRequestMessage('p', 1, undefined, 0));
    expectProtocolError(() => decodeRequestMessage(frameOf(FrameType.REQUEST, wire), 1 << 20), ErrorCode.PROTOCOL_ERROR);
  });

  it('keeps reply metadata outside the compressed bytes, where the client takes it off', async () => {
    const encoder = new StreamEncoder(1024);
    encoder.agree(ALL | Feature.REPLY_METADATA);
    const value = 'z'.repeat(20_000);
    const reply = withReplyMetadata(encodeReplyMessage({ response: value, isDisposed: true }, 0), encodeReplyMetadata({ etag: 'v1' }));
    const wire = await encode(encoder, FrameType.RESPONSE, reply);
    expect(wire.flags).toBe(FrameFlag.REPLY_METADATA | FrameFlag.BROTLI);
    expect(wire.body.length).toBeLessThan(1000);
    const taken = takeReplyMetadata(frameOf(FrameType.RESPONSE, wire));
    expect(taken.metadata).toEqual({ etag: 'v1' });
    expect(decodeReplyMessage(taken.frame, 1 << 20)).toEqual({ response: value, isDisposed: true });
  });
});
