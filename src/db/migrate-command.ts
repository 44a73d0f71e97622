/**
 * `npm run migrate`: applies pending migrations to DATABASE_URL (or the embedded
 * Postgres under RUNLINE_DATA_DIR) and exits. The server also migrates at start.
 */
import path from "node:path";
import { loadConfig } from "../config.js";
import { createLogger } from "../logger.js";
import { migrateDatabase, openDatabase } from "./database.js";
import { startEmbeddedPostgres } from "./embedded-postgres.js";

const config = loadConfig();
const logger = createLogger(config.logLevel);
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
}
