import { BaseRpcContext } from '@nestjs/microservices';

/**
 * [remote endpoint id, pattern, packet metadata, request id (0 for events), deadline (epoch
 * ms on this server's clock, or undefined)]
 */
export type IrohContextArgs = [string, string, unknown, number, (number | undefined)?];

/**
 * The RPC context of a message received over iroh, as `TcpContext` is for TCP:
 * `@Ctx() ctx: IrohContext` in a handler.
 */
export class IrohContext extends BaseRpcContext<IrohContextArgs> {
  constructor(args: IrohContextArgs) {
    super(args);
  }

  /**
   * The caller's endpoint id (hex ed25519 public key). iroh authenticates it during the
   * QUIC handshake, so it can be trusted for authorization.
   */
  getRemoteEndpointId(): string {
    return this.args[0];
  }

  /** The pattern the message was sent with, as a string. */
  getPattern(): string {
    return this.args[1];
  }

  /** The metadata the client attached to the packet (Nest 12 dispatch hook), if any. */
  getMetadata<T = unknown>(): T {
    return this.args[2] as T;
  }

  /** The request id on the connection's stream; 0 for events. */
  getRequestId(): number {
    return this.args[3];
  }

  /**
   * When the caller stops waiting for the reply, in milliseconds since the epoch on this
   * server's clock (the caller sends the time it has left, so the clocks need not agree), or
   * undefined when it set no timeout. The server cancels a handler still running then.
   */
  getDeadline(): number | undefined {
    return this.args[4];
  }
}
