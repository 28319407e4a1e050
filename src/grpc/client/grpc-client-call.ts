import type { Metadata } from '@grpc/grpc-js';
import { ClientChannel, RequestUploadHandle } from '../../client/client-channel';
import { IrohClientError } from '../../client/client-errors';
import {
  EncodedPayload,
  Frame,
  FrameType,
  ReplyMessage,
  decodeFrameValue,
  encodeRequestMessage,
  encodeStreamValue,
  messageSize,
  messageTooLargeMessage,
} from '../../protocol';
import { metadataFromWire, metadataToWire } from '../grpc-metadata';
import { GrpcCallHeader } from '../grpc-wire';
import { GrpcServiceError, GrpcStatus, GrpcStatusObject, serviceError } from '../grpc-status';
import { GrpcMessageCodec } from '../message-codec';
import { statusOfFailure } from './failure-status';

/** One call to make. */
export interface GrpcCallSpec {
  path: string;
  codec: GrpcMessageCodec;
  /** Messages follow through `write()` and `end()`; else `request` is the one message. */
  requestStream: boolean;
  request?: unknown;
  metadata?: Metadata;
  /** gRPC deadline: a Date or ms since epoch; Infinity or undefined for none. */
  deadline?: Date | number;
}

/** Limits of the client making the call. */
export interface GrpcCallLimits {
  /** The client's own reply timeout in ms (0: none); the earlier of it and the deadline applies. */
  timeout: number;
  compressionThreshold: number;
  maxMessageSize: number;
}

/** What a call reports, in order: messages, then completion or an error. */
export interface GrpcCallListener {
  onMessage(message: unknown): void;
  onComplete(): void;
  onError(error: GrpcServiceError): void;
}

/**
 * A gRPC call on a client's stream to the server. It is created at once, while the
 * connection may still be on its way: request messages, the end of the request stream and a
 * cancellation given meanwhile are applied in order once the call has started. The deadline
 * counts from creation. Once the call has ended the listener hears nothing more.
 */
export class GrpcClientCall {
  private upload: RequestUploadHandle | null = null;
  private waiting: Array<() => void> | null = [];
  private finished = false;
  private readonly deadline: number;

  constructor(
    channel: Promise<ClientChannel>,
    private readonly spec: GrpcCallSpec,
    private readonly limits: GrpcCallLimits,
    private readonly listener: GrpcCallListener,
  ) {
    this.deadline = deadlineOf(spec.deadline);
    channel.then(
      ready => this.begin(ready),
      err => this.fail(connectFailureStatus(err, spec.path)),
    );
  }

  /** True once the call completed, failed or was cancelled. */
  get isFinished(): boolean {
    return this.finished;
  }

  /** Sends one request message (calls with a request stream). */
  write(message: unknown): void {
    if (this.finished) return;
    if (this.waiting) {
      this.waiting.push(() => this.write(message));
      return;
    }
    const payload = this.encode(message);
    if (payload) this.upload?.send(payload);
  }

  /** Ends the request stream. */
  end(): void {
    if (this.finished) return;
    if (this.waiting) this.waiting.push(() => this.end());
    else this.upload?.end();
  }

  /** Cancels the call: the server stops its handler; the listener hears nothing more. */
  cancel(): void {
    if (this.finished) return;
    this.finished = true;
    this.waiting = null;
    this.upload?.cancel();
  }

  private begin(channel: ClientChannel): void {
    if (this.finished) return;
    const remaining = this.deadline - Date.now();
    if (remaining <= 0) {
      this.fail({ code: GrpcStatus.DEADLINE_EXCEEDED, details: 'Deadline exceeded', metadata: metadataFromWire(undefined) });
      return;
    }
    const header: GrpcCallHeader = {};
    const headers = metadataToWire(this.spec.metadata);
    if (headers) header.headers = headers;
    if (Number.isFinite(remaining)) header.timeoutMs = Math.ceil(remaining);
    if (this.spec.requestStream) header.requestStream = true;
    if (this.spec.codec.protobuf) header.protobuf = true;
    const data = this.spec.requestStream ? undefined : this.encodeMessage(this.spec.request);
    if (data === FAILED) return;
    const payload = this.checkSize(encodeRequestMessage(this.spec.path, data, header, this.limits.compressionThreshold));
    if (!payload) return;
    const timeouts = [this.limits.timeout, Number.isFinite(remaining) ? Math.ceil(remaining) : 0].filter(t => t > 0);
    const timeoutMs = timeouts.length > 0 ? Math.min(...timeouts) : 0;
    const onReply = (reply: ReplyMessage) => this.onReply(reply);
    const decode = (frame: Frame) => this.decode(frame);
    this.upload = this.spec.requestStream
      ? channel.requestWithUpload(payload, onReply, timeoutMs, decode)
      : { ...NO_UPLOAD, cancel: channel.request(payload, onReply, timeoutMs, decode) };
    const waiting = this.waiting ?? [];
    this.waiting = null;
    for (const step of waiting) step();
  }

