import type { Config } from 'jest';

// One config for unit (*.test.ts) and integration (*.int.test.ts) tests.
// Integration tests get their own database cloned from a migrated template
// (see test/global-setup.ts) so files can run in parallel.
const config: Config = {
  testEnvironment: 'node',
  roots: ['<rootDir>/apps', '<rootDir>/domain', '<rootDir>/lib', '<rootDir>/queue', '<rootDir>/scripts', '<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.(t|j)sx?$': ['@swc/jest', {}] },
  globalSetup: '<rootDir>/test/global-setup.ts',
  setupFiles: ['<rootDir>/test/env.ts'],
  testTimeout: 30_000,
  maxWorkers: 2,
};

export default config;
