import iroh = require('../iroh/binding');
import { FrameStream } from '../transport';
import {
  EncodedPayload,
  ErrorCode,
  Frame,
  FrameType,
  OversizedFrame,
  ProtocolError,
  ReplyMessage,
  decodeGoAway,
  errorCodeName,
  isFinalReply,
  messageTooLargeMessage,
} from '../protocol';
import { IrohClientError, IrohClientErrorCode, connectionLostError } from './client-errors';

export type ReplyCallback = (message: ReplyMessage) => void;

/** Decodes one reply frame of a request (default: the host's {@link ClientChannelHost.decodeReply}). */
export type ReplyDecoder = (frame: Frame) => ReplyMessage;

interface PendingRequest {
  callback: ReplyCallback;
  timer: NodeJS.Timeout | null;
  decode: ReplyDecoder | null;
  /** Set once a reply needed an async deserializer: later replies wait for it. */
  ordered?: Promise<void>;
  /** A request stream is open: its END is still to be sent. */
  uploading: boolean;
}

/** The sending end of a request stream (a gRPC call's request messages). */
export interface RequestUploadHandle {
  /** Sends one message; false once the request or the channel has ended. */
  send(payload: EncodedPayload): boolean;
  /** Ends the request stream. */
  end(): void;
  /** Cancels the request (CANCEL), as unsubscribing does. */
  cancel(): void;
}

/** Request ids stay below 2^31 so their varints stay short; 0 is reserved for events. */
const MAX_REQUEST_ID = 0x7fffffff;

export interface KeepAliveOptions {
  /** Milliseconds between PINGs; 0 turns keep-alive off. */
  interval: number;
  /** Milliseconds of silence after which the connection counts as lost. */
  timeout: number;
  /** A counter that grows whenever the peer sends anything (e.g. UDP datagrams received). */
  peerActivity?: () => number;
}

export interface ClientChannelHost {
  readonly maxMessageSize: number;
  /** Decodes a reply frame (RESPONSE, DATA, END, ERROR) into a reply message. */
  /** May return a Promise (a custom async deserializer); replies then stay in order. */
  decodeReply(frame: Frame): ReplyMessage | Promise<ReplyMessage>;
  /** The channel can no longer be used; every pending request has been failed. */
  onChannelClosed(channel: ClientChannel, error: IrohClientError): void;
}

/**
 * The client's stream to a server: assigns request ids, routes replies to their callbacks,
 * sends cancellations, and fails every pending request when the stream ends.
 */
export class ClientChannel {
  private readonly pending = new Map<number, PendingRequest>();
  private readonly stream: FrameStream;
  private nextId = 1;
  private readonly freeIds: number[] = [];
  private closedWith: IrohClientError | null = null;
  private keepAliveTimer: NodeJS.Timeout | null = null;
  /** A frame arrived since the last keep-alive tick. */
  private heard = false;
  private silentFor = 0;
  private pingId = 0;
  /** PINGs sent by ping(), by id: called with null on the PONG, or with the failure. */
  private readonly pings = new Map<number, (error: Error | null) => void>();

  constructor(
    bi: iroh.BiStream,
    private readonly host: ClientChannelHost,
    keepAlive: KeepAliveOptions,
  ) {
    this.stream = new FrameStream(bi, host.maxMessageSize, {
      onFrame: frame => this.onFrame(frame),
      onOversized: frame => this.onOversized(frame),
      onProtocolError: error => this.fail(protocolFailure(error)),
      onClosed: error =>
        this.fail(
          error
            ? connectionLostError(error.message)
            : new IrohClientError(IrohClientErrorCode.CONNECTION_LOST, 'Connection closed by the server'),
        ),
    }).start();
    if (keepAlive.interval > 0) {
      this.startKeepAlive(keepAlive.interval, keepAlive.timeout, keepAlive.peerActivity ?? (() => 0));
    }
  }

