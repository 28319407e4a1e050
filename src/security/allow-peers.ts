import { CanActivate, ExecutionContext, Injectable, SetMetadata, UseGuards, applyDecorators } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { RpcException } from '@nestjs/microservices';
import { IrohContext } from '../context/iroh.context';

export const ALLOWED_PEERS_METADATA = 'nestjs-iroh:allowed-peers';

/**
 * Guard that lets a handler be called only by the endpoint ids given with
 * {@link AllowPeers} (on the handler or its controller). The caller's id comes from the
 * QUIC handshake, so it cannot be forged. Denied calls fail with an `RpcException`
 * carrying `code: 'UNAUTHORIZED'`.
 */
@Injectable()
export class IrohPeerGuard implements CanActivate {
  constructor(private readonly reflector: Reflector) {}

  canActivate(context: ExecutionContext): boolean {
    const allowed = this.reflector.getAllAndOverride<string[] | undefined>(ALLOWED_PEERS_METADATA, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (!allowed) return true;
    const rpc = context.switchToRpc().getContext();
    const caller = rpc instanceof IrohContext ? rpc.getRemoteEndpointId() : undefined;
    if (caller !== undefined && allowed.includes(caller)) return true;
    const pattern = rpc instanceof IrohContext ? rpc.getPattern() : undefined;
    throw new RpcException({
      status: 'error',
      code: 'UNAUTHORIZED',
      message: caller
        ? `Peer ${caller} is not allowed to call ${pattern ?? 'this handler'}`
        : 'This handler is only callable over iroh by allowed peers',
    });
  }
}

/** Restricts a handler (or every handler of a controller) to the given endpoint ids. */
export function AllowPeers(...endpointIds: string[]): MethodDecorator & ClassDecorator {
  const ids = endpointIds.map(id => id.trim().toLowerCase());
  return applyDecorators(SetMetadata(ALLOWED_PEERS_METADATA, ids), UseGuards(IrohPeerGuard));
}
