import { IrohClientError, IrohClientErrorCode } from './client-errors';

export interface KeepAliveOptions {
  /** Milliseconds between PINGs; 0 turns keep-alive off. */
  interval: number;
  /** Milliseconds of silence after which the connection counts as lost. */
  timeout: number;
  /** A counter that grows whenever the peer sends anything (e.g. UDP datagrams received). */
  peerActivity?: () => number;
}

/** What keep-alive watches and drives on a stream. */
export interface KeepAliveProbe {
  /** When bytes last arrived on the stream (ms since epoch). */
  lastReceivedAt(): number;
  /** Sends a PING. */
  ping(): void;
  /** Nothing came from the peer for too long. */
  silent(error: IrohClientError): void;
}

/**
 * Sends a PING every `interval` and reports the stream silent when nothing at all (no
 * reply, no PONG) has arrived for `timeout`: a peer that vanished without closing is found
 * within seconds, not at QUIC's idle timeout.
 */
export class KeepAlive {
  private timer: NodeJS.Timeout | null = null;
  /** A frame arrived since the last tick. */
  private heardFrame = false;
  private silentFor = 0;

  constructor(options: KeepAliveOptions, probe: KeepAliveProbe) {
    if (options.interval <= 0) return;
    const peerActivity = options.peerActivity ?? (() => 0);
    let receivedAt = probe.lastReceivedAt();
    let activity = peerActivity();
    this.timer = setInterval(() => {
      // Anything from the peer proves it alive, not only a PONG: a large reply still
      // arriving, or the QUIC acknowledgements of a large request we are sending (our PINGs
      // wait behind it on the stream, so no PONG can come back until it is through).
      const nowActivity = peerActivity();
      const nowReceivedAt = probe.lastReceivedAt();
      const progressed = nowReceivedAt !== receivedAt || nowActivity !== activity;
      receivedAt = nowReceivedAt;
      activity = nowActivity;
      if (this.heardFrame || progressed) {
        this.heardFrame = false;
        this.silentFor = 0;
      } else {
        this.silentFor += options.interval;
        if (this.silentFor >= options.timeout) {
          this.stop();
          probe.silent(
            new IrohClientError(
              IrohClientErrorCode.CONNECTION_LOST,
              `Connection lost: no answer from the server for ${this.silentFor} ms (keep-alive)`,
            ),
          );
          return;
        }
      }
      probe.ping();
    }, options.interval);
    this.timer.unref();
  }

  /** A frame arrived. */
  heard(): void {
    this.heardFrame = true;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
