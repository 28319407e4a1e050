/**
 * Jest runs the TypeScript sources through @swc/jest. Nest 12 ships ES modules only, so
 * node_modules/@nestjs is transformed too.
 */
const swc = {
  jsc: {
    parser: { syntax: 'typescript', decorators: true },
    transform: { legacyDecorator: true, decoratorMetadata: true },
    target: 'es2022',
  },
  module: { type: 'commonjs' },
};

module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.spec.ts'],
  // The attack specs load the machine on purpose: they run on their own, one at a time
  // (`npm run test:attacks`, jest.attacks.config.js), not beside the rest of the suite.
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/e2e/attacks/'],
  transform: { '^.+\\.(t|j|mj)s$': ['@swc/jest', swc] },
  transformIgnorePatterns: ['/node_modules/(?!(@nestjs)/)'],
  modulePathIgnorePatterns: ['<rootDir>/dist/', '<rootDir>/test/nest11/node_modules/'],
  // The I/O thread (ioThread) runs the TypeScript sources too.
  setupFiles: ['<rootDir>/test/support/io-thread-setup.ts'],
  testTimeout: 30000,
  maxWorkers: 2,
};
