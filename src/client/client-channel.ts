import type { IoBiStream } from '../iroh';
import { ClientTelemetry, NOOP_CLIENT_TELEMETRY } from '../observability';
import { FrameStream } from '../transport';
import {
  DEFAULT_COMPRESSION_THRESHOLD,
  EncodedPayload,
  ErrorCode,
  Feature,
  Frame,
  FrameType,
  HELLO_ID,
  OversizedFrame,
  ProtocolError,
  ReplyMessage,
  decodeGoAway,
  decodeHello,
  encodeHello,
  errorCodeName,
  isFinalReply,
  messageTooLargeMessage,
  sharedFeatures,
} from '../protocol';
import {
  IrohClientError,
  IrohClientErrorCode,
  connectionLostError,
  isGoingAwayRefusal,
  protocolFailure,
  replyError,
} from './client-errors';
import { ClientRequest, RequestCarrier } from './client-request';
import { KeepAlive, KeepAliveOptions } from './keep-alive';
import { PongWaiters } from './pong-waiters';

/** Request ids stay below 2^31 so their varints stay short; 0 is reserved for events. */
const MAX_REQUEST_ID = 0x7fffffff;

/** The features a client announces in its HELLO. */
export const CLIENT_FEATURES = Feature.DEADLINE | Feature.DRAIN | Feature.BROTLI | Feature.PATTERN_TABLE | Feature.REPLY_METADATA;

export interface ChannelSettings {
  /** Payloads at least this large are compressed when that pays (0: never). */
  compressionThreshold?: number;
  /** The features announced in our HELLO (default {@link CLIENT_FEATURES}). */
  features?: number;
}

export interface ClientChannelHost {
  readonly maxMessageSize: number;
  /** Decodes a reply frame (RESPONSE, DATA, END, ERROR) into a reply message. */
  /** May return a Promise (a custom async deserializer); replies then stay in order. */
  decodeReply(frame: Frame): ReplyMessage | Promise<ReplyMessage>;
  /** The channel can no longer be used; every pending request has been failed. */
  onChannelClosed(channel: ClientChannel, error: IrohClientError): void;
  /** A server that announced DRAIN sent GOAWAY: nothing new goes on this channel. */
  onChannelDraining(channel: ClientChannel, reason: string): void;
  /** A draining channel has no request left. */
  onChannelDrained(channel: ClientChannel): void;
  /** Where the channel counts the bytes it writes and reads (none when absent). */
  readonly telemetry?: ClientTelemetry;
}

/**
 * The client's stream to a server: the HELLO that starts it, request ids, replies routed to
 * their requests, cancellations, keep-alive, and the end of the stream (every request still
 * pending fails with the reason). Requests arrive here only once a peer picked this channel.
 */
export class ClientChannel implements RequestCarrier {
  private readonly pending = new Map<number, ClientRequest>();
  private readonly stream: FrameStream;
  private readonly keepAlive: KeepAlive;
  private nextId = 1;
  private readonly freeIds: number[] = [];
  private closedWith: IrohClientError | null = null;
  private draining = false;
  private pingId = 0;
  private readonly pongs = new PongWaiters();
  /** The features both sides announced (known once {@link hello} resolved). */
  features = 0;
  /** The telemetry the channel's bytes, and its connection's opening and closing, are counted in. */
  readonly telemetry: ClientTelemetry;

  private readonly ourFeatures: number;

  constructor(
    bi: IoBiStream,
    private readonly host: ClientChannelHost,
    keepAlive: KeepAliveOptions,
    settings: ChannelSettings = {},
  ) {
    const telemetry = (this.telemetry = host.telemetry ?? NOOP_CLIENT_TELEMETRY);
    this.ourFeatures = settings.features ?? CLIENT_FEATURES;
    const compressionThreshold = settings.compressionThreshold ?? DEFAULT_COMPRESSION_THRESHOLD;
    this.stream = new FrameStream(
      bi,
      host.maxMessageSize,
      {
        ...(telemetry.enabled && {
          bytesSent: bytes => telemetry.bytesSent(bytes),
          bytesReceived: bytes => telemetry.bytesReceived(bytes),
        }),
        onFrame: frame => this.onFrame(frame),
        onOversized: frame => this.onOversized(frame),
        onProtocolError: error => this.fail(protocolFailure(error)),
        onClosed: error =>
          this.fail(
            error
              ? connectionLostError(error.message)
              : new IrohClientError(IrohClientErrorCode.CONNECTION_LOST, 'Connection closed by the server'),
          ),
      },
      { compressionThreshold },
    ).start();
    // HELLO is the first frame on the stream (docs/protocol.md, "HELLO").
    this.stream.writer.write(FrameType.PING, HELLO_ID, encodeHello(this.ourFeatures));
    this.keepAlive = new KeepAlive(keepAlive, {
      lastReceivedAt: () => this.stream.lastReceivedAt,
      ping: () => this.stream.writer.write(FrameType.PING, this.nextPingId(), null),
      silent: error => this.fail(error),
    });
  }

