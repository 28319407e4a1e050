/**
 * FrameStream (src/transport/frame-stream.ts) over a fake binding stream: how much it converts per
 * call, what the HELLO agreement changes on the wire, and streams that do not agree.
 */
import {
  EncodedPayload,
  ErrorCode,
  Feature,
  Frame,
  FrameFlag,
  FrameType,
  ProtocolError,
  decodeReplyMessage,
  decodeRequestMessage,
  encodeFrame,
  encodeReplyMessage,
  encodeRequestMessage,
  withDeadline,
} from '../../src/protocol';
import { FrameStream } from '../../src/transport';
import { FakeStreamSide, biStreamPair } from '../support/bi-stream-pair';

const ALL = Feature.DEADLINE | Feature.DRAIN | Feature.BROTLI | Feature.PATTERN_TABLE;

interface Endpoint {
  stream: FrameStream;
  side: FakeStreamSide;
  frames: Frame[];
  errors: ProtocolError[];
}

function open(side: FakeStreamSide, compressionThreshold = 1024, onClosed: () => void = () => undefined): Endpoint {
  const frames: Frame[] = [];
  const errors: ProtocolError[] = [];
  const stream: FrameStream = new FrameStream(
    side.stream,
    1 << 24,
    {
      onFrame: frame => frames.push(frame),
      onOversized: () => undefined,
      onProtocolError: error => errors.push(error),
      onClosed,
    },
    { compressionThreshold },
  ).start();
  return { stream, side, frames, errors };
}

function pair(threshold = 1024): { client: Endpoint; server: Endpoint } {
  const { a, b } = biStreamPair();
  return { client: open(a, threshold), server: open(b, threshold) };
}

async function until(condition: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise(r => setTimeout(r, 2));
  }
}

const bytesSent = (side: FakeStreamSide) => side.writeSizes.reduce((a, b) => a + b, 0);

const doc = { rows: Array.from({ length: 20_000 }, (_, i) => ({ id: i, name: `name ${i % 97}`, ok: i % 2 === 0 })) };

