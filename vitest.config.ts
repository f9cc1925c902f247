import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration tests spawn real processes and bind real sockets: give them room, and
    // keep files apart so one test's temp dirs and ports never meet another's.
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});
