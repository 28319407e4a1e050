// Lets a child process run the test sources (TypeScript) directly: `node -r ./ts-register.js x.ts`.
// With NEST_MODULES set (the Nest 11 suite), @nestjs/* resolves to that folder, as in jest.
const fs = require('fs');
const path = require('path');
const Module = require('module');
const { transformSync } = require('@swc/core');

const options = {
  jsc: {
    parser: { syntax: 'typescript', decorators: true },
    transform: { legacyDecorator: true, decoratorMetadata: true },
    target: 'es2022',
  },
  module: { type: 'commonjs' },
  sourceMaps: 'inline',
};

require.extensions['.ts'] = (module, filename) => {
  const { code } = transformSync(fs.readFileSync(filename, 'utf8'), { ...options, filename });
  module._compile(code, filename);
};

const nestModules = process.env.NEST_MODULES;
if (nestModules) {
  const resolve = Module._resolveFilename;
  Module._resolveFilename = function (request, parent, ...rest) {
    if (/^@nestjs\/(common|core|microservices)(\/|$)/.test(request)) {
      return resolve.call(this, path.join(nestModules, request), parent, ...rest);
    }
    return resolve.call(this, request, parent, ...rest);
  };
}
