import type { LoggerService } from '@nestjs/common';
import type { ReadPacket } from '@nestjs/microservices';
import { Observable } from 'rxjs';
import { NO_MESSAGE_HANDLER } from '../constants';
import { IrohContext } from '../context/iroh.context';
import { ServerTelemetry, withoutTraceContext } from '../observability';
import { DecodedRequest, ErrorCode } from '../protocol';
import { NestServer, deserializePacket, patternAsString, runEventHandler, runRequestHandler } from './nest-compat';
import { errorMessage } from './reply-writer';
import { transportErrorValue } from './server-channel';
import type { ServerRequest } from './server-request';

/** The stream a request or event arrived on, as dispatching sees it. */
export interface DispatchChannel {
  readonly remoteEndpointId: string;
  /** Where the spans of what it runs start. */
  readonly telemetry: ServerTelemetry;
  /** Counts a message that could not be decoded against the peer's budget of bad messages. */
  recordBadMessage(): void;
}

/** How the server core hands requests and events to the application. */
export interface RequestDispatcher {
  /** At listen, once Nest has registered the handlers; may throw to fail the listen. */
  prepare?(): void;
  dispatchRequest(request: ServerRequest, decoded: DecodedRequest, channel: DispatchChannel): void;
  /**
   * Runs the event's handler; the promise settles once the handler has (its Promise, and an
   * Observable it returned): the event counts against the event limits until then.
   */
  dispatchEvent(decoded: DecodedRequest, channel: DispatchChannel): Promise<void>;
}

interface InboundPacket {
  pattern: unknown;
  data: unknown;
  metadata?: unknown;
}

export interface NestDispatcherOptions {
  logger: LoggerService;
  maxPatternLength: number;
  /** The server has a custom deserializer: every packet goes through it. */
  customDeserializer: boolean;
}

/**
 * Hands requests and events to the handlers Nest registered on `server` (`@MessagePattern`,
 * `@EventPattern`), as Nest's own transports do: patterns routed as Nest routes them,
 * handlers run between the processing hooks, replies streamed from their Observable, and a
 * request's end (cancelled, deadline, stream closed) unsubscribing that Observable.
 */
export class NestDispatcher implements RequestDispatcher {
  constructor(
    private readonly server: NestServer,
    private readonly options: NestDispatcherOptions,
  ) {}

  dispatchRequest(request: ServerRequest, decoded: DecodedRequest, channel: DispatchChannel): void {
    this.handleRequest(request, decoded, channel).catch(err => {
      request.handlerFinished();
      this.options.logger.error(`Request ${request.id} from ${request.remoteEndpointId} failed: ${errorMessage(err)}`);
      request.reply({ err: transportErrorValue(ErrorCode.INTERNAL_ERROR, errorMessage(err)) });
    });
  }

  dispatchEvent(decoded: DecodedRequest, channel: DispatchChannel): Promise<void> {
    return this.handleEvent(decoded, channel).catch(err =>
      this.options.logger.error(`Event from ${channel.remoteEndpointId} failed: ${errorMessage(err)}`),
    );
  }

  private async handleRequest(request: ServerRequest, decoded: DecodedRequest, channel: DispatchChannel): Promise<void> {
    const packet = await this.toPacket(decoded, request.id);
    const pattern = patternAsString(this.server, packet.pattern);
    if (this.exceedsPatternLength(pattern)) {
      const message = `Pattern longer than ${this.options.maxPatternLength} bytes (maxPatternLength)`;
      this.options.logger.error(`Request ${request.id} from ${request.remoteEndpointId}: ${message}`);
      request.fail(ErrorCode.LIMIT_EXCEEDED, message);
      return;
    }
    const handler = this.server.getHandlers().get(pattern) ?? this.server.getHandlerByPattern(pattern);
    // The SERVER span, child of the caller's CLIENT span; the handler (guards, interceptors
    // and pipes with it) runs inside it. Handlers never see the trace context's key.
    const call = channel.telemetry.startHandling('request', pattern, request.remoteEndpointId, packet.metadata, handler !== null);
    request.telemetry = call;
    const context = new IrohContext([
      request.remoteEndpointId,
      pattern,
      withoutTraceContext(packet.metadata),
      request.id,
      request.deadline,
      metadata => request.setReplyMetadata(metadata),
    ]);
    if (!handler) {
      request.reply({ err: NO_MESSAGE_HANDLER, isDisposed: true });
      return;
    }
    const produce = async (): Promise<Observable<unknown>> =>
      stoppable(this.server.transformToObservable(await handler(packet.data, context)), request, this.options.logger);
    if (request.isStopped) return;
    request.handlerStarted();
    await call.run(() => runRequestHandler(this.server, context, produce, message => request.reply(message)));
  }

  private async handleEvent(decoded: DecodedRequest, channel: DispatchChannel): Promise<void> {
    const packet = await this.toPacket(decoded, undefined);
    const pattern = patternAsString(this.server, packet.pattern);
    if (this.exceedsPatternLength(pattern)) {
      this.options.logger.warn?.(
        `Dropped an event from ${channel.remoteEndpointId}: pattern longer than ${this.options.maxPatternLength} bytes`,
      );
      return;
    }
    // Looked up once: an unknown pattern is reported as such (its name is the sender's choice).
    const handler = this.server.getHandlerByPattern(pattern);
    const call = channel.telemetry.startHandling('event', pattern, channel.remoteEndpointId, packet.metadata, handler !== null);
    const context = new IrohContext([channel.remoteEndpointId, pattern, withoutTraceContext(packet.metadata), 0, undefined]);
    try {
      await call.run(() => runEventHandler(this.server, pattern, packet as ReadPacket, context, handler));
    } catch (err) {
      call.end(err);
      throw err;
    }
    call.end();
  }

  /** A decoded REQUEST (with its `id`) or EVENT as a Nest packet, through the custom deserializer if any. */
  private async toPacket(decoded: DecodedRequest, id: number | undefined): Promise<InboundPacket> {
    if (!decoded.envelope && !this.options.customDeserializer) return decoded.body;
    const raw = decoded.envelope ? decoded.value : { ...decoded.body, id };
    return (await deserializePacket(this.server, raw)) as InboundPacket;
  }

  private exceedsPatternLength(pattern: string): boolean {
    const max = this.options.maxPatternLength;
    return pattern.length > max || (pattern.length * 3 > max && Buffer.byteLength(pattern) > max);
  }
}

/** Wraps a handler's Observable so that the request's end unsubscribes it (its `finalize` runs). */
function stoppable<T>(source$: Observable<T>, request: ServerRequest, logger: LoggerService): Observable<T> {
  return new Observable<T>(subscriber => {
    const subscription = source$.subscribe(subscriber);
    // A handler's teardown may throw (rxjs UnsubscriptionError): log it, never let it
    // escape into the stream's read loop or a connection callback.
    const unsubscribe = () => {
      try {
        subscription.unsubscribe();
      } catch (err) {
        logger.error(`A handler's teardown failed: ${errorMessage(err)}`);
      }
    };
    request.onStop(() => {
      unsubscribe();
      subscriber.complete();
    });
    return () => {
      unsubscribe();
      request.handlerFinished();
    };
  });
}
