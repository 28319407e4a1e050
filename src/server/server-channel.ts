import { IoBiStream, IoConnection, closeConnection } from '../iroh';
import {
  EncodedPayload,
  ErrorCode,
  Frame,
  FrameType,
  HELLO_ID,
  IdTable,
  Hello,
  NO_HELLO,
  ProtocolError,
  ReplyMessage,
  decodeHello,
  encodeGoAway,
  encodeHello,
  frameTypeName,
} from '../protocol';
import { byteCounters } from '../observability';
import { FrameStream } from '../transport';
import type { StreamActivity } from './stall-sweep';
import type { PeerConnection } from './connection-registry';
import { EndedRequests } from './ended-requests';
import { ChannelIntake } from './channel-intake';
import type { FrameWork } from './inbound-frames';
import type { ConnectionBudget } from './receive-pool';
import { RequestOwner, ServerRequest } from './server-request';
import { ServerChannelHost, transportErrorValue } from './server-channel-host';

export { ServerChannelHost, transportErrorValue };

/** Replies queued for the peer above which PINGs are no longer answered. */
const MAX_PENDING_PONG_BYTES = 64 * 1024;

/** Malformed or oversized messages one connection may send, over all its streams, before it counts as a protocol error. */
export const MAX_BAD_MESSAGES = 32;

/**
 * One client stream on the server: routes incoming frames in order, owns the requests in
 * flight on it, and writes their replies.
 */
export class ServerChannel implements RequestOwner {
  private readonly inflight = new IdTable<ServerRequest>();
  private readonly endedIds = new EndedRequests();
  private readonly stream: FrameStream;
  private readonly intake: ChannelIntake;
  /** What the client announced in its HELLO. */
  private hello: Hello = NO_HELLO;
  /** The client finished its side: reply to what is in flight, then finish ours. */
  private peerFinished = false;
  /** A protocol error ended this channel: nothing more it receives is handled. */
  private failed = false;
  /** The channel was closed: nothing more it receives is handled, nothing more is written for it. */
  private closed = false;
  /** GOAWAY sent: the server is draining this stream. */
  private goneAway = false;
  /** Handlers still running after their request ended (a Promise cannot be stopped): they count against the concurrency limit. */
  private outlivingHandlers = 0;
  readonly telemetry: ServerChannelHost['telemetry'];
  /** Settled once the client is done with the stream: it finished its side, or the stream closed. */
  private clientIsDone: () => void = () => undefined;
  private readonly clientDone = new Promise<void>(resolve => (this.clientIsDone = resolve));

  constructor(
    bi: IoBiStream,
    readonly peer: PeerConnection,
    private readonly host: ServerChannelHost,
  ) {
    this.telemetry = host.telemetry;
    this.intake = new ChannelIntake(peer, host.scheduler, host.readSlots, {
      work: frame => this.route(frame),
      onOutOfMemory: frame => host.onOutOfMemory(this, frame),
      onError: err => host.logger.error(`Handling a frame from ${this.remoteEndpointId} failed: ${(err as Error)?.message ?? err}`),
    });
    this.stream = new FrameStream(
      bi,
      host.maxMessageSize,
      {
        onFrame: frame => {
          if (!this.isClosed) this.intake.push(frame);
        },
        onOversized: frame => {
          if (!this.isClosed) host.onOversized(this, frame);
        },
        onProtocolError: error => this.onProtocolError(error),
        onClosed: error => this.onClosed(error),
        readPause: () => this.intake.beforeRead(),
        receiveBudget: this.intake.receiveBudget,
        ...byteCounters(this.telemetry),
      },
      { compressionThreshold: host.compressionThreshold },
    );
  }

  start(): this {
    this.stream.start();
    return this;
  }

  get connection(): IoConnection {
    return this.peer.connection;
  }

  get remoteEndpointId(): string {
    return this.peer.remoteEndpointId;
  }

  /** The connection's share of the receive memory (inflated payloads and queued events reserve from it). */
  get budget(): ConnectionBudget {
    return this.peer.budget;
  }

  /** True once the channel was closed or failed: nothing more is handled or written for it. */
  get isClosed(): boolean {
    return this.closed || this.failed;
  }

  /** Requests in flight, and handlers still running after their request ended. */
  get load(): number {
    return this.inflight.size + this.outlivingHandlers;
  }

  get inflightCount(): number {
    return this.inflight.size;
  }

  /** True when the client announced `feature` in its HELLO. */
  supports(feature: number): boolean {
    return (this.hello.features & feature) !== 0;
  }

  /** True for an id that may not start a request: 0, or one in flight (a protocol error). */
  isInvalidRequestId(id: number): boolean {
    return id === 0 || this.inflight.has(id);
  }

