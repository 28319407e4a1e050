/** Throttled warnings (src/server/throttled-warning.ts): one line per interval, then a count. */
import { ThrottledWarning } from '../../src/server/throttled-warning';

describe('ThrottledWarning', () => {
  afterEach(() => jest.useRealTimers());

  it('writes the first warning, counts the next ones, and writes the count at the end of the interval', () => {
    jest.useFakeTimers();
    const lines: string[] = [];
    const warning = new ThrottledWarning(
      { log: () => undefined, error: () => undefined, warn: (m: string) => lines.push(m) },
      'connections refused',
      10_000,
    );
    warning.warn('Refused a connection from a');
    for (let i = 0; i < 500; i++) warning.warn(`Refused a connection from ${i}`);
    expect(lines).toEqual(['Refused a connection from a']);
    jest.advanceTimersByTime(10_000);
    expect(lines).toEqual(['Refused a connection from a', '500 more connections refused in the last 10 s (warnings throttled)']);
    // After a quiet interval the next one is written in full again.
    jest.advanceTimersByTime(10_000);
    warning.warn('Refused a connection from b');
    expect(lines[2]).toBe('Refused a connection from b');
  });
});