describe('FrameStream', () => {
  it('converts at most 64 KiB per binding call, each way, for a 1 MiB message', async () => {
    const { client, server } = pair(0);
    const big = Buffer.alloc(1 << 20, 0x61);
    client.stream.send(FrameType.REQUEST, 1, { bytes: big, flags: FrameFlag.BINARY });
    await until(() => server.frames.length === 1);
    expect(server.frames[0].payload.equals(big)).toBe(true);
    expect(Math.max(...client.side.writeSizes)).toBeLessThanOrEqual(64 * 1024);
    expect(Math.max(...server.side.readSizes)).toBeLessThanOrEqual(64 * 1024);
    expect(server.side.readSizes.length).toBeGreaterThanOrEqual(16);
  });

  it('with every feature agreed: patterns by reference, brotli for large payloads, frames in order', async () => {
    const { client, server } = pair();
    client.stream.agree(ALL);
    server.stream.agree(ALL);
    const requests: EncodedPayload[] = [
      withDeadline(encodeRequestMessage('echo', 'one', undefined, 0), 1000),
      encodeRequestMessage('echo', doc, undefined, 0),
      encodeRequestMessage('echo', 'three', { m: 1 }, 0),
      encodeRequestMessage('other', 'four', undefined, 0),
    ];
    requests.forEach((payload, i) => client.stream.send(FrameType.REQUEST, i + 1, payload));
    await until(() => server.frames.length === 4);
    expect(server.frames.map(f => f.id)).toEqual([1, 2, 3, 4]);
    expect(server.frames.map(f => f.pattern)).toEqual(['echo', 'echo', 'echo', 'other']);
    expect(server.frames.every(f => (f.flags & FrameFlag.PATTERN_REF) === 0)).toBe(true);
    expect(server.frames[1].flags & FrameFlag.BROTLI).toBe(FrameFlag.BROTLI);
    const decoded = server.frames.map(f => decodeRequestMessage(f, 1 << 24));
    expect(decoded[0]).toEqual({ envelope: false, body: { pattern: 'echo', data: 'one', metadata: undefined }, timeoutMs: 1000 });
    expect(decoded[1].envelope === false && decoded[1].body.data).toEqual(doc);
    expect(decoded[2]).toEqual({ envelope: false, body: { pattern: 'echo', data: 'three', metadata: { m: 1 } } });

    server.stream.send(FrameType.RESPONSE, 2, encodeReplyMessage({ response: doc }, 0));
    await until(() => client.frames.length === 1);
    expect(client.frames[0].flags).toBe(FrameFlag.BROTLI);
    expect(decodeReplyMessage(client.frames[0], 1 << 24)).toEqual({ response: doc, isDisposed: true });
  });

  it('sends fewer bytes per small request once the pattern is in the table', async () => {
    const sent = async (features: number) => {
      const { client, server } = pair();
      client.stream.agree(features);
      server.stream.agree(features);
      for (let i = 1; i <= 100; i++) client.stream.send(FrameType.REQUEST, i, encodeRequestMessage('echo', 'x'.repeat(64), undefined, 0));
      await until(() => server.frames.length === 100);
      return bytesSent(client.side);
    };
    const plain = await sent(0);
    const tabled = await sent(ALL);
    // 'echo' costs 5 bytes in full and 1 by reference: 4 bytes saved per request after the first.
    expect(plain - tabled).toBe(99 * 4 - 2);
  });

  it('toward a 1.0 peer (nothing agreed): no reference, no brotli; a 1.0 decoder reads everything', async () => {
    const { client, server } = pair();
    client.stream.send(FrameType.REQUEST, 1, encodeRequestMessage('echo', doc, undefined, 0));
    client.stream.send(FrameType.EVENT, 0, encodeRequestMessage('echo', 'e', undefined, 0));
    await until(() => server.frames.length === 2);
    expect(server.frames[0].flags).toBe(FrameFlag.COMPRESSED);
    expect(server.frames[1].flags).toBe(0);
    expect(server.frames.every(f => f.pattern === undefined)).toBe(true);
    expect(decodeRequestMessage(server.frames[1], 1 << 24)).toEqual({
      envelope: false,
      body: { pattern: 'echo', data: 'e', metadata: undefined },
    });
  });

  describe('finishAndWaitDelivered', () => {
    it('resolves when the peer answers our FIN with its own, without waiting for the ACK', async () => {
      const { a, b } = biStreamPair();
      const client = open(a);
      // The peer finishes its side once it has read ours, as both ends of the protocol do.
      const server: Endpoint = open(b, 1024, () => void server.stream.finish());
      client.stream.send(FrameType.EVENT, 0, encodeRequestMessage('last', 1, undefined, 0));
      await client.stream.finishAndWaitDelivered(10_000);
      expect(server.frames.map(f => f.type)).toEqual([FrameType.EVENT]);
    });

    it('waits for the ACK when the peer had finished before we did (its FIN proves nothing)', async () => {
      const { a, b } = biStreamPair();
      const client = open(a);
      const server = open(b);
      await server.stream.finish();
      await until(() => client.stream.isEnded);
      let delivered = false;
      const done = client.stream.finishAndWaitDelivered(10_000).then(() => (delivered = true));
      await new Promise(r => setTimeout(r, 30));
      expect(delivered).toBe(false);
      a.acknowledge();
      await done;
    });

    it('gives up after the timeout when neither comes', async () => {
      const { a, b } = biStreamPair();
      const client = open(a);
      open(b);
      const t0 = Date.now();
      await client.stream.finishAndWaitDelivered(50);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(45);
    });
  });

  describe('a peer that sends references it should not', () => {
    async function feed(agreed: number, frames: Buffer[]): Promise<Endpoint> {
      const { a, b } = biStreamPair();
      const server = open(b);
      server.stream.agree(agreed);
      for (const frame of frames) await a.stream.send.write([frame], frame.length);
      await until(() => server.errors.length > 0);
      return server;
    }
    const ref = (id: number, prefix: number[], body = Buffer.from([0, 0x31])) =>
      encodeFrame(FrameType.REQUEST, id, Buffer.concat([Buffer.from(prefix), body]), FrameFlag.PATTERN_REF);

    it('without an agreed table: protocol error, nothing handed on', async () => {
      const server = await feed(Feature.BROTLI, [ref(1, [0, 0, 1, 0x61])]);
      expect(server.errors[0].code).toBe(ErrorCode.PROTOCOL_ERROR);
      expect(server.frames).toEqual([]);
    });

    it('an unknown index: protocol error, and nothing after it is handed on', async () => {
      const server = await feed(ALL, [ref(1, [0, 0, 1, 0x61]), ref(2, [5]), ref(3, [1])]);
      expect(server.frames.map(f => f.id)).toEqual([1]);
      expect(server.errors).toHaveLength(1);
      expect(server.errors[0].message).toMatch(/unknown pattern index 4/);
      await new Promise(r => setTimeout(r, 20));
      expect(server.frames).toHaveLength(1);
    });

    it('a frame small enough to define a pattern, refused (over the limit): protocol error', async () => {
      const { a, b } = biStreamPair();
      const errors: ProtocolError[] = [];
      const oversized: number[] = [];
      const server = new FrameStream(b.stream, 8, {
        onFrame: () => undefined,
        onOversized: frame => oversized.push(frame.id),
        onProtocolError: error => errors.push(error),
        onClosed: () => undefined,
      }).start();
      server.agree(ALL);
      const first = encodeFrame(FrameType.REQUEST, 1, Buffer.alloc(100), 0);
      await a.stream.send.write([first], first.length);
      const second = ref(2, [0, 0, 1, 0x61], Buffer.alloc(100));
      await a.stream.send.write([second], second.length);
      await until(() => errors.length > 0);
      expect(oversized).toEqual([1]);
      expect(errors[0].message).toMatch(/may define a pattern was refused/);
    });

    it('a reference on a reply frame: UNKNOWN_FRAME', async () => {
      const server = await feed(ALL, [encodeFrame(FrameType.RESPONSE, 1, Buffer.from([1]), FrameFlag.PATTERN_REF)]);
      expect(server.errors[0].code).toBe(ErrorCode.UNKNOWN_FRAME);
    });
  });
});
