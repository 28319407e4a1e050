import { Backoff } from '../../src/client/backoff';

describe('Backoff', () => {
  it('doubles from the initial delay up to the maximum, then stays there', () => {
    const backoff = new Backoff({ initial: 100, max: 1000, random: () => 0.5 });
    expect(Array.from({ length: 7 }, () => backoff.next())).toEqual([100, 200, 400, 800, 1000, 1000, 1000]);
  });

  it('spreads each delay by ±20 % and never goes past the maximum', () => {
    const low = new Backoff({ initial: 100, max: 1000, random: () => 0 });
    const high = new Backoff({ initial: 100, max: 1000, random: () => 0.999999 });
    expect(Array.from({ length: 5 }, () => Math.round(low.next()))).toEqual([80, 160, 320, 640, 800]);
    const highs = Array.from({ length: 6 }, () => Math.round(high.next()));
    expect(highs).toEqual([120, 240, 480, 960, 1000, 1000]);
  });

  it('with the default randomness stays within its bounds', () => {
    const backoff = new Backoff({ initial: 50, max: 400 });
    for (let i = 0; i < 200; i++) {
      const delay = backoff.next();
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThanOrEqual(400);
    }
  });

  it('starts over after reset()', () => {
    const backoff = new Backoff({ initial: 100, max: 1000, random: () => 0.5 });
    backoff.next();
    backoff.next();
    backoff.reset();
    expect(backoff.next()).toBe(100);
  });
});