  /**
   * Sends a PING every `interval` and fails the channel when nothing at all (no reply, no
   * PONG) has arrived for `timeout`: a peer that vanished without closing is found within
   * seconds, not at QUIC's idle timeout.
   */
  private startKeepAlive(interval: number, timeout: number, peerActivity: () => number): void {
    let receivedAt = this.stream.lastReceivedAt;
    let activity = peerActivity();
    this.keepAliveTimer = setInterval(() => {
      // Anything from the peer proves it alive, not only a PONG: a large reply still
      // arriving, or the QUIC acknowledgements of a large request we are sending (our PINGs
      // wait behind it on the stream, so no PONG can come back until it is through).
      const nowActivity = peerActivity();
      const progressed = this.stream.lastReceivedAt !== receivedAt || nowActivity !== activity;
      receivedAt = this.stream.lastReceivedAt;
      activity = nowActivity;
      if (this.heard || progressed) {
        this.heard = false;
        this.silentFor = 0;
      } else {
        this.silentFor += interval;
        if (this.silentFor >= timeout) {
          this.fail(
            new IrohClientError(
              IrohClientErrorCode.CONNECTION_LOST,
              `Connection lost: no answer from the server for ${this.silentFor} ms (keep-alive)`,
            ),
          );
          return;
        }
      }
      this.stream.writer.write(FrameType.PING, this.nextPingId(), null);
    }, interval);
    this.keepAliveTimer.unref();
  }

