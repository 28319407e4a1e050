import type { LoggerService } from '@nestjs/common';
import { RequestBody } from '../../protocol';
import type { NestServer } from '../../server/nest-compat';
import type { DispatchChannel } from '../../server/nest-dispatcher';
import type { RequestUpload, ServerRequest } from '../../server/server-request';
import { metadataFromWire, metadataToWire } from '../grpc-metadata';
import { GrpcProtoOptions, hasProtoDefinition, packageNames } from '../grpc-proto-options';
import { GrpcStatus, GrpcStatusObject } from '../grpc-status';
import { GrpcCallHeader, readGrpcCallHeader } from '../grpc-wire';
import { JSON_MESSAGES, protobufMessages } from '../message-codec';
import { ProtoServices } from '../proto-services';
import { GrpcCallInfo } from './grpc-server-call';
import { GrpcHandler, GrpcRoutes } from './grpc-routes';
import { ServedGrpcCall, statusValue } from './served-grpc-call';

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
    private readonly server: NestServer,
    private readonly logger: LoggerService,
    private readonly maxMessageSize: number,
    private readonly options: GrpcProtoOptions,
  ) {}

  /**
   * Loads the `.proto` and finds the handlers: at `listen()`, once Nest has registered them.
   * Throws when the `.proto` cannot be loaded.
   */
  prepare(): void {
    const proto = hasProtoDefinition(this.options) ? ProtoServices.load(this.options) : null;
    const handlers = this.server.getHandlers() as unknown as Map<string, GrpcHandler>;
    this.routes = new GrpcRoutes(handlers, proto, packageNames(this.options));
    if (this.routes.handlerCount === 0) {
      this.logger.warn?.('gRPC is configured but no @GrpcMethod, @GrpcStreamMethod or @GrpcStreamCall handler was found');
    }
  }

  /** Handles a request whose pattern is a method path. */
  dispatch(request: ServerRequest, body: RequestBody, channel: DispatchChannel): void {
    let header: GrpcCallHeader | null;
    try {
      header = readGrpcCallHeader(body.metadata);
    } catch {
      header = null;
    }
    // The client may already be sending the request stream: take it before anything can fail.
    if (header?.requestStream) request.upload = DROPPED_UPLOAD;
    const refuse = (status: GrpcStatusObject) => request.reply({ err: statusValue(status), isDisposed: true }, false);
    const refuseMalformed = (status: GrpcStatusObject) => {
      refuse(status);
      channel.recordBadMessage();
    };
    const resolution = this.routes && header ? this.routes.resolve(body.pattern, header.requestStream === true) : null;
    // The SERVER span, child of the caller's; a method this server does not serve is `_OTHER`.
    const known = resolution !== null && 'route' in resolution;
    request.telemetry = channel.telemetry.startHandling('grpc', body.pattern, channel.remoteEndpointId, body.metadata, known);
    if (!this.routes) return refuse(internal('The gRPC server is not listening'));
    if (!header || !resolution) return refuseMalformed(internal('The gRPC call header is malformed'));
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
        sendMetadata: metadata => request.setReplyMetadata(metadataToWire(metadata) ?? {}),
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
      server: this.server,
      logger: this.logger,
      maxMessageSize: this.maxMessageSize,
      recordBadMessage: () => channel.recordBadMessage(),
    };
    new ServedGrpcCall(callHost, request, route, codec, info).start(message);
  }
}

function internal(details: string): GrpcStatusObject {
  return { code: GrpcStatus.INTERNAL, details, metadata: null };
}
