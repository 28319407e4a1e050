/**
 * The features a HELLO agrees on the byte path (docs/protocol.md, "Compression", "Pattern
 * table"), end to end over real endpoints on loopback: a client and a server that both have
 * them, a new client against a server of protocol 1.0, and raw 1.0 clients (no HELLO) and raw
 * clients that misuse the pattern table against a new server.
 */
import { randomBytes } from 'crypto';
import iroh = require('@number0/iroh/index.js');
import { ClientIroh } from '../../src';
import {
  ErrorCode,
  Feature,
  Frame,
  FrameFlag,
  FrameType,
  HELLO_ID,
  StreamEncoder,
  decodeGoAway,
  decodeHello,
  decodeReplyMessage,
  encodeFrame,
  encodeHello,
  encodeRequestMessage,
} from '../../src/protocol';
import { RunningServer, call, eventually, irohClient, startIrohServer } from '../support/harness';
import { MathModule, observed } from '../support/math.app';
import { OldServer } from '../support/old-server';
import { RawPeer, readFrames, request, send, watchFrames } from '../support/raw-peer';

jest.setTimeout(30_000);

const doc = { records: Array.from({ length: 6000 }, (_, i) => ({ id: i, name: `record ${i % 97}`, tags: ['a', 'b'], ok: i % 2 === 0 })) };

/** The features the client's stream agreed with its server. */
function agreed(client: ClientIroh): number {
  return (client as unknown as { active: { channel: { features: number } } | null }).active?.channel.features ?? -1;
}

describe('byte-path features between a client and a server that both have them', () => {
  let running: RunningServer;
  let client: ClientIroh;

  beforeAll(async () => {
    running = await startIrohServer(MathModule);
    client = irohClient(running.ticket);
  });

  afterAll(async () => {
    await client?.close();
    await running?.app.close();
  });

  it('agree on BROTLI and PATTERN_TABLE, and large and small messages round-trip', async () => {
    expect(await call(client, 'echo', 'first')).toBe('first');
    expect(agreed(client) & (Feature.BROTLI | Feature.PATTERN_TABLE)).toBe(Feature.BROTLI | Feature.PATTERN_TABLE);
    expect(await call(client, 'echo', doc)).toEqual(doc);
    const noise = randomBytes(300_000);
    expect(Buffer.from(await call(client, 'echo', noise))).toEqual(noise);
  });

  it('many requests over a few patterns, object patterns included, reach the right handlers', async () => {
    const calls = Array.from({ length: 300 }, (_, i) =>
      i % 3 === 0 ? call(client, 'sum', [i, 1]) : i % 3 === 1 ? call(client, { cmd: 'sum', version: 2 }, [i, 2]) : call(client, 'echo', i),
    );
    const results = await Promise.all(calls);
    results.forEach((value, i) => {
      if (i % 3 === 0) expect(value).toBe(i + 1);
      else if (i % 3 === 2) expect(value).toBe(i);
    });
  });

  it('events name their pattern by reference too', async () => {
    observed.reset();
    for (let i = 0; i < 5; i++) await client.emit('item.created', { i }).toPromise();
    await eventually(() => observed.events.length === 5, 5000, 'events');
    expect(observed.events).toEqual([0, 1, 2, 3, 4].map(i => ({ i })));
  });
});

describe('a new client toward a server of protocol 1.0', () => {
  let old: OldServer;
  let client: ClientIroh;

  beforeAll(async () => {
    old = await OldServer.start();
    client = irohClient(old.ticket);
  });

  afterAll(async () => {
    await client?.close();
    await old?.close();
  });

  it('agrees on nothing, and sends only what 1.0 reads: full patterns, DEFLATE', async () => {
    expect(await call(client, 'echo', 'a')).toBe('a');
    expect(agreed(client)).toBe(0);
    expect(await call(client, 'echo', 'b')).toBe('b');
    expect(await call(client, 'echo', doc)).toEqual(doc);
    expect(old.refusals).toEqual([]);
    const requests = old.received.filter(f => f.type === FrameType.REQUEST);
    expect(requests.map(f => f.flags & ~FrameFlag.DEADLINE)).toEqual([0, 0, FrameFlag.COMPRESSED]);
  });
});

