/**
 * Token buckets by key (a peer's endpoint id, a source address): each refills at
 * `ratePerSecond` up to `burst`. Buckets that are full again are forgotten, and the number
 * kept is capped, so a stream of new keys cannot grow the map without bound.
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly maxKeys = 65_536,
  ) {}

  /** Keys with a bucket that is not full. */
  get size(): number {
    return this.buckets.size;
  }

  /** Takes `amount` tokens from `key`'s bucket; false (taking nothing) when it has fewer. */
  take(key: string, amount: number, now = Date.now()): boolean {
    const bucket = this.refilled(key, now);
    if (bucket.tokens < amount) return false;
    bucket.tokens -= amount;
    this.keep(key, bucket);
    return true;
  }

  /**
   * Takes `amount` tokens from `key`'s bucket even if it has fewer (it goes into debt), and
   * returns how long (ms) until it is out of debt again: 0 when it is not in debt.
   */
  debit(key: string, amount: number, now = Date.now()): number {
    const bucket = this.refilled(key, now);
    bucket.tokens -= amount;
    this.keep(key, bucket);
    return bucket.tokens >= 0 ? 0 : Math.ceil((-bucket.tokens * 1000) / this.ratePerSecond);
  }

  private refilled(key: string, now: number): { tokens: number; at: number } {
    const bucket = this.buckets.get(key);
    if (!bucket) {
      if (this.buckets.size >= this.maxKeys) this.prune(now);
      return { tokens: this.burst, at: now };
    }
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) * this.ratePerSecond) / 1000);
    bucket.at = now;
    return bucket;
  }

  /** Stores `bucket` as the most recently used (the map's order is least recently used first). */
  private keep(key: string, bucket: { tokens: number; at: number }): void {
    this.buckets.delete(key);
    this.buckets.set(key, bucket);
  }

  /** Forgets full buckets; if that is not enough, the least recently used half. */
  private prune(now: number): void {
    for (const [key, bucket] of this.buckets) {
      if (bucket.tokens + ((now - bucket.at) * this.ratePerSecond) / 1000 >= this.burst) this.buckets.delete(key);
    }
    if (this.buckets.size < this.maxKeys) return;
    let drop = this.buckets.size / 2;
    for (const key of this.buckets.keys()) {
      if (drop-- <= 0) break;
      this.buckets.delete(key);
    }
  }
}
