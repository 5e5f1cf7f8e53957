/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  testMatch: ['<rootDir>/__test__/**/*.spec.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest'] },
  testTimeout: 60000,
  // Our tests talk to real services; a leaked handle should fail loudly, not hang CI.
  forceExit: false,
  detectOpenHandles: false,
}
