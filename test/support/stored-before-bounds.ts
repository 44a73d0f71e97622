/**
 * A test database that takes what deployments stored before migration 0004 bounded it:
 * that migration's CHECK constraints dropped, so a test can write by SQL the values
 * reads and claims must survive anyway (a hand edit, an older replica mid-deploy).
 */
import type pg from "pg";

/** Drops migration 0004's constraints from the database `client` is connected to. */
export async function dropTimeBounds(client: pg.Client): Promise<void> {
  await client.query("alter table runs drop constraint runs_timeout_bounded, drop constraint runs_schedule_time_in_range");
  await client.query("alter table workflow_versions drop constraint workflow_versions_default_timeout_bounded");
}