  get isClosed(): boolean {
    return this.closedWith !== null;
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  /**
   * Sends a request; replies go to `callback`. Returns the teardown Nest calls on
   * unsubscribe, which cancels the request on the server if it is still running.
   */
  request(payload: EncodedPayload, callback: ReplyCallback, timeoutMs: number, decode: ReplyDecoder | null = null): () => void {
    const handle = this.start(payload, callback, timeoutMs, decode, false);
    return () => handle.cancel();
  }

  /**
   * Sends a request whose messages follow as a request stream (DATA frames, then END):
   * a gRPC call with client streaming. The server must serve gRPC methods; one that predates
   * request streams closes the connection with a protocol error rather than misread them.
   */
  requestWithUpload(
    payload: EncodedPayload,
    callback: ReplyCallback,
    timeoutMs: number,
    decode: ReplyDecoder | null = null,
  ): RequestUploadHandle {
    return this.start(payload, callback, timeoutMs, decode, true);
  }

  private start(
    payload: EncodedPayload,
    callback: ReplyCallback,
    timeoutMs: number,
    decode: ReplyDecoder | null,
    uploading: boolean,
  ): RequestUploadHandle {
    if (this.closedWith) {
      callback({ err: this.closedWith, isDisposed: true });
      return CLOSED_UPLOAD;
    }
    const id = this.allocateId();
    const entry: PendingRequest = { callback, timer: null, decode, uploading };
    if (timeoutMs > 0) {
      entry.timer = setTimeout(() => {
        if (this.pending.get(id) !== entry) return;
        this.pending.delete(id);
        entry.uploading = false;
        this.stream.writer.write(FrameType.CANCEL, id, null);
        callback({
          err: new IrohClientError(IrohClientErrorCode.TIMEOUT, `No reply within ${timeoutMs} ms`),
          isDisposed: true,
        });
      }, timeoutMs);
    }
    this.pending.set(id, entry);
    this.stream.writer.write(FrameType.REQUEST, id, payload.bytes, payload.flags);
    return {
      send: message => entry.uploading && this.pending.get(id) === entry && this.stream.writer.write(FrameType.DATA, id, message.bytes, message.flags),
      end: () => {
        if (!entry.uploading || this.pending.get(id) !== entry) return;
        entry.uploading = false;
        this.stream.writer.write(FrameType.END, id, null);
      },
      cancel: () => {
        if (this.pending.get(id) !== entry) return;
        this.pending.delete(id);
        entry.uploading = false;
        if (entry.timer) clearTimeout(entry.timer);
        this.stream.writer.write(FrameType.CANCEL, id, null);
      },
    };
  }

  /** Round-trip time of a PING/PONG on this stream, in milliseconds. */
  ping(timeoutMs: number): Promise<number> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    const id = this.nextPingId();
    const started = process.hrtime.bigint();
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pings.delete(id);
        reject(new IrohClientError(IrohClientErrorCode.TIMEOUT, `No PONG within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pings.set(id, error => {
        clearTimeout(timer);
        if (error) reject(error);
        else resolve(Number(process.hrtime.bigint() - started) / 1e6);
      });
      this.stream.writer.write(FrameType.PING, id, null);
    });
  }

  private nextPingId(): number {
    this.pingId = this.pingId >= MAX_REQUEST_ID ? 1 : this.pingId + 1;
    return this.pingId;
  }

  /** Sends an event; resolves once it is handed to the connection. */
  event(payload: EncodedPayload): Promise<void> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    this.stream.writer.write(FrameType.EVENT, 0, payload.bytes, payload.flags);
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

  private onFrame(frame: Frame): void {
    this.heard = true;
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
      case FrameType.PONG: {
        const waiter = this.pings.get(frame.id);
        if (waiter) {
          this.pings.delete(frame.id);
          waiter(null);
        }
        return;
      }
      case FrameType.GOAWAY: {
        const { code, reason } = decodeGoAway(frame.payload);
        const kind = code === (ErrorCode.GOING_AWAY as number) || code === (ErrorCode.NO_ERROR as number)
          ? IrohClientErrorCode.CONNECTION_LOST
          : IrohClientErrorCode.PROTOCOL_ERROR;
        this.fail(new IrohClientError(kind, `Server closed the stream (${errorCodeName(code)}): ${reason}`));
        return;
      }
      default:
        this.fail(
          protocolFailure(new ProtocolError(ErrorCode.PROTOCOL_ERROR, `unexpected frame type ${frame.type} from server`)),
        );
    }
  }

  private onReply(frame: Frame): void {
    const entry = this.pending.get(frame.id);
    if (!entry) return; // cancelled or timed out: late replies are dropped
    const final = isFinalReply(frame.type);
    if (final) {
      this.settle(frame.id, entry);
      this.freeIds.push(frame.id);
    }
    let message: ReplyMessage | Promise<ReplyMessage>;
    try {
      message = entry.decode ? entry.decode(frame) : this.host.decodeReply(frame);
    } catch (err) {
      if (!final) {
        this.pending.delete(frame.id);
        entry.uploading = false;
        if (entry.timer) clearTimeout(entry.timer);
        this.stream.writer.write(FrameType.CANCEL, frame.id, null);
      }
      const tooLarge = err instanceof ProtocolError && err.code === ErrorCode.MESSAGE_TOO_LARGE;
      message = {
        err: tooLarge
          ? new IrohClientError(IrohClientErrorCode.MESSAGE_TOO_LARGE, `Reply refused: ${(err as Error).message}`)
          : new IrohClientError(IrohClientErrorCode.PROTOCOL_ERROR, `Malformed reply: ${(err as Error).message}`),
        isDisposed: true,
      };
    }
    if (entry.ordered === undefined && !isPromise(message)) {
      entry.callback(message);
      return;
    }
    // An async deserializer: deliver this request's replies in arrival order.
    const decoded = message;
    entry.ordered = (entry.ordered ?? Promise.resolve())
      .then(() => decoded)
      .then(
        reply => entry.callback(reply),
        err => entry.callback({ err, isDisposed: true }),
      );
  }

  /** The server ended the request: forget it, and end its request stream if still open. */
  private settle(id: number, entry: PendingRequest): void {
    this.pending.delete(id);
    if (entry.timer) clearTimeout(entry.timer);
    if (entry.uploading) {
      entry.uploading = false;
      this.stream.writer.write(FrameType.END, id, null);
    }
  }

  private onOversized(frame: OversizedFrame): void {
    const entry = this.pending.get(frame.id);
    if (!entry) return;
    if (isFinalReply(frame.type)) {
      this.settle(frame.id, entry);
    } else {
      this.pending.delete(frame.id);
      entry.uploading = false;
      if (entry.timer) clearTimeout(entry.timer);
      this.stream.writer.write(FrameType.CANCEL, frame.id, null);
    }
    entry.callback({
      err: new IrohClientError(
        IrohClientErrorCode.MESSAGE_TOO_LARGE,
        `Reply refused: ${messageTooLargeMessage(frame.length, this.host.maxMessageSize)}`,
      ),
      isDisposed: true,
    });
  }

  private fail(error: IrohClientError): void {
    if (this.closedWith) return;
    this.closedWith = error;
    if (this.keepAliveTimer) clearInterval(this.keepAliveTimer);
    for (const waiter of this.pings.values()) waiter(error);
    this.pings.clear();
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const entry of pending) {
      if (entry.timer) clearTimeout(entry.timer);
      entry.callback({ err: error, isDisposed: true });
    }
    void this.stream.finish();
    this.host.onChannelClosed(this, error);
  }
}

function protocolFailure(error: ProtocolError): IrohClientError {
  return new IrohClientError(IrohClientErrorCode.PROTOCOL_ERROR, `Protocol error (${error.codeName}): ${error.message}`);
}

function noop(): void {}

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as Promise<T> | null)?.then === 'function';
}

const CLOSED_UPLOAD: RequestUploadHandle = { send: () => false, end: noop, cancel: noop };
