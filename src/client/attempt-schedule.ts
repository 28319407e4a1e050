import { Backoff } from './backoff';

/** An attempt begun this recently stands for a fresh one, so a burst of requests dials once. */
export const FRESH_ATTEMPT_MS = 250;

export interface RetrySettings {
  /** Attempts made in the background after a loss or a failed attempt, before the peer waits to be asked. */
  retryAttempts: number;
  /** Delay before the first background retry, doubled each time up to `maxRetryDelay`. */
  retryDelay: number;
  maxRetryDelay: number;
}

/** The peer whose attempts are scheduled, as the schedule sees it. */
export interface ScheduledPeer {
  isReady(): boolean;
  /** Attempts begun and not ended yet. */
  attemptsInFlight(): number;
  /** Begins an attempt; `background` when the retry schedule made it. */
  attempt(background: boolean): void;
}

/**
 * When a peer's connection attempts begin: a fresh one when a request asks for it (one for a
 * burst of requests), and background ones after a loss or a failed attempt. Attempts may
 * overlap: a QUIC handshake begun while the peer was down waits for its retransmission timer
 * (1 s, then 2, 4…), so a fresh attempt every `maxRetryDelay` at most finds a peer that came
 * back sooner than an old one would.
 */
export class AttemptSchedule {
  private lastAttemptAt = -Infinity;
  private retryTimer: NodeJS.Timeout | null = null;
  /** A fresh attempt asked for by a request, due FRESH_ATTEMPT_MS after the last one began. */
  private freshTimer: NodeJS.Timeout | null = null;
  private retriesLeft = 0;
  private readonly backoff: Backoff;

  constructor(
    private readonly settings: RetrySettings,
    private readonly peer: ScheduledPeer,
  ) {
    this.backoff = new Backoff({ initial: settings.retryDelay, max: settings.maxRetryDelay });
  }

  /** Attempts are scheduled. */
  get isPending(): boolean {
    return this.retryTimer !== null || this.freshTimer !== null;
  }

  /** An attempt began at `startedAt` (ms since epoch). */
  attemptBegan(startedAt: number): void {
    this.lastAttemptAt = startedAt;
  }

  /**
   * A fresh attempt now, unless one began within FRESH_ATTEMPT_MS. Should it fail, background
   * attempts follow (see {@link startRetries}).
   */
  requestAttempt(): void {
    const sinceLast = Date.now() - this.lastAttemptAt;
    if (sinceLast >= FRESH_ATTEMPT_MS) {
      this.peer.attempt(false);
    } else if (this.peer.attemptsInFlight() === 0 && !this.freshTimer) {
      // The last attempt already failed: the peer may be back since, so a request gets an
      // attempt of its own, a burst of requests one together.
      this.freshTimer = setTimeout(() => {
        this.freshTimer = null;
        if (!this.peer.isReady() && this.peer.attemptsInFlight() === 0) this.peer.attempt(false);
      }, FRESH_ATTEMPT_MS - sinceLast);
      this.freshTimer.unref();
    }
  }

  /** After a loss: an attempt at once, then the background ones. */
  reconnectInBackground(): void {
    this.stop();
    if (this.settings.retryAttempts <= 0) return;
    this.retriesLeft = this.settings.retryAttempts - 1;
    this.peer.attempt(true);
    this.scheduleRetry();
  }

  /**
   * Background attempts, `retryAttempts` of them, each `backoff` after the one before
   * whether or not that one has ended: the peer may be down, and an attempt begun then only
   * retries at QUIC's retransmission timer. They start after a loss or a failed attempt, not
   * while a first attempt is still running, so a live but slow server gets one connection.
   */
  startRetries(): void {
    if (this.retryTimer) return;
    this.retriesLeft = this.settings.retryAttempts;
    this.scheduleRetry();
  }

  /** The peer is ready: nothing more is scheduled, and the next loss starts from the first delay. */
  connected(): void {
    this.stop();
    this.backoff.reset();
  }

  /** Nothing scheduled, no attempt begun: as new. */
  reset(): void {
    this.stop();
    this.lastAttemptAt = -Infinity;
    this.backoff.reset();
  }

  stop(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.freshTimer) clearTimeout(this.freshTimer);
    this.freshTimer = null;
    this.retriesLeft = 0;
  }

  private scheduleRetry(): void {
    if (this.peer.isReady() || this.retryTimer || this.retriesLeft <= 0) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.peer.isReady()) return;
      this.retriesLeft--;
      this.peer.attempt(true);
      this.scheduleRetry();
    }, this.backoff.next());
    this.retryTimer.unref();
  }
}
