import type { LoggerService } from '@nestjs/common';
import { closeConnection } from '../iroh';
import { ErrorCode, ProtocolError } from '../protocol';
import type { ConnectionRegistry } from './connection-registry';
import type { ServerLimits } from './server-limits';

type SweepLimits = Pick<ServerLimits, 'incompleteFrameTimeout' | 'idleTimeout' | 'writeStallTimeout'>;

/** What a stream's liveness is judged by (a frame stream has it). */
export interface StreamActivity {
  /** When bytes last arrived (ms since epoch). */
  readonly lastReceivedAt: number;
  /** When the frame now partly received began to arrive, or null. */
  readonly partialFrameSince: number | null;
  readonly writer: { readonly pendingBytes: number; readonly lastProgressAt: number };
}

/** How long replies must have sat unread before an incomplete frame is blamed on the reader, not the sender. */
const UNREAD_REPLIES_MS = 1000;

/** Replies are waiting and the client has taken none of them for `timeoutMs`. */
function isWriteStalled(stream: StreamActivity, now: number, timeoutMs: number): boolean {
  return stream.writer.pendingBytes > 0 && now - stream.writer.lastProgressAt > timeoutMs;
}

/**
 * A frame began to arrive more than `timeoutMs` ago and is still incomplete. Not while replies
 * sit unread: the server then reads nothing from the client (backpressure), and
 * `writeStallTimeout` judges it as a reader.
 */
function isStalled(stream: StreamActivity, now: number, timeoutMs: number): boolean {
  const since = stream.partialFrameSince;
  return since !== null && now - since > timeoutMs && !isWriteStalled(stream, now, UNREAD_REPLIES_MS);
}

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
      const stream = channel.activity;
      if (isWriteStalled(stream, now, writeStallTimeout)) {
        logger.warn?.(`Closing the connection of ${peer.remoteEndpointId}: replies unread for ${writeStallTimeout} ms`);
        channel.close();
        closeConnection(
          peer.connection,
          ErrorCode.LIMIT_EXCEEDED,
          `replies unread for more than ${writeStallTimeout} ms (writeStallTimeout)`,
        );
      } else if (isStalled(stream, now, incompleteFrameTimeout)) {
        channel.onProtocolError(new ProtocolError(ErrorCode.PROTOCOL_ERROR, `frame incomplete for more than ${incompleteFrameTimeout} ms`));
      } else if (idleTimeout > 0 && now - stream.lastReceivedAt > idleTimeout) {
        // Nothing at all arrived: a client that vanished without closing.
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
