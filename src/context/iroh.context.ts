import { BaseRpcContext } from '@nestjs/microservices';

/**
 * [remote endpoint id, pattern, packet metadata, request id (0 for events), deadline (epoch
 * ms on this server's clock, or undefined), where reply metadata goes (requests only)]
 */
export type IrohContextArgs = [string, string, unknown, number, (number | undefined)?, ((metadata: Record<string, unknown>) => void)?];

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

  /**
   * Sets metadata for the caller, as gRPC's response metadata: it travels with the reply's
   * end, and the caller reads it with `ClientIroh#send(pattern, data, { onReplyMetadata })`.
   * A plain object JSON can carry, at most 8 KiB as JSON; a later call replaces it. A client
   * of a version without reply metadata does not get it. Throws a TypeError for other
   * metadata, and an Error for an event (it has no reply).
   */
  setReplyMetadata(metadata: Record<string, unknown>): void {
    const set = this.args[5];
    if (!set) throw new Error('IrohContext#setReplyMetadata: an event has no reply to carry metadata');
    set(metadata);
  }
}
