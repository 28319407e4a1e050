/**
 * Preloaded (node --require) by run.sh when Jazzer.js's own addon cannot load on this
 * system: makes Jazzer load the patched copy named by JAZZER_COMPAT_ADDON instead.
 */
'use strict';
const Module = require('module');
const patched = process.env.JAZZER_COMPAT_ADDON;
if (patched) {
  const resolve = Module._resolveFilename;
  Module._resolveFilename = function (request, ...rest) {
    if (/[\\/]prebuilds[\\/]fuzzer-linux-x64\.node$/.test(request)) return patched;
    return resolve.call(this, request, ...rest);
  };
}
