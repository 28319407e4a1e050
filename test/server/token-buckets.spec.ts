/** Token buckets by key (src/server/token-buckets.ts): rates, bursts, debt, and the cap on keys. */
import { TokenBuckets } from '../../src/server/token-buckets';

describe('TokenBuckets', () => {
  it('gives a burst, then refills at the rate', () => {
    const buckets = new TokenBuckets(10, 20);
    const t = 1_000_000;
    for (let i = 0; i < 20; i++) expect(buckets.take('a', 1, t)).toBe(true);
    expect(buckets.take('a', 1, t)).toBe(false);
    // Other keys have buckets of their own.
    expect(buckets.take('b', 1, t)).toBe(true);
    expect(buckets.take('a', 1, t + 100)).toBe(true);
    expect(buckets.take('a', 1, t + 100)).toBe(false);
    expect(buckets.take('a', 20, t + 10_000)).toBe(true);
  });

  it('goes into debt on debit and says how long until it is out of it', () => {
    const buckets = new TokenBuckets(1000, 1000);
    const t = 1_000_000;
    expect(buckets.debit('a', 600, t)).toBe(0);
    expect(buckets.debit('a', 900, t)).toBe(500);
    expect(buckets.debit('a', 0, t + 250)).toBe(250);
    expect(buckets.debit('a', 0, t + 500)).toBe(0);
  });

  it('keeps no more than maxKeys buckets, forgetting full ones first', () => {
    const buckets = new TokenBuckets(1, 1, 4);
    const t = 1_000_000;
    for (const key of ['a', 'b', 'c', 'd']) buckets.take(key, 1, t);
    // 'a' is full again by now; the others were used just before.
    buckets.take('b', 0, t + 1000);
    buckets.take('e', 1, t + 1000);
    expect(buckets.size).toBeLessThanOrEqual(4);
    expect(buckets.take('e', 1, t + 1000)).toBe(false);
  });
});
