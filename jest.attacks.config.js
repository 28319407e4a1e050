/**
 * The attack specs (test/e2e/attacks): each runs a server, an attacker and a well-behaved
 * client in processes of their own and judges the server by its memory and by how the good
 * client fares, so they run one at a time (`npm run test:attacks`), never beside other specs.
 */
const base = require('./jest.config');

module.exports = {
  ...base,
  roots: ['<rootDir>/test/e2e/attacks'],
  testPathIgnorePatterns: ['/node_modules/'],
  maxWorkers: 1,
  testTimeout: 120000,
};
