import type { LoggerService } from '@nestjs/common';
import { closeConnection } from '../iroh';
import { ErrorCode, ProtocolError } from '../protocol';
import type { ConnectionRegistry } from './connection-registry';
import type { ServerLimits } from './server-limits';

type SweepLimits = Pick<ServerLimits, 'incompleteFrameTimeout' | 'idleTimeout' | 'writeStallTimeout'>;

/**
 * Checks every stream about once a second and closes the connections of clients that stopped
 * in the middle of a frame (`incompleteFrameTimeout`), that leave replies unread
 * (`writeStallTimeout`), or that sent nothing at all for `idleTimeout` (when set): clients ping
 * every few seconds, so silence means the client is gone, long before QUIC's own idle timeout.
 * Returns the function that stops the sweep.
 */
export function startStallSweep(registry: ConnectionRegistry, limits: SweepLimits, logger: LoggerService): () => void {
  const { incompleteFrameTimeout, idleTimeout, writeStallTimeout } = limits;
  const every = Math.min(1000, incompleteFrameTimeout, writeStallTimeout, idleTimeout > 0 ? idleTimeout : Infinity);
  const timer = setInterval(() => {
    const now = Date.now();
    for (const { peer, channel } of registry.channels()) {
      if (channel.isClosed) continue;
      // A client that reads nothing is judged as a reader first: while its replies sit unread
      // the server reads nothing from it either, so a frame of its may be incomplete on our side.
      if (channel.isWriteStalled(now, writeStallTimeout)) {
        logger.warn?.(`Closing the connection of ${peer.remoteEndpointId}: replies unread for ${writeStallTimeout} ms`);
        channel.close();
        closeConnection(peer.connection, ErrorCode.LIMIT_EXCEEDED, `replies unread for more than ${writeStallTimeout} ms (writeStallTimeout)`);
      } else if (channel.isStalled(now, incompleteFrameTimeout)) {
        channel.onProtocolError(
          new ProtocolError(ErrorCode.PROTOCOL_ERROR, `frame incomplete for more than ${incompleteFrameTimeout} ms`),
        );
      } else if (idleTimeout > 0 && channel.isIdle(now, idleTimeout)) {
        logger.warn?.(`Closing the connection of ${peer.remoteEndpointId}: nothing received for ${idleTimeout} ms`);
        channel.close();
        closeConnection(peer.connection, ErrorCode.NO_ERROR, `idle for more than ${idleTimeout} ms`);
      }
    }
  }, every);
  // The sweep must not keep a process alive on its own.
  timer.unref();
  return () => clearInterval(timer);
}
