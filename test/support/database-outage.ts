/**
 * Database outages on demand, for tests of what callers and health checks see: the
 * test database stops accepting connections and its open ones are killed, as when
 * Postgres restarts or a failover drops every client.
 */
import pg from "pg";
import { inject } from "vitest";

/** Runs `statement` as the cluster's superuser. */
export async function asAdmin(statement: string): Promise<void> {
  const admin = new pg.Client({ connectionString: inject("pgAdminUrl") });
  await admin.connect();
  try {
    await admin.query(statement);
  } finally {
    await admin.end();
  }
}

function databaseName(url: string): string {
  return new URL(url).pathname.slice(1);
}

/** Kills every open connection to the database at `url` (new ones are still accepted). */
export async function terminateConnections(url: string): Promise<void> {
  await asAdmin(
    `select pg_terminate_backend(pid) from pg_stat_activity where datname = '${databaseName(url)}' and pid <> pg_backend_pid()`,
  );
}

/** Takes the database away from every client: no new connections, open ones killed. */
export async function makeUnreachable(url: string): Promise<void> {
  await asAdmin(`alter database ${databaseName(url)} allow_connections false`);
  await terminateConnections(url);
}

/** Lets clients connect again. */
export async function makeReachable(url: string): Promise<void> {
  await asAdmin(`alter database ${databaseName(url)} allow_connections true`);
}
