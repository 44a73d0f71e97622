/**
 * A server started in-process whose log lines are kept, for tests that check what it
 * logs: one JSON string per pino line, in the order written.
 */
import { Writable } from "node:stream";
import { loadConfig } from "../../src/config.js";
import { createLogger } from "../../src/logger.js";
import { startServer, type RunningServer } from "../../src/server.js";
import { createTestDatabase } from "./test-database.js";
import { testRootKey } from "./test-server.js";

/** Starts a server at `level` (default info) on a fresh database (no demo executor); the caller closes it. */
export async function startLoggedServer(level = "info"): Promise<{ server: RunningServer; lines: string[] }> {
  const lines: string[] = [];
  const sink = new Writable({
    write: (chunk: Buffer, _encoding, done) => (lines.push(...chunk.toString("utf8").split("\n").filter(Boolean)), done()),
  });
  const config = loadConfig({
    PORT: "0",
    HOST: "127.0.0.1",
    DATABASE_URL: await createTestDatabase(),
    RUNLINE_ROOT_KEY: testRootKey,
    LOG_LEVEL: level,
    RUNLINE_DEMO_WORKER: "0",
  });
  return { server: await startServer(config, createLogger(level, sink)), lines };
}
