import type { IoBiStream } from '../iroh';
import { ClientTelemetry, NOOP_CLIENT_TELEMETRY, byteCounters } from '../observability';
import { FrameStream } from '../transport';
import {
  DEFAULT_COMPRESSION_THRESHOLD,
  EncodedPayload,
  ErrorCode,
  Feature,
  Frame,
  FrameType,
  HELLO_ID,
  ProtocolError,
  ReplyMessage,
  decodeGoAway,
  decodeHello,
  encodeHello,
  errorCodeName,
  sharedFeatures,
} from '../protocol';
import { IrohClientError, IrohClientErrorCode, connectionLostError, protocolFailure } from './client-errors';
import { ClientRequest, RequestCarrier } from './client-request';
import { KeepAlive, KeepAliveOptions } from './keep-alive';
import { PongWaiters } from './pong-waiters';
import { MAX_REQUEST_ID, RequestsInFlight } from './requests-in-flight';

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
 * The client's stream to a server: the HELLO that starts it, requests written and their
 * replies (ids and routing in {@link RequestsInFlight}), cancellations, keep-alive, GOAWAY,
 * and the end of the stream (every request still pending fails with the reason). Requests
 * arrive here only once a peer picked this channel.
 */
export class ClientChannel implements RequestCarrier {
  private readonly requests: RequestsInFlight;
  private readonly stream: FrameStream;
  private readonly keepAlive: KeepAlive;
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
    this.requests = new RequestsInFlight(host, {
      writeEnd: id => this.sendEnd(id),
      writeCancel: id => this.stream.writer.write(FrameType.CANCEL, id, null),
      startDraining: reason => this.startDraining(reason),
      // A draining channel with nothing left is reported drained.
      emptied: () => {
        if (this.draining && !this.closedWith) this.host.onChannelDrained(this);
      },
    });
    this.ourFeatures = settings.features ?? CLIENT_FEATURES;
    const compressionThreshold = settings.compressionThreshold ?? DEFAULT_COMPRESSION_THRESHOLD;
    this.stream = new FrameStream(
      bi,
      host.maxMessageSize,
      {
        ...byteCounters(telemetry),
        onFrame: frame => this.onFrame(frame),
        onOversized: frame => this.requests.onOversized(frame),
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
    return this.requests.size;
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
    const id = this.requests.add(request);
    this.stream.send(FrameType.REQUEST, id, payload);
    request.written(this, id);
    return true;
  }

  sendData(id: number, payload: EncodedPayload): void {
    if (this.requests.has(id)) this.stream.send(FrameType.DATA, id, payload);
  }

  sendEnd(id: number): void {
    if (this.requests.has(id)) this.stream.writer.write(FrameType.END, id, null);
  }

  /** Forgets a request and sends CANCEL. Its id is not reused: the server may still send frames for it. */
  abandon(id: number): void {
    this.requests.abandon(id);
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

  private onFrame(frame: Frame): void {
    this.keepAlive.heard();
    switch (frame.type) {
      case FrameType.RESPONSE:
      case FrameType.DATA:
      case FrameType.END:
      case FrameType.ERROR:
        return this.requests.onReply(frame);
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
    if (this.requests.size === 0 && !this.closedWith) this.host.onChannelDrained(this);
  }

  private fail(error: IrohClientError): void {
    if (this.closedWith) return;
    this.closedWith = error;
    this.keepAlive.stop();
    this.pongs.failAll(error);
    this.requests.failAll(error);
    void this.stream.finish();
    this.host.onChannelClosed(this, error);
  }
}
