import type { LoggerService } from '@nestjs/common';
import type { IoBiStream, IoConnection } from '../../src/iroh';
import {
  ErrorCode,
  Feature,
  Frame,
  FrameDecoder,
  FrameType,
  HELLO_ID,
  ReplyMessage,
  decodeGoAway,
  decodeHello,
  encodeFrame,
  encodeHello,
  encodeReplyMessage,
  encodeRequestBody,
  isFinalReply,
  replyFrameType,
} from '../../src/protocol';
import { NOOP_SERVER_TELEMETRY } from '../../src/observability';
import type { PeerConnection } from '../../src/server/connection-registry';
import { FrameScheduler } from '../../src/server/frame-scheduler';
import { ReadSlots } from '../../src/server/read-slots';
import { ReceivePool } from '../../src/server/receive-pool';
import { ServerChannel, ServerChannelHost } from '../../src/server/server-channel';
import type { ServerRequest } from '../../src/server/server-request';

/**
 * ServerChannel through its host interface, over a fake stream: bytes the test pushes are
 * what the client sent; bytes the channel writes are decoded back into frames.
 */
class FakeStream {
  readonly written: Frame[] = [];
  finished = false;
  private readonly decoder = new FrameDecoder(1 << 20, {
    onFrame: f => this.written.push({ ...f, payload: Buffer.from(f.payload) }),
    onOversized: () => undefined,
    onError: e => {
      throw e;
    },
  });
  private incoming: Array<Buffer | null> = [];
  private waiting: ((bytes: Buffer) => void) | null = null;

  readonly bi = {
    send: {
      write: async (parts: Buffer[]) => parts.forEach(part => this.decoder.push(Buffer.from(part))),
      finish: async () => {
        this.finished = true;
      },
      stopped: async () => null,
      reset: async () => undefined,
    },
    recv: {
      read: (_size: number) =>
        new Promise<Buffer>(resolve => {
          const next = this.incoming.shift();
          if (next !== undefined) resolve(next ?? Buffer.alloc(0));
          else this.waiting = bytes => resolve(bytes);
        }),
      stop: async () => undefined,
    },
  } as unknown as IoBiStream;

  /** What the client sends; `null` finishes its side. */
  push(bytes: Buffer | null): void {
    const chunk = bytes === null ? Buffer.alloc(0) : Buffer.from(bytes);
    if (this.waiting) {
      const waiting = this.waiting;
      this.waiting = null;
      waiting(chunk);
    } else {
      this.incoming.push(bytes === null ? null : chunk);
    }
  }
}

class FakeHost implements ServerChannelHost {
  readonly maxMessageSize = 1024;
  readonly maxPendingReplyBytes = 1 << 20;
  readonly scheduler = new FrameScheduler();
  readonly readSlots = new ReadSlots();
  readonly features = Feature.DEADLINE | Feature.DRAIN;
  readonly telemetry = NOOP_SERVER_TELEMETRY;
  readonly compressionThreshold = 1024;
  readonly warnings: string[] = [];
  readonly logger = {
    log: () => undefined,
    error: () => undefined,
    warn: (m: string) => this.warnings.push(m),
  } as unknown as LoggerService;
  readonly requests: Frame[] = [];
  readonly events: Frame[] = [];
  started = 0;
  ended = 0;
  closed = 0;

  onRequest(_channel: ServerChannel, frame: Frame): void {
    this.requests.push(frame);
  }
  onEvent(_channel: ServerChannel, frame: Frame): void {
    this.events.push(frame);
  }
  onOversized(channel: ServerChannel): void {
    channel.recordBadMessage();
  }
  onUploadValue(_channel: ServerChannel, request: ServerRequest, frame: Frame): void {
    request.upload?.onValue(frame);
  }
  onOutOfMemory(): void {}
  writeReply(channel: ServerChannel, request: ServerRequest, message: ReplyMessage): void {
    const payload = encodeReplyMessage(message, 0);
    const type = replyFrameType(message);
    channel.write(type, request.id, payload.bytes, payload.flags);
    if (isFinalReply(type)) request.finished();
  }
  requestStarted(): void {
    this.started++;
  }
  requestEnded(): void {
    this.ended++;
  }
  onChannelClosed(): void {
    this.closed++;
  }
}

const tick = () => new Promise(resolve => setImmediate(resolve));
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await tick();
}

