import type { Metadata } from '@grpc/grpc-js';
import { ClientRequest, ClientRequestOptions } from '../../client/client-request';
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
  /** The client's own request timeout in ms (0: none); the earlier of it and the deadline applies. */
  timeout: number;
  maxMessageSize: number;
}

/** What a call reports, in order: messages, then completion or an error. */
export interface GrpcCallListener {
  onMessage(message: unknown): void;
  onComplete(): void;
  onError(error: GrpcServiceError): void;
}

/** Starts a request on the client (to a ready peer, or queued while peers connect). */
export type RequestStarter = (options: ClientRequestOptions) => ClientRequest;

/**
 * A gRPC call, as one request on the client. It starts at once: request messages, the end
 * of the request stream and a cancellation given while no peer is ready yet are kept by the
 * request and applied in order when it is written. The deadline (the earlier of the call's
 * and the client's `timeout`) counts from creation, connecting included. Once the call has
 * ended the listener hears nothing more.
 */
export class GrpcClientCall {
  private request: ClientRequest | null = null;
  private finished = false;

  constructor(
    start: RequestStarter,
    private readonly spec: GrpcCallSpec,
    private readonly limits: GrpcCallLimits,
    private readonly listener: GrpcCallListener,
  ) {
    const now = Date.now();
    const deadline = Math.min(deadlineOf(spec.deadline), limits.timeout > 0 ? now + limits.timeout : Infinity);
    if (deadline <= now) {
      this.fail({ code: GrpcStatus.DEADLINE_EXCEEDED, details: 'Deadline exceeded', metadata: metadataFromWire(undefined) });
      return;
    }
    const data = spec.requestStream ? undefined : this.encodeMessage(spec.request);
    if (data === FAILED) return;
    const headers = metadataToWire(spec.metadata);
    // The header carries the time left as of the moment the call is written.
    const payload = (remainingMs: number): EncodedPayload => {
      const header: GrpcCallHeader = {};
      if (headers) header.headers = headers;
      if (Number.isFinite(remainingMs)) header.timeoutMs = Math.ceil(remainingMs);
      if (spec.requestStream) header.requestStream = true;
      if (spec.codec.protobuf) header.protobuf = true;
      // Not compressed here: the channel's stream compresses with the codec its server reads.
      return encodeRequestMessage(spec.path, data, header, 0);
    };
    if (!this.checkSize(payload(deadline - now))) return;
    this.request = start({
      payload,
      callback: reply => this.onReply(reply),
      deadline,
      decode: frame => this.decode(frame),
      upload: spec.requestStream,
    });
  }

  /** True once the call completed, failed or was cancelled. */
  get isFinished(): boolean {
    return this.finished;
  }

  /** Sends one request message (calls with a request stream). */
  write(message: unknown): void {
    if (this.finished) return;
    const payload = this.encode(message);
    if (payload) this.request?.send(payload);
  }

  /** Ends the request stream. */
  end(): void {
    if (!this.finished) this.request?.end();
  }

  /** Cancels the call: the server stops its handler; the listener hears nothing more. */
  cancel(): void {
    if (this.finished) return;
    this.finished = true;
    this.request?.cancel();
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
      if (reply.err instanceof StatusFailure) this.request?.cancel();
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
    return this.checkSize(encodeStreamValue(value, 0));
  }

  private encodeMessage(message: unknown): unknown {
    try {
      return this.spec.codec.encodeRequest(message);
    } catch (err) {
      this.request?.cancel();
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
    this.request?.cancel();
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
    this.listener.onError(serviceError(status));
  }
}

const FAILED = Symbol('failed');

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

function deadlineOf(deadline: Date | number | undefined): number {
  if (deadline === undefined) return Infinity;
  return deadline instanceof Date ? deadline.getTime() : deadline;
}
