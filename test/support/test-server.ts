/**
 * Real Runline servers for tests: on an ephemeral loopback port, against a test
 * database, with a known root key. Several may share one database (scale-out tests).
 */
import { afterAll } from "vitest";
import { loadConfig } from "../../src/config.js";
import { createLogger } from "../../src/logger.js";
import { startServer, type RunningServer, type ServerOptions } from "../../src/server.js";
import { createTestDatabase } from "./test-database.js";

/** The root key every test server accepts. */
export const testRootKey = "test-root-key-0123456789";

/**
 * Starts a server on `databaseUrl` (a fresh test database when omitted); closed after the
 * file. `options` reach startServer (e.g. a retention clock the test moves).
 */
export async function startTestServer(
  databaseUrl?: string,
  env: Record<string, string> = {},
  options: ServerOptions = {},
): Promise<RunningServer & { databaseUrl: string }> {
  const url = databaseUrl ?? (await createTestDatabase());
  const config = loadConfig({
    PORT: "0",
    HOST: "127.0.0.1",
    DATABASE_URL: url,
    RUNLINE_ROOT_KEY: testRootKey,
    LOG_LEVEL: "silent",
    RUNLINE_DB_POOL_SIZE: "10",
    RUNLINE_SHUTDOWN_GRACE_MS: "2000",
    RUNLINE_DEMO_WORKER: "0",
    ...env,
  });
  const server = await startServer(config, createLogger(config.logLevel), options);
  afterAll(() => server.close());
  return { ...server, databaseUrl: url };
}
