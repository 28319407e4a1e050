/** How the delays between connection attempts grow (gRPC's connection backoff, with a cap). */
export interface BackoffOptions {
  /** Delay before the second attempt, in milliseconds. */
  initial: number;
  /** Longest delay, in milliseconds. */
  max: number;
  /** Growth per attempt (default 2). */
  multiplier?: number;
  /** Each delay is spread uniformly by ± this fraction of itself (default 0.2). */
  jitter?: number;
  /** Source of randomness in [0, 1) (default Math.random; tests pass their own). */
  random?: () => number;
}

/**
 * Delays between connection attempts: exponential from `initial` to `max`, each spread by a
 * random jitter so that many clients that lost the same server do not dial it in lockstep.
 * A delay never exceeds `max`: it bounds how long a peer that came back goes unnoticed.
 */
export class Backoff {
  private current: number;
  private readonly multiplier: number;
  private readonly jitter: number;
  private readonly random: () => number;

  constructor(private readonly options: BackoffOptions) {
    this.current = options.initial;
    this.multiplier = options.multiplier ?? 2;
    this.jitter = options.jitter ?? 0.2;
    this.random = options.random ?? Math.random;
  }

  /** The delay before the next attempt; each call makes the following one longer. */
  next(): number {
    const base = Math.min(this.current, this.options.max);
    this.current = Math.min(this.options.max, this.current * this.multiplier);
    const spread = base * this.jitter * (this.random() * 2 - 1);
    return Math.max(0, Math.min(this.options.max, base + spread));
  }

  /** Back to the initial delay (after a success). */
  reset(): void {
    this.current = this.options.initial;
  }
}
