import type { Metadata } from '@grpc/grpc-js';
import { ClientReply, ClientRequest, ClientRequestOptions } from '../../client/client-request';
import { ClientCallTelemetry, NOOP_CLIENT_CALL } from '../../observability';
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
import { GrpcCallHeader, isHeaderMap } from '../grpc-wire';
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

/** What a call reports, in order: the server's response metadata if any, messages, then completion or an error. */
export interface GrpcCallListener {
  /**
   * The metadata the handler sent (`call.sendMetadata()`); it travels with the frame that
   * ends the call, so it comes just before the last message, the completion or the error.
   */
  onMetadata?(metadata: Metadata): void;
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
 * ended the listener hears nothing more. `telemetry` (its CLIENT span, started by the caller)
 * passes the trace context on in the call header and ends with the call's status.
 */
export class GrpcClientCall {
  private request: ClientRequest | null = null;
  private finished = false;

  constructor(
    start: RequestStarter,
    private readonly spec: GrpcCallSpec,
    private readonly limits: GrpcCallLimits,
    private readonly listener: GrpcCallListener,
    private readonly telemetry: ClientCallTelemetry = NOOP_CLIENT_CALL,
  ) {
    const now = Date.now();
    const deadline = Math.min(deadlineOf(spec.deadline), limits.timeout > 0 ? now + limits.timeout : Infinity);
    if (deadline <= now) {
      this.fail({ code: GrpcStatus.DEADLINE_EXCEEDED, details: 'Deadline exceeded', metadata: metadataFromWire(undefined) });
      return;
    }
    const data = spec.requestStream ? undefined : this.encodeMessage(spec.request);
    if (data === FAILED) return;
    const fixed: GrpcCallHeader = {};
    const headers = metadataToWire(spec.metadata);
    if (headers) fixed.headers = headers;
    if (spec.requestStream) fixed.requestStream = true;
    if (spec.codec.protobuf) fixed.protobuf = true;
    // The trace context goes beside the headers (docs/observability.md), taken once.
    const traced = telemetry.inject(fixed) as GrpcCallHeader;
    // The header carries the time left as of the moment the call is written.
    const payload = (remainingMs: number): EncodedPayload => {
      const header = Number.isFinite(remainingMs) ? { ...traced, timeoutMs: Math.ceil(remainingMs) } : traced;
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
      telemetry,
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
    this.telemetry.cancel();
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

  private onReply(reply: ClientReply): void {
    if (this.finished) return;
    if (reply.replyMetadata !== undefined && isHeaderMap(reply.replyMetadata)) {
      this.listener.onMetadata?.(metadataFromWire(reply.replyMetadata));
    }
    if ('err' in reply) {
      const status = reply.err instanceof StatusFailure ? reply.err.status : statusOfFailure(reply.err, this.spec.path);
      // A reply that could not be decoded: the server may still be sending.
      if (reply.err instanceof StatusFailure) this.request?.cancel();
      this.fail(status);
      return;
    }
    const last = reply.isDisposed === true;
    if (reply.response !== undefined) this.telemetry.onValue();
    // The call is over before its last message is handed on: a caller that unsubscribes on
    // that message (firstValueFrom) does not cancel a call that completed.
    if (last) {
      this.finished = true;
      this.telemetry.end();
    }
    if (reply.response !== undefined) this.listener.onMessage(reply.response);
    if (last) this.listener.onComplete();
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
    const error = serviceError(status);
    this.telemetry.end(error);
    this.listener.onError(error);
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
