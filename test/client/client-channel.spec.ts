import { ClientChannel, ClientChannelHost } from '../../src/client/client-channel';
import { IrohClientError } from '../../src/client/client-errors';
import { ClientRequest, RequestRouter } from '../../src/client/client-request';
import {
  ErrorCode,
  Feature,
  Frame,
  FrameFlag,
  FrameType,
  ReplyMessage,
  decodeHello,
  decodeReplyMessage,
  decodeRequestMessage,
  encodeGoAway,
  encodeHello,
  encodeReplyMetadata,
  encodeRequestMessage,
  encodeValue,
  maybeCompress,
  withReplyMetadata,
} from '../../src/protocol';
import { FakeBiStream, settleIo } from '../support/fake-stream';

class FakeHost implements ClientChannelHost {
  readonly maxMessageSize = 1 << 20;
  readonly closed: IrohClientError[] = [];
  readonly draining: string[] = [];
  drained = 0;
  decodeReply(frame: Frame): ReplyMessage {
    return decodeReplyMessage(frame, this.maxMessageSize);
  }
  onChannelClosed(_channel: ClientChannel, error: IrohClientError): void {
    this.closed.push(error);
  }
  onChannelDraining(_channel: ClientChannel, reason: string): void {
    this.draining.push(reason);
  }
  onChannelDrained(): void {
    this.drained++;
  }
}

const NO_KEEP_ALIVE = { interval: 0, timeout: 0 };
const json = (value: unknown) => encodeValue(value).bytes;
const goingAway = json({ status: 'error', code: 'GOING_AWAY', message: 'Server is shutting down' });

function open(keepAlive = NO_KEEP_ALIVE) {
  const stream = new FakeBiStream();
  const host = new FakeHost();
  const channel = new ClientChannel(stream as any, host, keepAlive);
  return { stream, host, channel };
}

/** A channel whose server answered HELLO with `features`. */
async function ready(features: number) {
  const opened = open();
  const hello = opened.channel.hello(1000);
  opened.stream.push(FrameType.PONG, 0, features === -1 ? Buffer.alloc(0) : encodeHello(features));
  await hello;
  return opened;
}

function request(options: { deadline?: number; router?: RequestRouter } = {}) {
  const replies: ReplyMessage[] = [];
  const req = new ClientRequest({
    payload: encodeRequestMessage('sum', [1, 2], undefined, 0),
    callback: reply => replies.push(reply),
    deadline: options.deadline ?? Infinity,
  });
  req.router = options.router ?? null;
  return { req, replies };
}

