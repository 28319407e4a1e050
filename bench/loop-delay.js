'use strict';
/**
 * Event-loop delay of a benchmark process over a measurement window, with
 * `perf_hooks.monitorEventLoopDelay` at 1 ms resolution: a libuv timer that fires every
 * millisecond and records the time between firings. A loop blocked for X ms shows as a gap of
 * about X + 1 ms; an idle loop reads about 1.1 ms. The timer runs only inside the window (a timer
 * that wakes the process every millisecond also keeps its core awake, which changes round trips
 * at one request in flight).
 */
const { monitorEventLoopDelay } = require('perf_hooks');

const RESOLUTION_MS = 1;

class LoopDelay {
  constructor() {
    this.histogram = null;
  }

  start() {
    this.histogram?.disable();
    this.histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
    this.histogram.enable();
  }

  /** Stops the monitor; `{ maxMs, p99Ms, p50Ms, meanMs, samples }`, or null when not started. */
  stop() {
    const h = this.histogram;
    if (!h) return null;
    this.histogram = null;
    h.disable();
    if (h.count === 0) return { maxMs: null, p99Ms: null, p50Ms: null, meanMs: null, samples: 0 };
    const ms = ns => ns / 1e6;
    return { maxMs: ms(h.max), p99Ms: ms(h.percentile(99)), p50Ms: ms(h.percentile(50)), meanMs: ms(h.mean), samples: h.count };
  }
}

module.exports = { LoopDelay, RESOLUTION_MS };
