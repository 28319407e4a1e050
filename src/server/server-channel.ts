import type { LoggerService } from '@nestjs/common';
import iroh = require('../iroh/binding');
import { closeConnection, settledWithin } from '../iroh';
import { FrameStream } from '../transport';
import {
  ErrorCode,
  Frame,
  FrameType,
  OversizedFrame,
  ProtocolError,
  encodeGoAway,
  errorCodeName,
  frameTypeName,
  messageTooLargeMessage,
} from '../protocol';

/** Replies queued for the peer above which PINGs are no longer answered. */
const MAX_PENDING_PONG_BYTES = 64 * 1024;

/** Malformed or oversized messages one stream may send before it counts as a protocol error. */
const MAX_BAD_MESSAGES = 32;

/** A request being handled: cancelling it unsubscribes the handler's Observable. */
export interface InflightRequest {
  cancelled: boolean;
  cancel: (() => void) | null;
  /** Its handler has been called and has not finished yet. */
  running?: boolean;
  /** Cancelled while its handler still ran: counted in `cancelledStillRunning`. */
  countedAfterCancel?: boolean;
  /** Receives the request stream of a gRPC call that has one, until the client ends it. */
  upload?: RequestUpload | null;
}

/** The receiving end of a request stream: the client's DATA frames, then its END. */
export interface RequestUpload {
  onValue(frame: Frame): void;
  onEnd(): void;
}

/**
 * Request streams whose request already ended on our side (answered, failed) while the
 * client may still be sending: their late DATA and END frames are dropped, not taken for
 * protocol errors. The client ends each with END or CANCEL; the cap bounds what a client
 * that never does can make us remember.
 */
const MAX_CLOSED_UPLOADS = 4096;

/** What a channel asks of the server that owns it. */
export interface ServerChannelHost {
  readonly maxMessageSize: number;
  readonly logger: LoggerService;
  onRequest(channel: ServerChannel, frame: Frame): void;
  onEvent(channel: ServerChannel, frame: Frame): void;
  onChannelClosed(channel: ServerChannel): void;
}

/** The error value sent to a client when the transport itself fails a request. */
export function transportErrorValue(code: ErrorCode, message: string) {
  return { status: 'error', code: errorCodeName(code), message };
}

/**
 * One client stream on the server: routes incoming frames, tracks the requests in flight
 * on it, and writes their replies.
 */
export class ServerChannel {
  readonly inflight = new Map<number, InflightRequest>();
  private readonly closedUploads = new Set<number>();
  private readonly stream: FrameStream;
  /** The client finished its side: reply to what is in flight, then finish ours. */
  private peerFinished = false;
  /** A protocol error ended this channel: nothing more it receives is handled. */
  private failed = false;
  private badMessages = 0;

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

  /** Registers a new request; null when the id is already in flight (a protocol error). */
  beginRequest(id: number): InflightRequest | null {
    if (id === 0 || this.inflight.has(id)) {
      this.onProtocolError(new ProtocolError(ErrorCode.PROTOCOL_ERROR, `request id ${id} is invalid or in use`));
      return null;
    }
    const request: InflightRequest = { cancelled: false, cancel: null };
    this.inflight.set(id, request);
    return request;
  }

  /**
   * Handlers of cancelled requests that are still running (a Promise cannot be stopped).
   * They count against the concurrency limit until they finish, or a client could start
   * any number of them by cancelling each request right after sending it.
   */
  cancelledStillRunning = 0;

  /** The request's handler finished (its reply stream ended, or it threw). */
  handlerFinished(request: InflightRequest): void {
    request.running = false;
    if (request.countedAfterCancel) {
      request.countedAfterCancel = false;
      this.cancelledStillRunning--;
    }
  }

  endRequest(id: number): void {
    const request = this.inflight.get(id);
    if (request?.upload) this.forgetUpload(id, request);
    this.inflight.delete(id);
    if (this.peerFinished && this.inflight.size === 0) this.finishAndRelease();
  }

  /** Stops delivering a request's stream; what the client still sends for it is dropped. */
  private forgetUpload(id: number, request: InflightRequest): void {
    request.upload = null;
    if (this.closedUploads.size >= MAX_CLOSED_UPLOADS) {
      this.closedUploads.delete(this.closedUploads.values().next().value as number);
    }
    this.closedUploads.add(id);
  }

  /** Bytes of replies queued and not yet written (the client reads slower than we answer). */
  get pendingBytes(): number {
    return this.stream.writer.pendingBytes;
  }

