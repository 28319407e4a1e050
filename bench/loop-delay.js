'use strict';
/**
 * Event-loop delay of a benchmark process over a measurement window, two ways:
 *
 * - `perf_hooks.monitorEventLoopDelay` at 1 ms resolution: a libuv timer that fires every
 *   millisecond and records the time between firings. A loop blocked for X ms shows as a gap of
 *   about X + 1 ms; an idle loop reads about 1.1 ms. On a machine shared with other work, a
 *   process that the kernel takes off the CPU for X ms shows the same gap, though its code held
 *   nothing: `maxMs`, `p99Ms`.
 * - On Linux, the same gaps counted in the main thread's own CPU time, from
 *   `/proc/thread-self/schedstat` read at every tick of a 1 ms JavaScript timer: the longest
 *   stretch between two ticks during which the main thread was running, i.e. what the process's
 *   own work held the loop, whatever the rest of the machine does: `cpuMaxMs`, `cpuP99Ms` (the
 *   99th percentile of the gaps' CPU time), and `runqueueMaxMs`, the longest wait for a CPU
 *   within one gap.
 *
 * The timers run only inside the window (a timer that wakes the process every millisecond also
 * keeps its core awake, which changes round trips at one request in flight).
 */
const { readFileSync } = require('fs');
const { monitorEventLoopDelay } = require('perf_hooks');

const RESOLUTION_MS = 1;
const SCHEDSTAT = '/proc/thread-self/schedstat';

/** [on-CPU ns, runqueue ns] of the calling thread, or null where the kernel does not say. */
function threadTimes() {
  try {
    const [cpu, wait] = readFileSync(SCHEDSTAT, 'latin1').split(' ');
    return [Number(cpu), Number(wait)];
  } catch {
    return null;
  }
}

/** The main thread's CPU time per gap between ticks of a 1 ms timer. */
class CpuGaps {
  constructor() {
    this.gaps = [];
    this.maxRunqueueNs = 0;
    this.last = threadTimes();
    this.timer = this.last && setInterval(() => this.tick(), RESOLUTION_MS);
  }

  tick() {
    const now = threadTimes();
    this.gaps.push(now[0] - this.last[0]);
    this.maxRunqueueNs = Math.max(this.maxRunqueueNs, now[1] - this.last[1]);
    this.last = now;
  }

  stop() {
    if (!this.timer) return null;
    clearInterval(this.timer);
    if (this.gaps.length === 0) return null;
    const sorted = Float64Array.from(this.gaps).sort();
    const ms = ns => ns / 1e6;
    return {
      cpuMaxMs: ms(sorted[sorted.length - 1]),
      cpuP99Ms: ms(sorted[Math.min(sorted.length - 1, Math.ceil(0.99 * sorted.length) - 1)]),
      runqueueMaxMs: ms(this.maxRunqueueNs),
    };
  }
}

class LoopDelay {
  constructor() {
    this.histogram = null;
    this.cpu = null;
  }

  start() {
    this.histogram?.disable();
    this.cpu?.stop();
    this.histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
    this.histogram.enable();
    this.cpu = new CpuGaps();
  }

  /**
   * Stops the monitors; `{ maxMs, p99Ms, p50Ms, meanMs, samples, cpuMaxMs, cpuP99Ms, runqueueMaxMs }`
   * (the last three null off Linux), or null when not started.
   */
  stop() {
    const h = this.histogram;
    if (!h) return null;
    this.histogram = null;
    h.disable();
    const cpu = this.cpu?.stop() ?? { cpuMaxMs: null, cpuP99Ms: null, runqueueMaxMs: null };
    this.cpu = null;
    if (h.count === 0) return { maxMs: null, p99Ms: null, p50Ms: null, meanMs: null, samples: 0, ...cpu };
    const ms = ns => ns / 1e6;
    return { maxMs: ms(h.max), p99Ms: ms(h.percentile(99)), p50Ms: ms(h.percentile(50)), meanMs: ms(h.mean), samples: h.count, ...cpu };
  }
}

module.exports = { LoopDelay, RESOLUTION_MS };
