'use strict';
/**
 * Preloaded (`node -r`) into the processes of the "@opentelemetry/api not installed" cell:
 * `@opentelemetry/*` cannot be resolved, as in an application that does not install it.
 */
const Module = require('module');

const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (typeof request === 'string' && request.startsWith('@opentelemetry/')) {
    throw Object.assign(new Error(`Cannot find module '${request}'`), { code: 'MODULE_NOT_FOUND' });
  }
  return resolve.call(this, request, ...rest);
};