  /**
   * Waits for the server's HELLO (the PONG to our first PING) and resolves with the features
   * both sides support: none for a server of protocol 1.0, which answers with an empty PONG.
   */
  hello(timeoutMs: number): Promise<number> {
    return this.awaitPong(HELLO_ID, timeoutMs, 'HELLO').then(payload => {
      try {
        this.features = sharedFeatures(this.ourFeatures, decodeHello(payload));
        // From here on, what the stream sends uses the codec and pattern table both sides read.
        this.stream.agree(this.features);
      } catch (err) {
        const failure = protocolFailure(err as ProtocolError);
        this.fail(failure);
        throw failure;
      }
      return this.features;
    });
  }

  get isClosed(): boolean {
    return this.closedWith !== null;
  }

  /** Takes new requests: neither closed nor draining. */
  get isWritable(): boolean {
    return this.closedWith === null && !this.draining;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  /** Writes a request; false (nothing written) when the channel takes no new requests. */
  write(request: ClientRequest): boolean {
    if (!this.isWritable) return false;
    let payload: EncodedPayload | null;
    try {
      payload = request.payloadFor(this.features);
    } catch (err) {
      request.fail(err);
      return true;
    }
    if (payload === null) {
      // The deadline passed on the way here: the request's own timer reports it.
      return true;
    }
    const id = this.allocateId();
    this.pending.set(id, request);
    this.stream.send(FrameType.REQUEST, id, payload);
    request.written(this, id);
    return true;
  }

  sendData(id: number, payload: EncodedPayload): void {
    if (this.pending.has(id)) this.stream.send(FrameType.DATA, id, payload);
  }

  sendEnd(id: number): void {
    if (this.pending.has(id)) this.stream.writer.write(FrameType.END, id, null);
  }

  /** Forgets a request and sends CANCEL. Its id is not reused: the server may still send frames for it. */
  abandon(id: number): void {
    if (!this.forget(id)) return;
    this.stream.writer.write(FrameType.CANCEL, id, null);
  }

  /** Round-trip time of a PING/PONG on this stream, in milliseconds. */
  async ping(timeoutMs: number): Promise<number> {
    const started = process.hrtime.bigint();
    await this.awaitPong(this.nextPingId(), timeoutMs, 'PONG');
    return Number(process.hrtime.bigint() - started) / 1e6;
  }

  private awaitPong(id: number, timeoutMs: number, what: string): Promise<Buffer> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    const answered = this.pongs.wait(id, timeoutMs, what);
    if (id !== HELLO_ID) this.stream.writer.write(FrameType.PING, id, null);
    return answered;
  }

  private nextPingId(): number {
    this.pingId = this.pingId >= MAX_REQUEST_ID ? 1 : this.pingId + 1;
    return this.pingId;
  }

