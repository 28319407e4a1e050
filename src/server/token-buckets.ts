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

  /**
   * Takes `amount` tokens from `key`'s bucket; false (taking nothing) when it has fewer. With
   * `amount` 0: whether the bucket has any token left.
   */
  take(key: string, amount: number, now = Date.now()): boolean {
    let bucket = this.buckets.get(key);
    if (bucket) {
      bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) * this.ratePerSecond) / 1000);
      bucket.at = now;
    } else {
      if (this.buckets.size >= this.maxKeys) this.prune(now);
      bucket = { tokens: this.burst, at: now };
    }
    if (amount === 0) return bucket.tokens >= 1;
    if (bucket.tokens < amount) return false;
    bucket.tokens -= amount;
    // Re-inserted: the map's order is then least recently used first.
    this.buckets.delete(key);
    this.buckets.set(key, bucket);
    return true;
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
