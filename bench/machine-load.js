'use strict';
/**
 * How busy the machine is besides the benchmark: whole-machine CPU counters from /proc/stat
 * (Linux), to report the cores other processes used during a window, and to wait for quiet.
 */
const os = require('os');
const { sleep } = require('./common');

/** Whole-machine CPU counters (Linux): to tell how much of the machine other processes used. */
function procStat() {
  try {
    const fields = require('fs').readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    return { idle: fields[3] + (fields[4] || 0), total: fields.reduce((a, b) => a + b, 0), at: Date.now() };
  } catch {
    return null;
  }
}

/** CPU cores busy between two procStat() snapshots. */
function busyCores(a, b) {
  if (!a || !b || b.total === a.total) return null;
  return ((b.total - a.total - (b.idle - a.idle)) / (b.total - a.total)) * os.cpus().length;
}

/**
 * Waits until the machine is quiet: less than `threshold` cores busy (sampled over 300 ms; our
 * own processes are idle between workloads), at most `maxMs`.
 */
async function waitQuiet(maxMs, threshold = 0.2) {
  const end = Date.now() + maxMs;
  for (;;) {
    const a = procStat();
    await sleep(300);
    const load = busyCores(a, procStat());
    if (load === null || load < threshold) return load;
    if (Date.now() > end) {
      console.log(`  (machine still busy: ${load.toFixed(2)} cores used by other processes; measuring anyway)`);
      return load;
    }
  }
}

module.exports = { procStat, busyCores, waitQuiet };
