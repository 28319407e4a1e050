import type { Metadata } from '@grpc/grpc-js';
import { EventEmitter } from 'events';
import { Duplex } from 'stream';
import { GrpcStatusObject, statusOfHandlerError } from '../grpc-status';

/** What a call object knows about its call. */
export interface GrpcCallInfo {
  path: string;
  metadata: Metadata;
  /** The caller's endpoint id. */
  remoteEndpointId: string;
  /** The caller's deadline (ms since epoch), or Infinity. */
  deadline: number;
  /** Response metadata for the caller: sent with the call's end (as reply metadata). */
  sendMetadata?(metadata: Metadata): void;
}

/**
 * The call object a handler gets as its third argument for `@GrpcMethod` and
 * `@GrpcStreamMethod`, with the members of `@grpc/grpc-js`'s `ServerUnaryCall`: `request`,
 * `metadata`, `cancelled` and the `'cancelled'` event, `getPeer()`, `getDeadline()`,
 * `getPath()`, and `sendMetadata()`: the response metadata goes with the call's end (the
 * caller's `'metadata'` event), not before its first message as over HTTP/2.
 */
export class IrohGrpcCall<Request = unknown> extends EventEmitter {
  cancelled = false;
  readonly metadata: Metadata;

  constructor(
    readonly request: Request,
    private readonly info: GrpcCallInfo,
  ) {
    super();
    this.metadata = info.metadata;
  }

  /** `iroh:<endpoint id>` of the caller. */
  getPeer(): string {
    return `iroh:${this.info.remoteEndpointId}`;
  }

  /** The caller's endpoint id, authenticated by iroh. */
  getRemoteEndpointId(): string {
    return this.info.remoteEndpointId;
  }

  getDeadline(): Date | number {
    return Number.isFinite(this.info.deadline) ? new Date(this.info.deadline) : Infinity;
  }

  getPath(): string {
    return this.info.path;
  }

  sendMetadata(responseMetadata: Metadata): void {
    this.info.sendMetadata?.(responseMetadata);
  }

  /** The caller cancelled (or its deadline passed). */
  markCancelled(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.emit('cancelled', 'cancelled');
  }
}

/** Where a streaming call object's output goes. */
export interface GrpcCallSink {
  /** One response message of a stream. */
  write(message: unknown): void;
  /** The single response message; ends the call. */
  respond(message: unknown): void;
  /** Ends the call: with a status when it failed, else the response stream is complete. */
  finish(status: GrpcStatusObject | null): void;
}

/**
 * The call an `@GrpcStreamCall` handler gets, with the members of `@grpc/grpc-js`'s
 * `ServerDuplexStream`: a Duplex in object mode whose readable side yields the request
 * messages and whose writable side sends response messages; `end()` completes the response
 * stream, and an `'error'` emitted on it ends the call with that error's status.
 */
export class IrohGrpcStreamCall extends Duplex {
  cancelled = false;
  readonly metadata: Metadata;
  private finished = false;
  private pendingStatus: GrpcStatusObject | null = null;

  constructor(
    private readonly info: GrpcCallInfo,
    private readonly sink: GrpcCallSink,
  ) {
    super({ objectMode: true });
    this.metadata = info.metadata;
    // As in @grpc/grpc-js: an error emitted by the handler ends the call with its status.
    this.on('error', err => {
      if (this.finished || this.destroyed) return;
      this.pendingStatus = statusOfHandlerError(err);
      this.end();
    });
  }

  getPeer(): string {
    return `iroh:${this.info.remoteEndpointId}`;
  }

  getRemoteEndpointId(): string {
    return this.info.remoteEndpointId;
  }

  getDeadline(): Date | number {
    return Number.isFinite(this.info.deadline) ? new Date(this.info.deadline) : Infinity;
  }

  getPath(): string {
    return this.info.path;
  }

  /** As {@link IrohGrpcCall.sendMetadata}. */
  sendMetadata(responseMetadata: Metadata): void {
    this.info.sendMetadata?.(responseMetadata);
  }

  /** The callback a client-streaming handler answers through: `(error, response)`. */
  readonly callback = (error: unknown, response?: unknown): void => {
    if (this.finished) return;
    this.finished = true;
    if (error) this.sink.finish(statusOfHandlerError(error));
    else this.sink.respond(response);
  };

  /** A request message arrived. */
  receive(message: unknown): void {
    if (!this.cancelled) this.push(message);
  }

  /** The request stream ended. */
  receiveEnd(): void {
    if (!this.cancelled) this.push(null);
  }

  /** The caller cancelled (or its deadline passed): nothing more is sent. */
  markCancelled(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.finished = true;
    this.emit('cancelled', 'cancelled');
    this.push(null);
  }

  /** Ends the call with `status` unless it already ended (the handler failed without answering). */
  failUnlessFinished(status: GrpcStatusObject): void {
    if (this.finished) return;
    this.finished = true;
    this.sink.finish(status);
  }

  override _read(): void {}

  override _write(message: unknown, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    if (!this.finished) this.sink.write(message);
    done();
  }

  override _final(done: (error?: Error | null) => void): void {
    if (!this.finished) {
      this.finished = true;
      this.sink.finish(this.pendingStatus);
    }
    done();
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    if (!this.finished) {
      this.finished = true;
      this.sink.finish(error ? statusOfHandlerError(error) : null);
    }
    done(error);
  }
}