describe('ClientChannel', () => {
  it('starts the stream with HELLO (PING id 0) announcing DEADLINE, DRAIN, BROTLI, PATTERN_TABLE and REPLY_METADATA', async () => {
    const { stream, channel } = open();
    await settleIo();
    expect(stream.written[0]).toMatchObject({ type: FrameType.PING, id: 0 });
    expect(decodeHello(stream.written[0].payload)).toEqual({
      revision: 1,
      features: Feature.DEADLINE | Feature.DRAIN | Feature.BROTLI | Feature.PATTERN_TABLE | Feature.REPLY_METADATA,
    });
    channel.close(new IrohClientError('CLIENT_CLOSED' as any, 'done'));
  });

  it('agrees on the features both sides announced; an empty PONG is a protocol 1.0 server', async () => {
    expect((await ready(Feature.DEADLINE | (1 << 7))).channel.features).toBe(Feature.DEADLINE);
    expect((await ready(-1)).channel.features).toBe(0);
  });

  it('fails HELLO after its timeout, and on a malformed answer with PROTOCOL_ERROR', async () => {
    const silent = open();
    await expect(silent.channel.hello(30)).rejects.toMatchObject({ code: 'TIMEOUT' });
    const garbled = open();
    const hello = garbled.channel.hello(1000);
    garbled.stream.push(FrameType.PONG, 0, Buffer.from([0x80]));
    await expect(hello).rejects.toMatchObject({ code: 'PROTOCOL_ERROR' });
    expect(garbled.channel.isClosed).toBe(true);
  });

  it('sends the time left with requests to a server that announced DEADLINE, and not to others', async () => {
    const modern = await ready(Feature.DEADLINE);
    const toModern = request({ deadline: Date.now() + 5000 }).req;
    modern.channel.write(toModern);
    const old = await ready(-1);
    const toOld = request({ deadline: Date.now() + 5000 }).req;
    old.channel.write(toOld);
    await settleIo();
    const [sent] = modern.stream.frames(FrameType.REQUEST);
    const decoded = decodeRequestMessage(sent, 1 << 20);
    expect(decoded.timeoutMs).toBeGreaterThan(4000);
    expect(decoded.timeoutMs).toBeLessThanOrEqual(5000);
    expect(decodeRequestMessage(old.stream.frames(FrameType.REQUEST)[0], 1 << 20).timeoutMs).toBeUndefined();
    toModern.cancel();
    toOld.cancel();
  });

  it('names patterns by reference and compresses with brotli toward a server that announced both, not toward a 1.0 server', async () => {
    const big = { rows: Array.from({ length: 2000 }, (_, i) => ({ i, name: `row ${i}` })) };
    const send = (channel: ClientChannel, data: unknown) =>
      channel.write(
        new ClientRequest({ payload: encodeRequestMessage('sum', data, undefined, 0), callback: () => undefined, deadline: Infinity }),
      );
    const modern = await ready(Feature.BROTLI | Feature.PATTERN_TABLE);
    const old = await ready(-1);
    for (const { channel } of [modern, old]) {
      send(channel, [1, 2]);
      send(channel, [3, 4]);
      send(channel, big);
    }
    await new Promise(r => setTimeout(r, 50));
    await settleIo();
    const flags = (s: typeof modern.stream) => s.frames(FrameType.REQUEST).map(f => f.flags);
    expect(flags(modern.stream)).toEqual([FrameFlag.PATTERN_REF, FrameFlag.PATTERN_REF, FrameFlag.PATTERN_REF | FrameFlag.BROTLI]);
    expect(flags(old.stream)).toEqual([0, 0, FrameFlag.COMPRESSED]);
    // The 1.0 layout decodes as it always did.
    const decoded = decodeRequestMessage(old.stream.frames(FrameType.REQUEST)[2], 1 << 20);
    expect(decoded).toMatchObject({ envelope: false, body: { pattern: 'sum', data: big } });
    for (const { channel } of [modern, old]) channel.close(new IrohClientError('CLIENT_CLOSED' as any, 'done'));
  });

  it('routes replies to their requests and reuses the id of a request that ended', async () => {
    const { stream, channel } = await ready(0);
    const a = request();
    const b = request();
    channel.write(a.req);
    channel.write(b.req);
    await settleIo();
    const [first, second] = stream.frames(FrameType.REQUEST).map(f => f.id);
    stream.push(FrameType.DATA, second, json('b1'));
    stream.push(FrameType.RESPONSE, first, json('a'));
    stream.push(FrameType.RESPONSE, second, json('b2'));
    await settleIo();
    expect(a.replies).toEqual([{ response: 'a', isDisposed: true }]);
    expect(b.replies).toEqual([{ response: 'b1' }, { response: 'b2', isDisposed: true }]);
    expect(channel.pendingCount).toBe(0);
    channel.write(request().req);
    await settleIo();
    expect(stream.frames(FrameType.REQUEST)[2].id).toBe(second);
  });

  it('a cancelled request gets CANCEL, its late replies are dropped, and its id is not reused', async () => {
    const { stream, channel } = await ready(0);
    const a = request();
    channel.write(a.req);
    await settleIo();
    const id = stream.frames(FrameType.REQUEST)[0].id;
    a.req.cancel();
    stream.push(FrameType.RESPONSE, id, json('late'));
    channel.write(request().req);
    await settleIo();
    expect(stream.frames(FrameType.CANCEL).map(f => f.id)).toEqual([id]);
    expect(a.replies).toEqual([]);
    expect(stream.frames(FrameType.REQUEST)[1].id).not.toBe(id);
  });

  it('passes a GOING_AWAY refusal to the router, without delivering it', async () => {
    const { stream, channel } = await ready(Feature.DRAIN);
    const rerouted: ClientRequest[] = [];
    const router: RequestRouter = { reroute: r => (rerouted.push(r), true), dequeue: () => undefined };
    const refused = request({ router });
    channel.write(refused.req);
    await settleIo();
    stream.push(FrameType.ERROR, stream.frames(FrameType.REQUEST)[0].id, goingAway);
    await settleIo();
    expect(rerouted).toEqual([refused.req]);
    expect(refused.replies).toEqual([]);
  });

  it('a GOING_AWAY refusal tells that the server is shutting down: nothing new goes to it', async () => {
    // A server of protocol 1.0 says so only this way: it sends its GOAWAY once drained.
    const { stream, host, channel } = await ready(-1);
    const inflight = request();
    const refused = request();
    channel.write(inflight.req);
    channel.write(refused.req);
    await settleIo();
    const [inflightId, refusedId] = stream.frames(FrameType.REQUEST).map(f => f.id);
    stream.push(FrameType.ERROR, refusedId, goingAway);
    await settleIo();
    expect(channel.isWritable).toBe(false);
    expect(host.draining).toHaveLength(1);
    expect(host.drained).toBe(0);
    stream.push(FrameType.RESPONSE, inflightId, json('done'));
    await settleIo();
    expect(inflight.replies).toEqual([{ response: 'done', isDisposed: true }]);
    expect(host.drained).toBe(1);
  });

  it('delivers a GOING_AWAY refusal when the request may not move', async () => {
    const { stream, channel } = await ready(0);
    const refused = request();
    channel.write(refused.req);
    await settleIo();
    stream.push(FrameType.ERROR, stream.frames(FrameType.REQUEST)[0].id, goingAway);
    await settleIo();
    expect(refused.replies).toEqual([
      { err: { status: 'error', code: 'GOING_AWAY', message: 'Server is shutting down' }, isDisposed: true },
    ]);
  });

  it('a GOAWAY from a server with DRAIN: nothing new is written, replies in flight still come, then it is drained', async () => {
    const { stream, host, channel } = await ready(Feature.DRAIN);
    const inflight = request();
    channel.write(inflight.req);
    await settleIo();
    stream.push(FrameType.GOAWAY, 0, encodeGoAway(ErrorCode.GOING_AWAY, 'server shutting down'));
    await settleIo();
    expect(host.draining).toEqual(['GOING_AWAY: server shutting down']);
    expect(channel.isWritable).toBe(false);
    expect(channel.write(request().req)).toBe(false);
    expect(host.drained).toBe(0);
    stream.push(FrameType.RESPONSE, stream.frames(FrameType.REQUEST)[0].id, json(3));
    await settleIo();
    expect(inflight.replies).toEqual([{ response: 3, isDisposed: true }]);
    expect(host.drained).toBe(1);
    expect(stream.frames(FrameType.REQUEST)).toHaveLength(1);
  });

  it('a GOAWAY from a server without DRAIN fails what is pending with CONNECTION_LOST', async () => {
    const { stream, host, channel } = await ready(0);
    const pending = request();
    channel.write(pending.req);
    await settleIo();
    stream.push(FrameType.GOAWAY, 0, encodeGoAway(ErrorCode.GOING_AWAY, 'bye'));
    await settleIo();
    expect(pending.replies).toEqual([{ err: expect.objectContaining({ code: 'CONNECTION_LOST' }), isDisposed: true }]);
    expect(host.closed).toHaveLength(1);
    expect(host.draining).toEqual([]);
  });

  it('the end of the stream fails what is pending (it may have run) and closes the channel', async () => {
    const { stream, host, channel } = await ready(Feature.DEADLINE | Feature.DRAIN);
    const pending = request();
    channel.write(pending.req);
    await settleIo();
    stream.end();
    await settleIo();
    expect(pending.replies).toEqual([{ err: expect.objectContaining({ code: 'CONNECTION_LOST' }), isDisposed: true }]);
    expect(pending.req.isRetryable).toBe(false);
    expect(host.closed.map(e => e.code)).toEqual(['CONNECTION_LOST']);
    expect(channel.isWritable).toBe(false);
  });

  it('keep-alive: a silent server fails the channel with CONNECTION_LOST', async () => {
    const { stream, host } = open({ interval: 20, timeout: 60 });
    await new Promise(r => setTimeout(r, 200));
    expect(host.closed.map(e => e.message)).toEqual([expect.stringMatching(/keep-alive/)]);
    expect(stream.frames(FrameType.PING).length).toBeGreaterThan(1);
  });

  it("answers the server's PINGs and measures ping() round trips", async () => {
    const { stream, channel } = await ready(0);
    stream.push(FrameType.PING, 42);
    const rtt = channel.ping(1000);
    await settleIo();
    const ping = stream.frames(FrameType.PING).find(f => f.id !== 0)!;
    stream.push(FrameType.PONG, ping.id);
    await expect(rtt).resolves.toBeGreaterThan(0);
    expect(stream.frames(FrameType.PONG).map(f => f.id)).toEqual([42]);
  });

  it('hands the reply metadata of the frame that ends a request to it, with the reply decoded as usual', async () => {
    const { stream, channel } = await ready(Feature.REPLY_METADATA);
    const streamed = request();
    const failed = request();
    const compressed = request();
    for (const r of [streamed, failed, compressed]) channel.write(r.req);
    await settleIo();
    const [a, b, c] = stream.frames(FrameType.REQUEST).map(f => f.id);
    const metadata = encodeReplyMetadata({ etag: 'v2', n: 1 });
    stream.push(FrameType.DATA, a, json(1));
    const end = withReplyMetadata(encodeValue(undefined), metadata);
    stream.push(FrameType.END, a, end.bytes, end.flags);
    const error = withReplyMetadata(encodeValue({ code: 'E' }), encodeReplyMetadata({ retry: true }));
    stream.push(FrameType.ERROR, b, error.bytes, error.flags);
    const big = withReplyMetadata(maybeCompress(encodeValue('x'.repeat(4000)), 1), metadata);
    stream.push(FrameType.RESPONSE, c, big.bytes, big.flags);
    await settleIo();
    expect(streamed.replies).toEqual([{ response: 1 }, { isDisposed: true, replyMetadata: { etag: 'v2', n: 1 } }]);
    expect(failed.replies).toEqual([{ err: { code: 'E' }, isDisposed: true, replyMetadata: { retry: true } }]);
    expect(compressed.replies).toEqual([{ response: 'x'.repeat(4000), isDisposed: true, replyMetadata: { etag: 'v2', n: 1 } }]);
  });

  it('fails a request whose reply metadata is malformed or comes before its last reply, and keeps the stream', async () => {
    const { stream, channel } = await ready(Feature.REPLY_METADATA);
    const early = request();
    const garbled = request();
    channel.write(early.req);
    channel.write(garbled.req);
    await settleIo();
    const [a, b] = stream.frames(FrameType.REQUEST).map(f => f.id);
    const onData = withReplyMetadata(encodeValue(1), encodeReplyMetadata({ x: 1 }));
    stream.push(FrameType.DATA, a, onData.bytes, onData.flags);
    stream.push(FrameType.RESPONSE, b, Buffer.from([0x03, 0x5b, 0x31, 0x5d]), FrameFlag.REPLY_METADATA);
    await settleIo();
    expect(early.replies).toEqual([{ err: expect.objectContaining({ code: 'PROTOCOL_ERROR' }), isDisposed: true }]);
    expect(garbled.replies).toEqual([{ err: expect.objectContaining({ code: 'PROTOCOL_ERROR' }), isDisposed: true }]);
    expect(stream.frames(FrameType.CANCEL).map(f => f.id)).toEqual([a]);
    expect(channel.isClosed).toBe(false);
  });
});
