import type { LoggerService } from '@nestjs/common';
import iroh = require('../iroh/binding');
import { closeConnection, settledWithin } from '../iroh';
import {
  ErrorCode,
  Frame,
  FrameType,
  HELLO_ID,
  Hello,
  NO_HELLO,
  OversizedFrame,
  ProtocolError,
  ReplyMessage,
  decodeHello,
  encodeGoAway,
  encodeHello,
  errorCodeName,
  frameTypeName,
  messageTooLargeMessage,
} from '../protocol';
import { FrameStream } from '../transport';
import { RequestOwner, ServerRequest } from './server-request';

/** Replies queued for the peer above which PINGs are no longer answered. */
const MAX_PENDING_PONG_BYTES = 64 * 1024;

/** Malformed or oversized messages one stream may send before it counts as a protocol error. */
const MAX_BAD_MESSAGES = 32;

/**
 * Request ids whose request ended (or was refused) on our side while the client may still
 * be sending its request stream: their late DATA and END frames are dropped, not taken for
 * protocol errors (a request may carry a stream the server never took, e.g. a gRPC call to a
 * server that serves no gRPC). The cap bounds what a client can make us remember.
 */
const MAX_ENDED_IDS = 4096;

/** What a channel asks of the server that owns it. */
export interface ServerChannelHost {
  readonly maxMessageSize: number;
  readonly logger: LoggerService;
  /** The server's HELLO features. */
  readonly features: number;
  onRequest(channel: ServerChannel, frame: Frame): void;
  onEvent(channel: ServerChannel, frame: Frame): void;
  writeReply(channel: ServerChannel, request: ServerRequest, message: ReplyMessage, serialize: boolean): void;
  requestStarted(channel: ServerChannel): void;
  requestEnded(channel: ServerChannel): void;
  onChannelClosed(channel: ServerChannel): void;
}

/** The error value sent to a client when the transport itself fails a request. */
export function transportErrorValue(code: ErrorCode, message: string) {
  return { status: 'error', code: errorCodeName(code), message };
}

/**
 * One client stream on the server: routes incoming frames, owns the requests in flight on
 * it, and writes their replies.
 */
export class ServerChannel implements RequestOwner {
  private readonly inflight = new Map<number, ServerRequest>();
  private readonly endedIds = new Set<number>();
  private readonly stream: FrameStream;
  /** What the client announced in its HELLO. */
  private hello: Hello = NO_HELLO;
  /** The client finished its side: reply to what is in flight, then finish ours. */
  private peerFinished = false;
  /** A protocol error ended this channel: nothing more it receives is handled. */
  private failed = false;
  /** GOAWAY sent: the server is draining this stream. */
  private goneAway = false;
  private badMessages = 0;
  /**
   * Handlers still running after their request ended (a Promise cannot be stopped). They
   * count against the concurrency limit until they finish, or a client could start any
   * number of them by cancelling each request right after sending it.
   */
  private outlivingHandlers = 0;
  /** Called once the client is done with the stream: it finished its side, or the stream closed. */
  private clientDoneWaiters: Array<() => void> | null = [];

  constructor(
    bi: iroh.BiStream,
    readonly connection: iroh.Connection,
    readonly remoteEndpointId: string,
    private readonly host: ServerChannelHost,
  ) {
    this.stream = new FrameStream(bi, host.maxMessageSize, {
      onFrame: frame => this.onFrame(frame),
      onOversized: frame => this.onOversized(frame),
      onProtocolError: error => this.onProtocolError(error),
      onClosed: error => this.onClosed(error),
    });
  }

  start(): this {
    this.stream.start();
    return this;
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
    this.rememberEnded(id);
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
    this.rememberEnded(request.id);
    this.host.requestEnded(this);
    if (this.peerFinished && this.inflight.size === 0) this.finishAndRelease();
  }

  countOutlivingHandler(delta: 1 | -1): void {
    this.outlivingHandlers += delta;
  }

  // ---------------------------------------------------------------- writing

  /** Bytes of replies queued and not yet written (the client reads slower than we answer). */
  get pendingBytes(): number {
    return this.stream.writer.pendingBytes;
  }