describe('ServerChannel', () => {
  let stream: FakeStream;
  let host: FakeHost;
  let connection: { close: jest.Mock };
  let channel: ServerChannel;

  beforeEach(() => {
    stream = new FakeStream();
    host = new FakeHost();
    connection = { close: jest.fn() };
    const peer: PeerConnection = {
      connection: connection as unknown as IoConnection,
      remoteEndpointId: 'peer-1',
      channels: new Set(),
      budget: new ReceivePool(1 << 30, 30_000).connectionBudget(() => undefined),
      badMessages: 0,
    };
    channel = new ServerChannel(stream.bi, peer, host).start();
  });

  afterEach(() => {
    channel.close();
  });

  const request = (id: number, pattern = 'p') => encodeFrame(FrameType.REQUEST, id, encodeRequestBody(pattern, 1, undefined).bytes);

  it('hands requests and events to its host, and answers PINGs', async () => {
    stream.push(
      Buffer.concat([
        request(1),
        encodeFrame(FrameType.EVENT, 0, encodeRequestBody('e', 2, undefined).bytes),
        encodeFrame(FrameType.PING, 7),
      ]),
    );
    await settle();
    expect(host.requests.map(f => f.id)).toEqual([1]);
    expect(host.events).toHaveLength(1);
    expect(stream.written.map(f => [f.type, f.id])).toEqual([[FrameType.PONG, 7]]);
  });

  it("answers a HELLO with the server's features and remembers the client's", async () => {
    expect(channel.supports(Feature.DRAIN)).toBe(false);
    stream.push(encodeFrame(FrameType.PING, HELLO_ID, encodeHello(Feature.DRAIN)));
    await settle();
    const pong = stream.written.find(f => f.type === FrameType.PONG && f.id === HELLO_ID);
    expect(decodeHello(pong!.payload).features).toBe(Feature.DEADLINE | Feature.DRAIN);
    expect(channel.supports(Feature.DRAIN)).toBe(true);
    expect(channel.supports(Feature.DEADLINE)).toBe(false);
  });

  it('ends a request once: its final reply, then nothing more for it', async () => {
    const request = channel.beginRequest(1);
    expect(channel.isInvalidRequestId(1)).toBe(true);
    request.reply({ response: 'a' });
    request.reply({ response: 'b', isDisposed: true });
    request.reply({ response: 'late' });
    await settle();
    expect(stream.written.map(f => [f.type, f.payload.toString()])).toEqual([
      [FrameType.DATA, '"a"'],
      [FrameType.RESPONSE, '"b"'],
    ]);
    expect([host.started, host.ended, channel.inflightCount]).toEqual([1, 1, 0]);
    expect(channel.isInvalidRequestId(1)).toBe(false);
  });

  it('stops a handler on CANCEL, and counts one that outlives its request until it returns', async () => {
    const request = channel.beginRequest(3);
    const stopped = jest.fn();
    request.onStop(stopped);
    request.handlerStarted();
    stream.push(encodeFrame(FrameType.CANCEL, 3));
    await settle();
    expect(stopped).toHaveBeenCalledTimes(1);
    expect(request.isEnded).toBe(true);
    expect(channel.inflightCount).toBe(0);
    expect(channel.load).toBe(1);
    request.handlerFinished();
    expect(channel.load).toBe(0);
    expect(stream.written).toEqual([]);
  });

  it('drops request-stream frames for a request that ended, and refuses them for one in flight without a stream', async () => {
    channel.beginRequest(1).reply({ response: 1, isDisposed: true });
    channel.beginRequest(2);
    stream.push(Buffer.concat([encodeFrame(FrameType.DATA, 1, Buffer.from('1')), encodeFrame(FrameType.END, 1)]));
    await settle();
    expect(stream.written.some(f => f.type === FrameType.GOAWAY)).toBe(false);
    stream.push(encodeFrame(FrameType.DATA, 2, Buffer.from('1')));
    await settle();
    const goaway = stream.written.find(f => f.type === FrameType.GOAWAY)!;
    expect(decodeGoAway(goaway.payload).code).toBe(ErrorCode.PROTOCOL_ERROR);
  });

  it('refuses a request before it starts with a transport error, keeping the stream up', async () => {
    channel.refuseRequest(5, ErrorCode.GOING_AWAY, 'Server is shutting down');
    await settle();
    expect(stream.written).toHaveLength(1);
    expect(JSON.parse(stream.written[0].payload.toString())).toEqual({
      status: 'error',
      code: 'GOING_AWAY',
      message: 'Server is shutting down',
    });
    expect(host.started).toBe(0);
  });

  it('announces GOAWAY once, keeps requests in flight, and does not repeat it when closing', async () => {
    const request = channel.beginRequest(1);
    channel.announceGoAway('server shutting down');
    channel.announceGoAway('again');
    request.reply({ response: 'still answered', isDisposed: true });
    channel.goAway(ErrorCode.GOING_AWAY, 'server shutting down');
    await settle();
    expect(stream.written.map(f => f.type)).toEqual([FrameType.GOAWAY, FrameType.RESPONSE]);
  });

  it('closes the connection of a client that sends more than 32 oversized messages', async () => {
    const oversized = encodeFrame(FrameType.EVENT, 0, Buffer.alloc(host.maxMessageSize + 1));
    for (let i = 0; i < 33; i++) stream.push(oversized);
    await settle();
    await new Promise(resolve => setTimeout(resolve, 50));
    const goaway = stream.written.find(f => f.type === FrameType.GOAWAY)!;
    expect(decodeGoAway(goaway.payload)).toMatchObject({ code: ErrorCode.PROTOCOL_ERROR });
    expect(connection.close).toHaveBeenCalledWith(ErrorCode.PROTOCOL_ERROR, expect.any(String));
  });

  it('finishes its side and lets the server forget it once the client finished and nothing is in flight', async () => {
    const request = channel.beginRequest(1);
    stream.push(null);
    await settle();
    expect(host.closed).toBe(0);
    request.reply({ response: 'done', isDisposed: true });
    await settle();
    expect(stream.finished).toBe(true);
    expect(host.closed).toBe(1);
  });
});
