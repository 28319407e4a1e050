/**
 * The same suite against Nest 11 (installed in test/nest11 by `npm install --prefix test/nest11`):
 * every @nestjs/* import, from the sources and the tests alike, resolves to that copy.
 */
const base = require('./jest.config');
const path = require('path');

const nest11 = path.join(__dirname, 'test/nest11/node_modules/@nestjs');

module.exports = {
  ...base,
  modulePathIgnorePatterns: ['<rootDir>/dist/'],
  moduleNameMapper: {
    '^@nestjs/(common|core|microservices)$': `${nest11}/$1`,
    '^@nestjs/(common|core|microservices)/(.*)$': `${nest11}/$1/$2`,
    '^rxjs$': '<rootDir>/node_modules/rxjs',
    '^rxjs/(.*)$': '<rootDir>/node_modules/rxjs/$1',
  },
  globals: { NEST_MAJOR: 11 },
};