describe('raw clients against a new server', () => {
  let running: RunningServer;
  let peer: RawPeer;

  beforeAll(async () => {
    running = await startIrohServer(MathModule);
    peer = await RawPeer.bind();
  });

  afterAll(async () => {
    await peer?.close();
    await running?.app.close();
  });

  async function stream(): Promise<{ connection: iroh.Connection; bi: iroh.BiStream }> {
    const connection = await peer.connect(running.ticket);
    return { connection, bi: await connection.openBi() };
  }

  const reply = (frames: Frame[], id: number) => frames.find(f => f.id === id && f.type === FrameType.RESPONSE) as Frame;

  it('a 1.0 client (no HELLO) gets DEFLATE, never brotli', async () => {
    const { connection, bi } = await stream();
    await send(bi, request(1, 'echo', doc));
    const { frames } = await readFrames(bi, 10_000, f => f.some(x => x.id === 1));
    expect(reply(frames, 1).flags).toBe(FrameFlag.COMPRESSED);
    expect(decodeReplyMessage(reply(frames, 1), 1 << 24).response).toEqual(doc);
    peer.drop(connection);
  });

  it('a client that announced BROTLI gets brotli for large replies', async () => {
    const { connection, bi } = await stream();
    await send(bi, encodeFrame(FrameType.PING, HELLO_ID, encodeHello(Feature.BROTLI)), request(1, 'echo', doc));
    const { frames } = await readFrames(bi, 10_000, f => f.some(x => x.id === 1));
    const hello = frames.find(f => f.type === FrameType.PONG && f.id === HELLO_ID) as Frame;
    expect(decodeHello(hello.payload).features & Feature.BROTLI).toBe(Feature.BROTLI);
    expect(reply(frames, 1).flags).toBe(FrameFlag.BROTLI);
    expect(decodeReplyMessage(reply(frames, 1), 1 << 24).response).toEqual(doc);
    peer.drop(connection);
  });

  it('pattern references from a client that announced PATTERN_TABLE are resolved in order', async () => {
    const { connection, bi } = await stream();
    const encoder = new StreamEncoder(0);
    encoder.agree(Feature.PATTERN_TABLE);
    const frame = async (id: number, pattern: string, data: unknown) => {
      const wire = await encoder.encode(FrameType.REQUEST, encodeRequestMessage(pattern, data, undefined, 0));
      return encodeFrame(FrameType.REQUEST, id, Buffer.concat([wire.prefix ?? Buffer.alloc(0), wire.body]), wire.flags);
    };
    const frames = [await frame(1, 'sum', [1, 2]), await frame(2, 'echo', 'x'), await frame(3, 'sum', [3, 4]), await frame(4, 'echo', 'y')];
    expect(frames.slice(2).every(f => f[1] & FrameFlag.PATTERN_REF)).toBe(true);
    await send(bi, encodeFrame(FrameType.PING, HELLO_ID, encodeHello(Feature.PATTERN_TABLE)), ...frames);
    const { frames: got } = await readFrames(bi, 10_000, f => [1, 2, 3, 4].every(id => f.some(x => x.id === id)));
    expect([1, 2, 3, 4].map(id => decodeReplyMessage(reply(got, id), 1 << 20).response)).toEqual([3, 'x', 7, 'y']);
    peer.drop(connection);
  });

  it('a reference to a pattern never defined closes the connection with PROTOCOL_ERROR', async () => {
    const { connection, bi } = await stream();
    const watch = watchFrames(bi);
    await send(
      bi,
      encodeFrame(FrameType.PING, HELLO_ID, encodeHello(Feature.PATTERN_TABLE)),
      encodeFrame(FrameType.REQUEST, 1, Buffer.from([5, 0, 0x31]), FrameFlag.PATTERN_REF),
    );
    const goAway = await watch.next(f => f.type === FrameType.GOAWAY, 10_000);
    expect(decodeGoAway(goAway.payload)).toMatchObject({ code: ErrorCode.PROTOCOL_ERROR });
    expect(decodeGoAway(goAway.payload).reason).toMatch(/unknown pattern index 4/);
    peer.drop(connection);
  });

  it('a server whose maxMessageSize is under 1 KiB does not announce PATTERN_TABLE (it could not read every definition)', async () => {
    const small = await startIrohServer(MathModule, { maxMessageSize: 512 });
    try {
      const connection = await peer.connect(small.ticket);
      const bi = await connection.openBi();
      await send(bi, encodeFrame(FrameType.PING, HELLO_ID, encodeHello(Feature.PATTERN_TABLE | Feature.BROTLI)));
      const { frames } = await readFrames(bi, 5000, f => f.some(x => x.type === FrameType.PONG));
      const features = decodeHello((frames.find(f => f.type === FrameType.PONG) as Frame).payload).features;
      expect(features & (Feature.PATTERN_TABLE | Feature.BROTLI)).toBe(Feature.BROTLI);
      peer.drop(connection);
    } finally {
      await small.app.close();
    }
  });

  it('a reference from a client that did not announce PATTERN_TABLE is a protocol error too', async () => {
    const { connection, bi } = await stream();
    const watch = watchFrames(bi);
    await send(bi, encodeFrame(FrameType.REQUEST, 1, Buffer.from([0, 0, 3, ...Buffer.from('sum'), 0, 0x31]), FrameFlag.PATTERN_REF));
    const goAway = await watch.next(f => f.type === FrameType.GOAWAY, 10_000);
    expect(decodeGoAway(goAway.payload).code).toBe(ErrorCode.PROTOCOL_ERROR);
    peer.drop(connection);
  });
});
