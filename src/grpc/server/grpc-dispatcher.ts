import type { LoggerService } from '@nestjs/common';
import { DecodedRequest, ErrorCode } from '../../protocol';
import type { NestServer } from '../../server/nest-compat';
import type { DispatchChannel, RequestDispatcher } from '../../server/nest-dispatcher';
import type { ServerRequest } from '../../server/server-request';
import { isGrpcMethodPath } from '../grpc-wire';
import { GrpcServerCalls } from './grpc-server-calls';

/**
 * Dispatching for a server that serves gRPC controllers: a request whose pattern is a gRPC
 * method path (and not the exact pattern of a message handler) is a gRPC call; everything
 * else goes to Nest's message and event handlers as on any iroh server.
 */
export class GrpcDispatcher implements RequestDispatcher {
  constructor(
    private readonly server: NestServer,
    private readonly calls: GrpcServerCalls,
    private readonly messages: RequestDispatcher,
    private readonly logger: LoggerService,
  ) {}

  prepare(): void {
    this.calls.prepare();
    this.messages.prepare?.();
  }

  dispatchRequest(request: ServerRequest, decoded: DecodedRequest, channel: DispatchChannel): void {
    if (decoded.envelope || !isGrpcMethodPath(decoded.body.pattern) || this.server.getHandlers().has(decoded.body.pattern)) {
      this.messages.dispatchRequest(request, decoded, channel);
      return;
    }
    try {
      this.calls.dispatch(request, decoded.body, channel);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.logger.error(`gRPC call ${request.id} from ${channel.remoteEndpointId} failed: ${message}`);
      request.fail(ErrorCode.INTERNAL_ERROR, message);
    }
  }

  dispatchEvent(decoded: DecodedRequest, channel: DispatchChannel): Promise<void> {
    return this.messages.dispatchEvent(decoded, channel);
  }
}
