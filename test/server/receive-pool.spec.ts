/**
 * The receive-memory pool (src/server/receive-pool.ts): reservations across connections, small
 * frames always granted, and eviction of connections whose partly received frames cannot
 * complete in time when a reservation does not fit.
 */
import { ReceivePool, SMALL_RESERVATION } from '../../src/server/receive-pool';

const MiB = 1024 * 1024;
const TIMEOUT = 30_000;

describe('ReceivePool', () => {
  afterEach(() => jest.useRealTimers());

  it('grants reservations while they fit, refuses past the capacity, and counts what is released', () => {
    const pool = new ReceivePool(10 * MiB, TIMEOUT);
    const a = pool.connectionBudget(() => undefined);
    const b = pool.connectionBudget(() => undefined);
    expect(a.reserve(6 * MiB)).toBe(true);
    expect(b.reserve(5 * MiB)).toBe(false);
    expect(b.reserve(4 * MiB)).toBe(true);
    expect(pool.usedBytes).toBe(10 * MiB);
    a.release(6 * MiB);
    expect(b.reserve(5 * MiB)).toBe(true);
    expect([a.held, b.held, pool.usedBytes]).toEqual([0, 9 * MiB, 9 * MiB]);
  });

  it('always grants a small frame (it still counts), but not a small inflation slice', () => {
    const pool = new ReceivePool(MiB, TIMEOUT);
    const a = pool.connectionBudget(() => undefined);
    expect(a.reserve(MiB)).toBe(true);
    const stream = a.forStream();
    expect(stream.reserve(SMALL_RESERVATION)).toBe(true);
    expect(pool.usedBytes).toBe(MiB + SMALL_RESERVATION);
    expect(a.reserve(1000)).toBe(false);
    expect(stream.reserve(SMALL_RESERVATION + 1)).toBe(false);
  });

  it('gives back everything a connection held when it closes, and refuses it afterwards', () => {
    const pool = new ReceivePool(10 * MiB, TIMEOUT);
    const a = pool.connectionBudget(() => undefined);
    const stream = a.forStream();
    expect(stream.reserve(2 * MiB)).toBe(true);
    expect(a.reserve(3 * MiB)).toBe(true);
    a.close();
    expect(pool.usedBytes).toBe(0);
    expect(a.reserve(1)).toBe(false);
    // A release after the close (the decoder handing on late) is harmless.
    stream.release(2 * MiB);
    expect(pool.usedBytes).toBe(0);
  });

  it('evicts the largest connection whose frame cannot complete in time, to make room', () => {
    jest.useFakeTimers({ now: 1_000_000 });
    const pool = new ReceivePool(40 * MiB, TIMEOUT);
    const evicted: string[] = [];
    const holder = (name: string) => {
      const budget = pool.connectionBudget(reason => evicted.push(`${name}: ${reason.split(':')[0]}`));
      return { budget, stream: budget.forStream() };
    };
    const stalledSmall = holder('stalled 8 MiB');
    const stalledLarge = holder('stalled 16 MiB');
    const moving = holder('moving 16 MiB');
    expect(stalledSmall.stream.reserve(8 * MiB)).toBe(true);
    expect(stalledLarge.stream.reserve(16 * MiB)).toBe(true);
    expect(moving.stream.reserve(16 * MiB)).toBe(true);
    // Ten seconds on: two sent a little and stopped; one keeps coming at 1 MiB/s (on time).
    for (let s = 1; s <= 10; s++) {
      jest.setSystemTime(1_000_000 + s * 1000);
      if (s === 1) {
        stalledSmall.stream.progress(MiB);
        stalledLarge.stream.progress(MiB);
      }
      moving.stream.progress(s * MiB);
    }
    const newcomer = pool.connectionBudget(() => undefined);
    expect(newcomer.reserve(10 * MiB)).toBe(true);
    expect(evicted).toEqual(['stalled 16 MiB: receive memory exhausted (maxReceiveMemory 41943040)']);
    expect(stalledLarge.budget.held).toBe(0);
    expect(moving.budget.held).toBe(16 * MiB);
    // The other stalled frame goes too (it would time out anyway), but the moving one is never
    // evicted: still no room, refused.
    expect(newcomer.reserve(20 * MiB)).toBe(false);
    expect(evicted.map(e => e.split(':')[0])).toEqual(['stalled 16 MiB', 'stalled 8 MiB']);
    expect(moving.budget.held).toBe(16 * MiB);
  });

  it('does not judge a frame in its first seconds, nor one the server holds back', () => {
    jest.useFakeTimers({ now: 1_000_000 });
    const pool = new ReceivePool(16 * MiB, TIMEOUT);
    const a = pool.connectionBudget(() => undefined);
    const stream = a.forStream();
    expect(stream.reserve(16 * MiB)).toBe(true);
    jest.setSystemTime(1_002_000);
    expect(a.isStuck(Date.now(), TIMEOUT)).toBe(false);
    jest.setSystemTime(1_010_000);
    stream.setHeldBack(true);
    expect(a.isStuck(Date.now(), TIMEOUT)).toBe(false);
    stream.setHeldBack(false);
    // Measured afresh after being held back: not judged before a window has passed.
    expect(a.isStuck(Date.now(), TIMEOUT)).toBe(false);
    jest.setSystemTime(1_013_000);
    expect(a.isStuck(Date.now(), TIMEOUT)).toBe(true);
  });
});