  /** The request in flight with this id, if any. */
  request(id: number): ServerRequest | undefined {
    return this.inflight.get(id);
  }

  /** Registers a new request (its id was checked with {@link isInvalidRequestId}). */
  beginRequest(id: number, timeoutMs?: number): ServerRequest {
    const request = new ServerRequest(id, this, timeoutMs);
    this.inflight.set(id, request);
    this.host.requestStarted(this);
    return request;
  }

  /** Refuses a request before it starts; what the client still sends for it is dropped. */
  refuseRequest(id: number, code: ErrorCode, message: string): void {
    this.writeTransportError(id, code, message);
    this.endedIds.add(id);
  }

  // ---------------------------------------------------------------- RequestOwner

  writeReply(request: ServerRequest, message: ReplyMessage, serialize: boolean): void {
    this.host.writeReply(this, request, message, serialize);
  }

  writeTransportError(id: number, code: ErrorCode, message: string): void {
    this.write(FrameType.ERROR, id, Buffer.from(JSON.stringify(transportErrorValue(code, message)), 'utf8'));
  }

  requestEnded(request: ServerRequest): void {
    if (this.inflight.get(request.id) !== request) return;
    this.inflight.delete(request.id);
    request.upload = null;
    this.endedIds.add(request.id);
    this.host.requestEnded(this);
    this.finishIfDone();
  }

  countOutlivingHandler(delta: 1 | -1): void {
    this.outlivingHandlers += delta;
  }

  // ---------------------------------------------------------------- writing

  /** Bytes of replies queued and not yet written (the client reads slower than we answer). */
  get pendingBytes(): number {
    return this.stream.writer.pendingBytes;
  }

  /** Writes a frame; an encoded message goes compressed with the codec the client reads, when that pays. */
  write(type: FrameType, id: number, payload: Buffer | EncodedPayload | null, flags = 0): boolean {
    if (payload === null || Buffer.isBuffer(payload)) return this.stream.writer.write(type, id, payload, flags);
    return this.stream.send(type, id, payload);
  }

  /**
   * Starts draining a client that announced DRAIN: GOAWAY (GOING_AWAY) first, so it sends
   * nothing new here, while the requests in flight finish.
   */
  announceGoAway(reason: string): void {
    if (this.goneAway || this.failed) return;
    this.goneAway = true;
    this.write(FrameType.GOAWAY, 0, encodeGoAway(ErrorCode.GOING_AWAY, reason));
  }

  /** Tells the client the stream is closing (GOAWAY unless already sent), cancels what is in flight. */
  goAway(code: ErrorCode, reason: string): void {
    if (!this.goneAway) this.write(FrameType.GOAWAY, 0, encodeGoAway(code, reason));
    this.goneAway = true;
    this.close();
  }

  /**
   * Finishes the stream and waits until the client has received everything written (or
   * `timeoutMs`): closing the connection earlier would discard replies still in flight.
   */
  delivered(timeoutMs: number): Promise<void> {
    return this.stream.finishAndWaitDelivered(timeoutMs);
  }

  /**
   * Stops serving the stream: requests in flight are cancelled (their handlers stopped, no
   * more replies encoded) and requests received but not started are dropped, nobody being
   * there for their replies; events it received are still handled, as a TCP server handles
   * what it read before the connection went. Its memory is given back, our side finished.
   */
  close(): void {
    this.closed = true;
    this.stopReceiving();
    this.cancelAll();
    this.clientIsDone();
    void this.stream.finish();
  }

  /**
   * Resolves once the client is done with the stream: it finished its side (a draining client
   * does once its last request here has ended), or the stream closed. Until then a request it
   * sent before it saw our GOAWAY may still be on its way.
   */
  whenClientDone(): Promise<void> {
    return this.clientDone;
  }

  // ---------------------------------------------------------------- health

  /** What the stall sweep judges the stream by: when bytes last arrived and left, and a frame's start. */
  get activity(): StreamActivity {
    return this.stream;
  }

  /**
   * Counts a message the peer should not have sent (malformed or oversized) against its
   * connection's budget. Each costs the server work to refuse; past the budget the peer is
   * treated as broken and its connection closed, however many streams it spreads them over.
   */
  recordBadMessage(): void {
    if (++this.peer.badMessages > MAX_BAD_MESSAGES) {
      this.onProtocolError(
        new ProtocolError(ErrorCode.PROTOCOL_ERROR, `more than ${MAX_BAD_MESSAGES} malformed or oversized messages on this connection`),
      );
    }
  }

