import type { LoggerService } from '@nestjs/common';
import { GrpcMethodStreamingType } from '@nestjs/microservices';
import { Observable, Subscription, defaultIfEmpty, finalize, lastValueFrom, take, takeLast } from 'rxjs';
import { ErrorCode, Frame, ProtocolError, decodeFrameValue } from '../../protocol';
import { NestServer, runWithProcessingHooks } from '../../server/nest-compat';
import type { RequestUpload, ServerRequest } from '../../server/server-request';
import { GrpcStatusValue } from '../grpc-wire';
import { metadataToWire } from '../grpc-metadata';
import { GrpcStatus, GrpcStatusObject, statusOfHandlerError } from '../grpc-status';
import { GrpcMessageCodec } from '../message-codec';
import { GrpcCallInfo, GrpcCallSink, IrohGrpcCall, IrohGrpcStreamCall } from './grpc-server-call';
import { GrpcRoute } from './grpc-routes';
import { RequestMessages } from './request-messages';

/** What a served call needs from the server. */
export interface GrpcCallHost {
  readonly server: NestServer;
  readonly logger: LoggerService;
  readonly maxMessageSize: number;
  /** Counts a request message that could not be decoded against the peer's budget. */
  recordBadMessage(): void;
}

/** The ERROR value that carries a status. */
export function statusValue(status: GrpcStatusObject): GrpcStatusValue {
  const metadata = metadataToWire(status.metadata);
  return metadata ? { code: status.code, details: status.details, metadata } : { code: status.code, details: status.details };
}

/**
 * One gRPC call being served: runs the handler the way Nest's gRPC server runs it for the
 * handler's kind, feeds it the request stream, and turns what it produces into replies
 * (messages encoded by the method's codec, failures into gRPC statuses).
 */
export class ServedGrpcCall implements GrpcCallSink, RequestUpload {
  private requestMessages: RequestMessages | null = null;
  private streamCall: IrohGrpcStreamCall | null = null;
  private replies: Subscription | null = null;

  constructor(
    private readonly host: GrpcCallHost,
    private readonly request: ServerRequest,
    private readonly route: GrpcRoute,
    private readonly codec: GrpcMessageCodec,
    private readonly info: GrpcCallInfo,
  ) {}

  /** Starts the call; `message` is the request message of a call without a request stream. */
  start(message: unknown): void {
    const { kind } = this.route;
    if (kind !== GrpcMethodStreamingType.NO_STREAMING) this.request.upload = this;
    const call =
      kind === GrpcMethodStreamingType.PT_STREAMING
        ? (this.streamCall = new IrohGrpcStreamCall(this.info, this))
        : new IrohGrpcCall(message, this.info);
    if (kind === GrpcMethodStreamingType.RX_STREAMING) this.requestMessages = new RequestMessages();
    this.request.onStop(() => {
      call.markCancelled();
      this.requestMessages?.complete();
      this.replies?.unsubscribe();
    });
    const hookContext = {
      request: message,
      metadata: this.info.metadata,
      path: this.info.path,
      remoteEndpointId: this.info.remoteEndpointId,
      operationId: this.route.rpc,
    };
    // Inside the call's SERVER span: `trace.getActiveSpan()` in the handler is it.
    this.request.telemetry
      .run(() =>
        runWithProcessingHooks(this.host.server, hookContext, message, async runEndHook => {
          if (this.request.isStopped) return runEndHook();
          if (call instanceof IrohGrpcStreamCall) return this.runStreamCall(call, runEndHook);
          const input = this.requestMessages ? this.requestMessages.observable : message;
          const output = this.host.server.transformToObservable(await this.route.handler(input, this.info.metadata, call));
          this.sendReplies(output, runEndHook);
        }),
      )
      .catch(err => {
        this.host.logger.error(`gRPC call ${this.info.path} from ${this.info.remoteEndpointId} failed: ${(err as Error)?.message ?? err}`);
        this.fail({ code: GrpcStatus.UNKNOWN, details: 'Internal server error', metadata: null });
      });
  }

  // ------------------------------------------------------------ request stream

  onValue(frame: Frame): void {
    let message: unknown;
    try {
      message = this.codec.decodeRequest(decodeFrameValue(frame, this.host.maxMessageSize));
    } catch (err) {
      const tooLarge = err instanceof ProtocolError && err.code === ErrorCode.MESSAGE_TOO_LARGE;
      this.host.recordBadMessage();
      this.fail({
        code: tooLarge ? GrpcStatus.RESOURCE_EXHAUSTED : GrpcStatus.INTERNAL,
        details: tooLarge ? err.message : `Error deserializing request: ${(err as Error).message}`,
        metadata: null,
      });
      return;
    }
    if (this.streamCall) this.streamCall.receive(message);
    else this.requestMessages?.next(message);
  }

  onEnd(): void {
    if (this.streamCall) this.streamCall.receiveEnd();
    else this.requestMessages?.complete();
  }

  // ------------------------------------------------------------ replies

  write(message: unknown): void {
    const value = this.encode(message);
    if (value !== FAILED) this.request.reply({ response: value }, false);
  }

  respond(message: unknown): void {
    const value = this.encode(message);
    if (value !== FAILED) this.request.reply({ response: value, isDisposed: true }, false);
  }

  finish(status: GrpcStatusObject | null): void {
    this.request.reply(status ? { err: statusValue(status), isDisposed: true } : { isDisposed: true }, false);
  }

  /** Values of the handler's Observable: all of them for a response stream, else one. */
  private sendReplies(output: Observable<unknown>, runEndHook: () => void): void {
    const { responseStream, kind } = this.route;
    // As Nest's gRPC server: a unary method answers with the first value, a client-streaming
    // one with the last; without a .proto the method's shape is unknown, so all are sent.
    const shaped =
      responseStream !== false ? output : kind === GrpcMethodStreamingType.NO_STREAMING ? output.pipe(take(1)) : output.pipe(takeLast(1));
    this.replies = this.host.server.send(shaped.pipe(finalize(runEndHook)), packet => {
      if ('err' in packet) this.finish(statusOfHandlerError(packet.err));
      else if (packet.isDisposed && packet.response === undefined) this.finish(null);
      else if (packet.isDisposed) this.respond(packet.response);
      else this.write(packet.response);
    });
    if (this.request.isStopped) this.replies.unsubscribe();
  }

  /** `@GrpcStreamCall`: the handler answers through the call; what it returns only tells when it is done. */
  private async runStreamCall(call: IrohGrpcStreamCall, runEndHook: () => void): Promise<void> {
    try {
      const result = await this.route.handler(call, call.callback);
      await lastValueFrom(this.host.server.transformToObservable(result).pipe(defaultIfEmpty(undefined)));
    } catch (err) {
      call.failUnlessFinished(statusOfHandlerError(err));
    } finally {
      runEndHook();
    }
  }

  private encode(message: unknown): unknown {
    try {
      return this.codec.encodeResponse(message);
    } catch (err) {
      this.fail({ code: GrpcStatus.INTERNAL, details: `Error serializing response: ${(err as Error).message}`, metadata: null });
      return FAILED;
    }
  }

  /** Ends the call with `status` and stops its handler. */
  private fail(status: GrpcStatusObject): void {
    this.finish(status);
    this.request.cancel();
  }
}

const FAILED = Symbol('failed');
