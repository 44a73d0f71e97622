/**
 * Starts one embedded Postgres for the whole test run and migrates a template database
 * that every test file clones (CREATE DATABASE … TEMPLATE), so each file starts from a
 * clean, migrated schema in milliseconds.
 */
import { chmod, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import type { TestProject } from "vitest/node";
import { migrateDatabase, openDatabase } from "../../src/db/database.js";
import { startEmbeddedPostgres } from "../../src/db/embedded-postgres.js";
import { createLogger } from "../../src/logger.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** URL of the test cluster's `postgres` database (for CREATE DATABASE). */
    pgAdminUrl: string;
    /** Name of the migrated template database. */
    pgTemplate: string;
  }
}

const template = "runline_template";

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const folder = await mkdtemp(path.join(os.tmpdir(), "runline-test-"));
  // mkdtemp makes the folder 0700; Postgres runs as its own user and must reach inside.
  await chmod(folder, 0o755);
  const logger = createLogger("warn");
  // fsync off: a throw-away cluster; durability is not what these tests measure.
  // pg_stat_statements is loaded so that a test can count what Postgres ran for it
  // (each test creates the extension in its own database; see statement-counts.ts).
  const cluster = await startEmbeddedPostgres({
    directory: path.join(folder, "pg"),
    logger,
    postgresFlags: [
      ...["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
      ...["-c", "shared_preload_libraries=pg_stat_statements"],
    ],
  });
  const admin = new pg.Client({ connectionString: cluster.adminUrl });
  await admin.connect();
  await admin.query(`create database ${template}`);
  await admin.end();
  const database = await openDatabase({ url: cluster.urlFor(template), poolSize: 2 });
  await migrateDatabase(database, cluster.urlFor(template));
  await database.close();
  project.provide("pgAdminUrl", cluster.adminUrl);
  project.provide("pgTemplate", template);
  return async () => {
    await cluster.stop();
    await rm(folder, { recursive: true, force: true });
  };
}
