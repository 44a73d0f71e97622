import { defineConfig } from "vitest/config";

// One embedded Postgres per test run (global setup), a fresh database per test file.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/support/global-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // expect.poll gives up after 1 s by default: a browser page or a server on two busy
    // cores (CI runs two test files at once) can take longer to show what it will show.
    expect: { poll: { timeout: 10_000 } },
    // Two cores: more workers than that only adds contention on Postgres.
    maxWorkers: 2,
  },
});
