// Test runner settings. CI runs on a shared, loaded 2-core machine: the first test of a file that compiles
// the R4 JSON schema (a few seconds alone) can take several times longer there, so the default 5 s per test
// is too tight to be stable. Heavier suites set their own, longer timeouts.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 120_000,
    include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'bench/**/*.test.ts'],
  },
});