  /** Sends an event; resolves once it is handed to the connection. */
  event(payload: EncodedPayload): Promise<void> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    this.stream.send(FrameType.EVENT, 0, payload);
    return this.stream.writer.flushed();
  }

  /**
   * Finishes the stream and waits until the server has received everything written (or
   * `timeoutMs`), so that events sent just before a close are not discarded with it.
   */
  delivered(timeoutMs: number): Promise<void> {
    return this.stream.finishAndWaitDelivered(timeoutMs);
  }

  /** Fails what is pending with `error` and finishes the stream. */
  close(error: IrohClientError): void {
    this.fail(error);
  }

  /**
   * Ids stay small, so their varints stay one byte (every byte costs ~0.25 µs through the
   * binding): an id whose request ended with a final reply is reused first. Ids of cancelled
   * or timed-out requests are not, since the server may still send frames for them.
   */
  private allocateId(): number {
    const reused = this.freeIds.pop();
    if (reused !== undefined) return reused;
    let id = this.nextId;
    while (this.pending.has(id)) id = id >= MAX_REQUEST_ID ? 1 : id + 1;
    this.nextId = id >= MAX_REQUEST_ID ? 1 : id + 1;
    // After a wrap the counter may hand out ids that are also waiting for reuse.
    if (this.nextId === 1) this.freeIds.length = 0;
    return id;
  }

  /** Removes a pending request; a draining channel with nothing left is reported drained. */
  private forget(id: number): boolean {
    if (!this.pending.delete(id)) return false;
    if (this.draining && this.pending.size === 0 && !this.closedWith) this.host.onChannelDrained(this);
    return true;
  }

  /** The server ended the request: its id is free again, and its request stream (if open) ends too. */
  private settle(id: number, request: ClientRequest): void {
    this.forget(id);
    this.freeIds.push(id);
    if (request.closeUpload()) this.stream.writer.write(FrameType.END, id, null);
  }

  private onFrame(frame: Frame): void {
    this.keepAlive.heard();
    switch (frame.type) {
      case FrameType.RESPONSE:
      case FrameType.DATA:
      case FrameType.END:
      case FrameType.ERROR:
        return this.onReply(frame);
      case FrameType.PING:
        // A server that pings without reading our answers gets no more of them.
        if (this.stream.writer.pendingBytes < 64 * 1024) this.stream.writer.write(FrameType.PONG, frame.id, null);
        return;
      case FrameType.PONG:
        return this.pongs.answer(frame.id, frame.payload);
      case FrameType.GOAWAY:
        return this.onGoAway(frame);
      default:
        this.fail(protocolFailure(new ProtocolError(ErrorCode.PROTOCOL_ERROR, `unexpected frame type ${frame.type} from server`)));
    }
  }

  /**
   * A server that announced DRAIN sends GOAWAY (GOING_AWAY) first and lets what is in flight
   * finish: the channel takes nothing new but keeps waiting for replies. From other servers
   * a GOAWAY ends the stream, and what is pending fails.
   */
  private onGoAway(frame: Frame): void {
    const { code, reason } = decodeGoAway(frame.payload);
    const orderly = code === (ErrorCode.GOING_AWAY as number) || code === (ErrorCode.NO_ERROR as number);
    if (orderly && this.features & Feature.DRAIN) return this.startDraining(`${errorCodeName(code)}: ${reason}`);
    const kind = orderly ? IrohClientErrorCode.CONNECTION_LOST : IrohClientErrorCode.PROTOCOL_ERROR;
    this.fail(new IrohClientError(kind, `Server closed the stream (${errorCodeName(code)}): ${reason}`));
  }

  /** Nothing new goes on this channel; it is drained once its last request has ended. */
  private startDraining(reason: string): void {
    if (this.draining || this.closedWith) return;
    this.draining = true;
    this.host.onChannelDraining(this, reason);
    if (this.pending.size === 0 && !this.closedWith) this.host.onChannelDrained(this);
  }

  private onReply(frame: Frame): void {
    const request = this.pending.get(frame.id);
    if (!request) return; // cancelled or timed out: late replies are dropped
    const final = isFinalReply(frame.type);
    if (final) {
      this.settle(frame.id, request);
      if (frame.type === FrameType.ERROR && isGoingAwayRefusal(frame)) {
        // The server is shutting down (one of protocol 1.0 says so only this way): send it
        // nothing more. The request never ran there, so another peer may take it.
        this.startDraining('GOING_AWAY: the server refused a request, it is shutting down');
        if (request.retryElsewhere()) return;
      }
    }
    let message: ReplyMessage | Promise<ReplyMessage>;
    try {
      message = request.decodeReply(frame, this.host);
    } catch (err) {
      if (!final) this.abandon(frame.id);
      request.fail(replyError(err));
      return;
    }
    if (final) request.finish(message);
    else request.reply(message);
  }

  private onOversized(frame: OversizedFrame): void {
    const request = this.pending.get(frame.id);
    if (!request) return;
    if (isFinalReply(frame.type)) this.settle(frame.id, request);
    else this.abandon(frame.id);
    request.fail(
      new IrohClientError(
        IrohClientErrorCode.MESSAGE_TOO_LARGE,
        `Reply refused: ${messageTooLargeMessage(frame.length, this.host.maxMessageSize)}`,
      ),
    );
  }

  private fail(error: IrohClientError): void {
    if (this.closedWith) return;
    this.closedWith = error;
    this.keepAlive.stop();
    this.pongs.failAll(error);
    const pending = [...this.pending.values()];
    this.pending.clear();
    // Written requests may have run: they fail, and are never sent again.
    for (const request of pending) request.fail(error);
    void this.stream.finish();
    this.host.onChannelClosed(this, error);
  }
}