  /** Both sides are done: finish ours and let the server forget this channel. */
  private finishAndRelease(): void {
    void this.stream.finish().then(() => this.host.onChannelClosed(this));
  }

  write(type: FrameType, id: number, payload: Buffer | null, flags = 0): boolean {
    return this.stream.writer.write(type, id, payload, flags);
  }

  /** Fails one request with a transport error; the stream stays up. */
  writeTransportError(id: number, code: ErrorCode, message: string): void {
    const value = Buffer.from(JSON.stringify(transportErrorValue(code, message)), 'utf8');
    this.write(FrameType.ERROR, id, value);
    this.endRequest(id);
  }

  /** Tells the client the stream is closing (GOAWAY), cancels what is in flight, and stops writing. */
  goAway(code: ErrorCode, reason: string): void {
    this.write(FrameType.GOAWAY, 0, encodeGoAway(code, reason));
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

  /** True when a frame has been partly received and no byte arrived for `timeoutMs`. */
  isStalled(now: number, timeoutMs: number): boolean {
    return this.stream.hasPartialFrame && now - this.stream.lastReceivedAt > timeoutMs;
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

  /** Cancels every request in flight and stops writing. */
  close(): void {
    for (const request of this.inflight.values()) cancelRequest(request);
    this.inflight.clear();
    void this.stream.finish();
  }

  private onFrame(frame: Frame): void {
    if (this.failed) return;
    switch (frame.type) {
      case FrameType.REQUEST:
        return this.host.onRequest(this, frame);
      case FrameType.EVENT:
        return this.host.onEvent(this, frame);
      case FrameType.PING:
        // A peer that pings without reading our answers gets no more of them.
        if (this.stream.writer.pendingBytes < MAX_PENDING_PONG_BYTES) this.write(FrameType.PONG, frame.id, null);
        return;
      case FrameType.PONG:
        return;
      case FrameType.DATA:
      case FrameType.END:
        return this.onUploadFrame(frame);
      case FrameType.CANCEL: {
        this.closedUploads.delete(frame.id);
        const request = this.inflight.get(frame.id);
        if (request) {
          this.inflight.delete(frame.id);
          cancelRequest(request);
          if (request.running && !request.countedAfterCancel) {
            request.countedAfterCancel = true;
            this.cancelledStillRunning++;
          }
        }
        return;
      }
      case FrameType.GOAWAY:
        this.close();
        return;
      default:
        this.onProtocolError(
          new ProtocolError(ErrorCode.PROTOCOL_ERROR, `${frameTypeName(frame.type)} frames are not sent by clients`),
        );
    }
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
    if (this.closedUploads.has(frame.id)) {
      if (frame.type === FrameType.END) this.closedUploads.delete(frame.id);
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
      cancelRequest(request);
      this.writeTransportError(frame.id, ErrorCode.MESSAGE_TOO_LARGE, message);
      return;
    }
    if (frame.type === FrameType.REQUEST && frame.id !== 0 && !this.inflight.has(frame.id)) {
      this.host.logger.warn?.(`Refused a request from ${this.remoteEndpointId}: ${message}`);
      this.writeTransportError(frame.id, ErrorCode.MESSAGE_TOO_LARGE, message);
    } else {
      this.host.logger.warn?.(`Dropped a ${frameTypeName(frame.type)} frame from ${this.remoteEndpointId}: ${message}`);
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
    for (const request of this.inflight.values()) cancelRequest(request);
    this.inflight.clear();
    this.write(FrameType.GOAWAY, 0, encodeGoAway(error.code, error.message));
    // Close the connection once the GOAWAY has arrived (or after a second at most).
    void this.stream
      .finishAndWaitDelivered(1000)
      .then(() => closeConnection(this.connection, error.code, error.message));
  }

  private onClosed(error?: Error): void {
    if (!error) {
      this.peerFinished = true;
      if (this.inflight.size === 0) this.finishAndRelease();
      return;
    }
    for (const request of this.inflight.values()) cancelRequest(request);
    this.inflight.clear();
    this.host.onChannelClosed(this);
  }
}

function cancelRequest(request: InflightRequest): void {
  if (request.cancelled) return;
  request.cancelled = true;
  try {
    request.cancel?.();
  } catch {
    // A handler's teardown that throws must not take the stream (or the process) with it;
    // `cancellable` logs it.
  }
}
