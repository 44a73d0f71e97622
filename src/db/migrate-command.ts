/**
 * `npm run migrate`: applies pending migrations to DATABASE_URL (or the embedded
 * Postgres under RUNLINE_DATA_DIR, whose lock it takes as the server does) and exits.
 * The server also migrates at start. A failure prints one line, as `npm start` does.
 */
import path from "node:path";
import { loadConfig, type Config } from "../config.js";
import { createLogger } from "../logger.js";
import { lockDataFolder } from "../startup/data-folder-lock.js";
import { describeStartFailure } from "../startup/start-failure.js";
import { migrateDatabase, openDatabase } from "./database.js";
import { startEmbeddedPostgres } from "./embedded-postgres.js";

async function migrate(config: Config): Promise<void> {
  const logger = createLogger(config.logLevel);
  const lock = config.databaseUrl === undefined ? await lockDataFolder(config.dataDir) : undefined;
  const embedded =
    config.databaseUrl === undefined ? await startEmbeddedPostgres({ directory: path.join(config.dataDir, "pg"), logger }) : undefined;
  const url = config.databaseUrl ?? embedded!.adminUrl;
  const database = await openDatabase({ url, poolSize: 2 });
  try {
    const applied = await migrateDatabase(database, url);
    logger.info({ applied }, applied.length === 0 ? "schema is up to date" : "migrations applied");
  } finally {
    await database.close();
    await embedded?.stop();
    lock?.release();
  }
}

let config: Config | undefined;
try {
  config = loadConfig();
  await migrate(config);
} catch (error) {
  const report = describeStartFailure(error, config);
  process.stderr.write(report.lines.join("\n").replace(/^runline: cannot start:/, "runline: cannot migrate:") + "\n");
  process.exit(report.exitCode);
}
