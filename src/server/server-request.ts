import { NOOP_SERVER_CALL, ServerCallTelemetry } from '../observability';
import { ErrorCode, Frame, ReplyMessage, encodeReplyMetadata, errorCodeName } from '../protocol';

/** The receiving end of a request stream: the client's DATA frames, then its END. */
export interface RequestUpload {
  onValue(frame: Frame): void;
  onEnd(): void;
}

/** What a request needs from the stream it arrived on. */
export interface RequestOwner {
  readonly remoteEndpointId: string;
  /** Writes one reply of `request`; a final reply calls `request.finished()`. */
  writeReply(request: ServerRequest, message: ReplyMessage, serialize: boolean): void;
  /** Writes a transport error for request `id` (ERROR frame). */
  writeTransportError(id: number, code: ErrorCode, message: string): void;
  /** The request ended: no more frames will be written for it. */
  requestEnded(request: ServerRequest): void;
  /** A handler is still running although its request ended (+1), or it finished (−1). */
  countOutlivingHandler(delta: 1 | -1): void;
}

/**
 * One request on the server, from its REQUEST frame to its end. It ends exactly once: by
 * its final reply, by a transport error, by the client's CANCEL, at its deadline, or when
 * its stream closes. From then on nothing more is written for it, and its handler is stopped
 * (an Observable is unsubscribed; a Promise cannot be stopped, so a handler that outlives its
 * request is counted against the connection's concurrency until it returns).
 */
export class ServerRequest {
  private ended = false;
  private stopped = false;
  private running = false;
  private outliving = false;
  private teardown: (() => void) | null = null;
  private deadlineTimer: NodeJS.Timeout | null = null;
  /** Receives the request stream of a call that has one, until the client ends it. */
  upload: RequestUpload | null = null;
  /** The caller's deadline on this server's clock (ms since epoch); undefined when it set none. */
  readonly deadline: number | undefined;
  /** Its SERVER span and duration: set by the dispatcher once it knows the handler, ended with the request. */
  telemetry: ServerCallTelemetry = NOOP_SERVER_CALL;
  /** Reply metadata the handler set (JSON bytes), sent with the frame that ends the request. */
  replyMetadata: Buffer | null = null;

  constructor(
    readonly id: number,
    private readonly owner: RequestOwner,
    timeoutMs?: number,
  ) {
    if (timeoutMs !== undefined) {
      this.deadline = Date.now() + timeoutMs;
      // The caller stops waiting at its deadline: a handler still running then is cancelled.
      this.deadlineTimer = setTimeout(() => this.cancel(), timeoutMs);
      this.deadlineTimer.unref();
    }
  }

  get remoteEndpointId(): string {
    return this.owner.remoteEndpointId;
  }

  /** True once the request has ended: replies are dropped. */
  get isEnded(): boolean {
    return this.ended;
  }

  /** True once the handler has been told to stop (or would be, as soon as it registers). */
  get isStopped(): boolean {
    return this.stopped;
  }

  /** Registers what stops the handler; runs it at once when the request is already stopped. */
  onStop(teardown: () => void): void {
    this.teardown = teardown;
    if (this.stopped) this.runTeardown();
  }

  /** The handler is about to be called. */
  handlerStarted(): void {
    this.running = true;
  }

  /** The handler finished: its reply stream ended, it threw, or it was unsubscribed. */
  handlerFinished(): void {
    this.running = false;
    if (this.outliving) {
      this.outliving = false;
      this.owner.countOutlivingHandler(-1);
    }
  }

  /** Writes a reply (values, errors, completion as Nest's `send` produces them). Dropped once ended. */
  reply(message: ReplyMessage, serialize = true): void {
    if (!this.ended) this.owner.writeReply(this, message, serialize);
  }

  /**
   * Sets the reply metadata (replacing what was set before): a plain object JSON can carry,
   * within the protocol's limit; throws a TypeError otherwise. Ignored once the request ended.
   */
  setReplyMetadata(metadata: unknown): void {
    const encoded = encodeReplyMetadata(metadata);
    if (!this.ended) this.replyMetadata = encoded;
  }

  /** The final reply has been written: an ERROR with `error`, else a success. */
  finished(error?: unknown): void {
    this.telemetry.end(error);
    this.end();
  }

  /** Ends the request with a transport error (a limit, a failure) and stops its handler. */
  fail(code: ErrorCode, message: string): void {
    if (this.ended) return;
    this.owner.writeTransportError(this.id, code, message);
    this.telemetry.end({ code: errorCodeName(code), message });
    this.end();
    this.stop();
  }

  /** The client cancelled, the deadline passed or the stream closed: stop the handler, write nothing. */
  cancel(): void {
    this.telemetry.cancel();
    this.end();
    this.stop();
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = null;
    if (this.running && !this.outliving) {
      this.outliving = true;
      this.owner.countOutlivingHandler(1);
    }
    this.owner.requestEnded(this);
  }

  private stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.runTeardown();
  }

  private runTeardown(): void {
    const teardown = this.teardown;
    this.teardown = null;
    try {
      teardown?.();
    } catch {
      // A handler's teardown that throws must not take the stream (or the process) with it;
      // the teardown logs it.
    }
  }
}
