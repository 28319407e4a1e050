import type { LoggerService } from '@nestjs/common';
import type { Server } from '@nestjs/microservices';
import { ReplyMessage, RequestBody } from '../../protocol';
import { GrpcCallHeader, readGrpcCallHeader } from '../grpc-wire';
import type { InflightRequest, RequestUpload } from '../../server/server-channel';
import { metadataFromWire } from '../grpc-metadata';
import { GrpcProtoOptions, hasProtoDefinition, packageNames } from '../grpc-proto-options';
import { GrpcStatus, GrpcStatusObject } from '../grpc-status';
import { JSON_MESSAGES, protobufMessages } from '../message-codec';
import { ProtoServices } from '../proto-services';
import { GrpcCallInfo } from './grpc-server-call';
import { GrpcHandler, GrpcRoutes } from './grpc-routes';
import { ServedGrpcCall, statusValue } from './served-grpc-call';

/** What the gRPC calls of a server need from it. */
export interface GrpcServerHost {
  readonly server: Server;
  readonly logger: LoggerService;
  readonly maxMessageSize: number;
  /** Writes one reply of request `id` on `channel`, in the compact layout. */
  reply(channel: GrpcChannel, id: number, request: InflightRequest, message: ReplyMessage): void;
}

/** The part of a server channel a gRPC call uses. */
export interface GrpcChannel {
  readonly remoteEndpointId: string;
  /** Counts a message that could not be decoded against the peer's budget of bad messages. */
  recordBadMessage(): void;
}

/** Takes the request stream of a call that is refused: what the client still sends is dropped. */
const DROPPED_UPLOAD: RequestUpload = { onValue: () => undefined, onEnd: () => undefined };

/**
 * Serves gRPC calls (requests whose pattern is a method path, `/package.Service/Method`)
 * with the handlers Nest registered for its gRPC decorators: routes each call, decodes its
 * messages (protobuf with a `.proto`), and starts a {@link ServedGrpcCall}.
 */
export class GrpcServerCalls {
  private routes: GrpcRoutes | null = null;

  constructor(
    private readonly host: GrpcServerHost,
    private readonly options: GrpcProtoOptions,
    /** Whether the server serves gRPC handlers at all (it has taken gRPC's transport id). */
    readonly enabled: boolean,
  ) {}

  /**
   * Loads the `.proto` and finds the handlers: at `listen()`, once Nest has registered them.
   * Throws when the `.proto` cannot be loaded.
   */
  prepare(): void {
    if (!this.enabled) return;
    const proto = hasProtoDefinition(this.options) ? ProtoServices.load(this.options) : null;
    const handlers = this.host.server.getHandlers() as unknown as Map<string, GrpcHandler>;
    this.routes = new GrpcRoutes(handlers, proto, packageNames(this.options));
    if (this.routes.handlerCount === 0) {
      this.host.logger.warn?.('gRPC is configured but no @GrpcMethod, @GrpcStreamMethod or @GrpcStreamCall handler was found');
    }
  }

  /**
   * Handles a request whose pattern is a method path. A server that does not serve gRPC
   * answers as it answers any pattern without a handler (`noHandler`).
   */
  dispatch(channel: GrpcChannel, id: number, body: RequestBody, request: InflightRequest, noHandler: ReplyMessage): void {
    let header: GrpcCallHeader | null;
    try {
      header = readGrpcCallHeader(body.metadata);
    } catch {
      header = null;
    }
    // The client may already be sending the request stream: take it before anything can fail.
    if (header?.requestStream) request.upload = DROPPED_UPLOAD;
    const refuse = (status: GrpcStatusObject) =>
      this.host.reply(channel, id, request, { err: statusValue(status), isDisposed: true });
    const refuseMalformed = (status: GrpcStatusObject) => {
      refuse(status);
      channel.recordBadMessage();
    };
    if (!this.enabled || !this.routes) {
      this.host.reply(channel, id, request, noHandler);
      return;
    }
    if (!header) return refuseMalformed(internal('The gRPC call header is malformed'));
    const resolution = this.routes.resolve(body.pattern, header.requestStream === true);
    if ('status' in resolution) return refuse(resolution.status);
    const { route } = resolution;
    if (header.protobuf && !route.method) {
      return refuse(internal(`The call sent protobuf messages, but this server has no .proto for ${body.pattern} (give it protoPath)`));
    }
    const codec = route.method ? protobufMessages(route.method, header.protobuf === true) : JSON_MESSAGES;
    let info: GrpcCallInfo;
    try {
      info = {
        path: body.pattern,
        metadata: metadataFromWire(header.headers),
        remoteEndpointId: channel.remoteEndpointId,
        deadline: header.timeoutMs === undefined ? Infinity : Date.now() + header.timeoutMs,
      };
    } catch (err) {
      return refuseMalformed(internal(`The call's metadata is invalid: ${(err as Error).message}`));
    }
    let message: unknown;
    if (!header.requestStream) {
      try {
        message = codec.decodeRequest(body.data);
      } catch (err) {
        return refuseMalformed(internal(`Error deserializing request: ${(err as Error).message}`));
      }
    }
    const callHost = {
      server: this.host.server,
      logger: this.host.logger,
      maxMessageSize: this.host.maxMessageSize,
      reply: (replyId: number, replyRequest: InflightRequest, reply: ReplyMessage) => this.host.reply(channel, replyId, replyRequest, reply),
      recordBadMessage: () => channel.recordBadMessage(),
    };
    new ServedGrpcCall(callHost, id, request, route, codec, info).start(message);
  }
}

function internal(details: string): GrpcStatusObject {
  return { code: GrpcStatus.INTERNAL, details, metadata: null };
}