  write(type: FrameType, id: number, payload: Buffer | null, flags = 0): boolean {
    return this.stream.writer.write(type, id, payload, flags);
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

  /** Resolves once what is queued has been written, the stream failed, or `timeoutMs` passed. */
  flushed(timeoutMs: number): Promise<void> {
    return settledWithin(this.stream.writer.flushed(), timeoutMs);
  }

  /**
   * Finishes the stream and waits until the client has received everything written (or
   * `timeoutMs`): closing the connection earlier would discard replies still in flight.
   */
  delivered(timeoutMs: number): Promise<void> {
    return this.stream.finishAndWaitDelivered(timeoutMs);
  }

  /** Cancels every request in flight and stops writing. */
  close(): void {
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
    const waiters = this.clientDoneWaiters;
    if (!waiters) return Promise.resolve();
    return new Promise(resolve => waiters.push(resolve));
  }

  private clientIsDone(): void {
    const waiters = this.clientDoneWaiters;
    this.clientDoneWaiters = null;
    if (waiters) for (const resolve of waiters) resolve();
  }

  // ---------------------------------------------------------------- health

  /** True when a frame began to arrive more than `timeoutMs` ago and is still incomplete. */
  isStalled(now: number, timeoutMs: number): boolean {
    const since = this.stream.partialFrameSince;
    return since !== null && now - since > timeoutMs;
  }

  /** True when replies are waiting and the client has taken none of them for `timeoutMs`. */
  isWriteStalled(now: number, timeoutMs: number): boolean {
    const writer = this.stream.writer;
    return writer.pendingBytes > 0 && now - writer.lastProgressAt > timeoutMs;
  }

  /** True when nothing at all arrived for `timeoutMs` (a client that vanished without closing). */
  isIdle(now: number, timeoutMs: number): boolean {
    return now - this.stream.lastReceivedAt > timeoutMs;
  }

  /**
   * Counts a message the peer should not have sent (malformed or oversized). Each costs
   * the server work to refuse; past a budget the peer is treated as broken and its
   * connection closed, so a flood of bad messages cannot hold the event loop.
   */
  recordBadMessage(): void {
    if (++this.badMessages > MAX_BAD_MESSAGES) {
      this.onProtocolError(
        new ProtocolError(ErrorCode.PROTOCOL_ERROR, `more than ${MAX_BAD_MESSAGES} malformed or oversized messages`),
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
    this.stream.stopDecoding();
    this.host.logger.warn?.(`Protocol error from ${this.remoteEndpointId} (${error.codeName}): ${error.message}`);
    this.cancelAll();
    this.write(FrameType.GOAWAY, 0, encodeGoAway(error.code, error.message));
    // Close the connection once the GOAWAY has arrived (or after a second at most).
    void this.stream
      .finishAndWaitDelivered(1000)
      .then(() => closeConnection(this.connection, error.code, error.message));
  }

  // ---------------------------------------------------------------- reading

  private onFrame(frame: Frame): void {
    if (this.failed) return;
    switch (frame.type) {
      case FrameType.REQUEST:
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
        this.onProtocolError(
          new ProtocolError(ErrorCode.PROTOCOL_ERROR, `${frameTypeName(frame.type)} frames are not sent by clients`),
        );
    }
  }

  private onPing(frame: Frame): void {
    if (frame.id === HELLO_ID) {
      try {
        this.hello = decodeHello(frame.payload);
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
  private onUploadFrame(frame: Frame): void {
    const request = this.inflight.get(frame.id);
    const upload = request?.upload;
    if (request && upload) {
      if (frame.type === FrameType.END) {
        request.upload = null;
        upload.onEnd();
      } else {
        upload.onValue(frame);
      }
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

  private onOversized(frame: OversizedFrame): void {
    this.recordBadMessage();
    if (this.failed) return;
    const message = messageTooLargeMessage(frame.length, this.host.maxMessageSize);
    const request = frame.type === FrameType.DATA ? this.inflight.get(frame.id) : undefined;
    if (request?.upload) {
      this.host.logger.warn?.(`Refused a request stream from ${this.remoteEndpointId}: ${message}`);
      request.fail(ErrorCode.MESSAGE_TOO_LARGE, message);
      return;
    }
    if (frame.type === FrameType.REQUEST && !this.isInvalidRequestId(frame.id)) {
      this.host.logger.warn?.(`Refused a request from ${this.remoteEndpointId}: ${message}`);
      this.refuseRequest(frame.id, ErrorCode.MESSAGE_TOO_LARGE, message);
    } else {
      this.host.logger.warn?.(`Dropped a ${frameTypeName(frame.type)} frame from ${this.remoteEndpointId}: ${message}`);
    }
  }

  private onClosed(error?: Error): void {
    this.clientIsDone();
    if (!error) {
      this.peerFinished = true;
      if (this.inflight.size === 0) this.finishAndRelease();
      return;
    }
    this.cancelAll();
    this.host.onChannelClosed(this);
  }

  // ---------------------------------------------------------------- helpers

  private cancelAll(): void {
    for (const request of [...this.inflight.values()]) request.cancel();
  }

  private rememberEnded(id: number): void {
    if (this.endedIds.size >= MAX_ENDED_IDS) {
      this.endedIds.delete(this.endedIds.values().next().value as number);
    }
    this.endedIds.add(id);
  }

  /** Both sides are done: finish ours and let the server forget this channel. */
  private finishAndRelease(): void {
    void this.stream.finish().then(() => this.host.onChannelClosed(this));
  }
}
