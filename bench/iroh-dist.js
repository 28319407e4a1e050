'use strict';
/**
 * The nestjs-iroh build the benchmark loads: dist/ of this work tree, or the folder named by
 * BENCH_IROH_DIST (run.js sets it for the "baseline" transport, `--baseline=<dist dir>`).
 */
const { join } = require('path');

module.exports = require(process.env.BENCH_IROH_DIST || join(__dirname, '..', 'dist'));
