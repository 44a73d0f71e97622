/**
 * `npm start`: reads the environment, checks what can be checked before anything starts
 * (startup/startup-checks.ts), starts the server, and shuts down gracefully on
 * SIGTERM/SIGINT. A failed start prints one line naming what to fix and exits with a
 * documented code (startup/start-failure.ts; README "Exit codes").
 */
import { loadConfig, type Config } from "./config.js";
import { createLogger } from "./logger.js";
import { startServer } from "./server.js";
import { checkBeforeStart } from "./startup/startup-checks.js";
import { describeStartFailure, serverExitCodes } from "./startup/start-failure.js";
import type { DataFolderLock } from "./startup/data-folder-lock.js";

async function serve(config: Config, lock: DataFolderLock | undefined): Promise<void> {
  const logger = createLogger(config.logLevel);
  // Handled from the start: startServer logs "serving" and then still starts the demo
  // executor and keeps the root key, and a signal in that window used to kill the
  // process outright (exit by signal, an embedded Postgres left behind). A signal that
  // comes before the server is up is kept, and the server is closed as soon as it is.
  let early: string | undefined;
  let onSignal = (signal: string): void => {
    early ??= signal;
  };
  process.on("SIGTERM", () => onSignal("SIGTERM"));
  process.on("SIGINT", () => onSignal("SIGINT"));
  const server = await startServer(config, logger);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    server.close().then(
      () => {
        lock?.release();
        process.exit(serverExitCodes.stopped);
      },
      (error: unknown) => {
        logger.error({ err: error }, "shutdown failed");
        process.exit(serverExitCodes.unexpected);
      },
    );
  };
  onSignal = stop;
  if (early !== undefined) stop(early);
}

let config: Config | undefined;
try {
  config = loadConfig();
  await serve(config, await checkBeforeStart(config));
} catch (error) {
  // The lock, if taken, goes with the process (its exit handler); so does an embedded Postgres.
  const report = describeStartFailure(error, config);
  process.stderr.write(report.lines.join("\n") + "\n");
  process.exit(report.exitCode);
}
