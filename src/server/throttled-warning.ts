import type { LoggerService } from '@nestjs/common';

/** How long a throttled warning stays quiet after it was written. */
export const WARNING_INTERVAL_MS = 10_000;

/**
 * A warning a peer can cause at will (a refused connection, a dropped event, a malformed
 * message), written at most once per interval: the first occurrence in full, then one line
 * with how many more there were, so that a flood cannot flood the logs.
 */
export class ThrottledWarning {
  private suppressed = 0;
  private quietUntil = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly logger: LoggerService,
    /** What the summary line calls the suppressed occurrences, e.g. "refused connections". */
    private readonly what: string,
    private readonly intervalMs = WARNING_INTERVAL_MS,
  ) {}

  warn(message: string): void {
    const now = Date.now();
    if (now >= this.quietUntil) {
      this.logger.warn?.(message);
      this.quietUntil = now + this.intervalMs;
      return;
    }
    this.suppressed++;
    if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.quietUntil - now);
      this.timer.unref();
    }
  }

  /** Writes the count of what was suppressed (also at the end of each interval). */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.suppressed === 0) return;
    const count = this.suppressed;
    this.suppressed = 0;
    this.quietUntil = Date.now() + this.intervalMs;
    this.logger.warn?.(`${count} more ${this.what} in the last ${Math.round(this.intervalMs / 1000)} s (warnings throttled)`);
  }
}
