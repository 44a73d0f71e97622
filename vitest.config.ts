import { defineConfig } from "vitest/config";

// One embedded Postgres per test run (global setup), a fresh database per test file.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/support/global-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores: more workers than that only adds contention on Postgres.
    maxWorkers: 2,
  },
});