  /**
   * Bytes that are not protocol: tell the peer why, then close its connection. Other
   * peers are not affected.
   */
  onProtocolError(error: ProtocolError): void {
    if (this.failed) return;
    this.failed = true;
    this.stopReceiving();
    this.host.logger.warn?.(`Protocol error from ${this.remoteEndpointId} (${error.codeName}): ${error.message}`);
    this.cancelAll();
    this.write(FrameType.GOAWAY, 0, encodeGoAway(error.code, error.message));
    // Close the connection once the GOAWAY has arrived (or after a second at most).
    void this.stream.finishAndWaitDelivered(1000, false).then(() => closeConnection(this.connection, error.code, error.message));
  }

  // ---------------------------------------------------------------- reading

  /** One received frame, in order; a promise while its work goes on (the next frames wait). */
  private route(frame: Frame): FrameWork {
    if (this.isClosed && (this.failed || frame.type !== FrameType.EVENT)) return;
    switch (frame.type) {
      case FrameType.REQUEST:
        // A client that leaves its replies unread gets nothing more computed for it until it reads.
        if (this.pendingBytes > this.host.maxPendingReplyBytes) {
          return this.stream.writer
            .drainedBelow(this.host.maxPendingReplyBytes / 2)
            .then(() => (this.isClosed ? undefined : this.host.onRequest(this, frame)));
        }
        return this.host.onRequest(this, frame);
      case FrameType.EVENT:
        return this.host.onEvent(this, frame);
      case FrameType.PING:
        return this.onPing(frame);
      case FrameType.PONG:
        return;
      case FrameType.DATA:
      case FrameType.END:
        return this.onUploadFrame(frame);
      case FrameType.CANCEL:
        this.endedIds.delete(frame.id);
        this.inflight.get(frame.id)?.cancel();
        return;
      case FrameType.GOAWAY:
        this.close();
        return;
      default:
        this.onProtocolError(new ProtocolError(ErrorCode.PROTOCOL_ERROR, `${frameTypeName(frame.type)} frames are not sent by clients`));
    }
  }

  private onPing(frame: Frame): void {
    if (frame.id === HELLO_ID) {
      try {
        this.hello = decodeHello(frame.payload);
        // At once: a request right behind the HELLO may name its pattern by reference.
        this.stream.agree(this.host.features & this.hello.features);
      } catch (err) {
        this.onProtocolError(err as ProtocolError);
        return;
      }
      this.write(FrameType.PONG, HELLO_ID, encodeHello(this.host.features));
      return;
    }
    // A peer that pings without reading our answers gets no more of them.
    if (this.stream.writer.pendingBytes < MAX_PENDING_PONG_BYTES) this.write(FrameType.PONG, frame.id, null);
  }

  /** A client DATA or END frame: part of a gRPC call's request stream. */
  private onUploadFrame(frame: Frame): FrameWork {
    const request = this.inflight.get(frame.id);
    const upload = request?.upload;
    if (request && upload) {
      if (frame.type === FrameType.DATA) return this.host.onUploadValue(this, request, frame);
      request.upload = null;
      upload.onEnd();
      return;
    }
    if (this.endedIds.has(frame.id)) {
      if (frame.type === FrameType.END) this.endedIds.delete(frame.id);
      return;
    }
    this.onProtocolError(
      new ProtocolError(
        ErrorCode.PROTOCOL_ERROR,
        `${frameTypeName(frame.type)} frames are not sent by clients, except on request streams (request ${frame.id} has none)`,
      ),
    );
  }

  private onClosed(error?: Error): void {
    this.clientIsDone();
    if (!error) {
      this.peerFinished = true;
      // Frames already received are still worked on; the stream is done once they are.
      const idle = this.intake.whenIdle();
      if (idle) void idle.then(() => this.finishIfDone());
      else this.finishIfDone();
      return;
    }
    this.stopReceiving();
    this.cancelAll();
    this.host.onChannelClosed(this);
  }

  // ---------------------------------------------------------------- helpers

  /**
   * Nothing more is decoded, and once the events already received are worked through (at
   * once, when the peer broke the protocol) the memory the stream held is given back.
   */
  private stopReceiving(): void {
    this.stream.stopDecoding();
    const idle = this.failed ? null : this.intake.whenIdle();
    if (idle) void idle.then(() => this.intake.stop());
    else this.intake.stop();
  }

  private cancelAll(): void {
    for (const request of this.inflight.valuesNow()) request.cancel();
  }

  /** Once the client finished its side and everything it sent is answered: finish ours, forget the channel. */
  private finishIfDone(): void {
    if (!this.peerFinished || this.inflight.size > 0 || !this.intake.idle) return;
    this.peerFinished = false;
    this.intake.release();
    void this.stream.finish().then(() => this.host.onChannelClosed(this));
  }
}