  private decode(frame: Frame): ReplyMessage {
    const value = frame.type === FrameType.END ? undefined : decodeFrameValue(frame, this.limits.maxMessageSize);
    switch (frame.type) {
      case FrameType.ERROR:
        return { err: value, isDisposed: true };
      case FrameType.END:
        return { isDisposed: true };
      default:
        try {
          return { response: this.spec.codec.decodeResponse(value), isDisposed: frame.type === FrameType.RESPONSE };
        } catch (err) {
          return { err: parsingFailure(err), isDisposed: true };
        }
    }
  }

  private onReply(reply: ReplyMessage): void {
    if (this.finished) return;
    if ('err' in reply) {
      const status = reply.err instanceof StatusFailure ? reply.err.status : statusOfFailure(reply.err, this.spec.path);
      // A reply that could not be decoded: the server may still be sending.
      if (reply.err instanceof StatusFailure) this.upload?.cancel();
      this.fail(status);
      return;
    }
    if (reply.response !== undefined) this.listener.onMessage(reply.response);
    if (reply.isDisposed && !this.finished) {
      this.finished = true;
      this.listener.onComplete();
    }
  }

  private encode(message: unknown): EncodedPayload | null {
    const value = this.encodeMessage(message);
    if (value === FAILED) return null;
    return this.checkSize(encodeStreamValue(value, this.limits.compressionThreshold));
  }

  private encodeMessage(message: unknown): unknown {
    try {
      return this.spec.codec.encodeRequest(message);
    } catch (err) {
      this.upload?.cancel();
      this.fail({
        code: GrpcStatus.INTERNAL,
        details: `Request message serialization failure: ${(err as Error).message}`,
        metadata: metadataFromWire(undefined),
      });
      return FAILED;
    }
  }

  private checkSize(payload: EncodedPayload): EncodedPayload | null {
    if (messageSize(payload) <= this.limits.maxMessageSize) return payload;
    this.upload?.cancel();
    this.fail({
      code: GrpcStatus.RESOURCE_EXHAUSTED,
      details: messageTooLargeMessage(messageSize(payload), this.limits.maxMessageSize),
      metadata: metadataFromWire(undefined),
    });
    return null;
  }

  private fail(status: GrpcStatusObject): void {
    if (this.finished) return;
    this.finished = true;
    this.waiting = null;
    this.listener.onError(serviceError(status));
  }
}

const FAILED = Symbol('failed');

const NO_UPLOAD: RequestUploadHandle = { send: () => false, end: () => undefined, cancel: () => undefined };

/** A reply that arrived but could not be decoded, carried to the listener as its status. */
class StatusFailure {
  constructor(readonly status: GrpcStatusObject) {}
}

function parsingFailure(err: unknown): StatusFailure {
  return new StatusFailure({
    code: GrpcStatus.INTERNAL,
    details: `Response message parsing error: ${(err as Error).message}`,
    metadata: metadataFromWire(undefined),
  });
}

/** A connection that could not be made fails the call as UNAVAILABLE, as in `@grpc/grpc-js`. */
function connectFailureStatus(err: unknown, path: string): GrpcStatusObject {
  if (err instanceof IrohClientError) return statusOfFailure(err, path);
  return { code: GrpcStatus.UNAVAILABLE, details: (err as Error)?.message ?? String(err), metadata: metadataFromWire(undefined) };
}

function deadlineOf(deadline: Date | number | undefined): number {
  if (deadline === undefined) return Infinity;
  return deadline instanceof Date ? deadline.getTime() : deadline;
}
