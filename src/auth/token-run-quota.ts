/**
 * `maxRuns`: how many runs one access token may create, counted in Postgres so the limit
 * holds across replicas (creates write to the database anyway). A create reserves its
 * runs before it starts, in one statement whose WHERE refuses to pass the limit, so two
 * concurrent creates cannot both take the last run; a create that then fails, or turns
 * out to be an idempotent replay, gives its reservation back. A crash between the two
 * loses a run from the token's allowance, never adds one.
 */
import type { Sql } from "../db/database.js";
import { RunlineError } from "../errors.js";

// Primary key of access_token_usage. The first reservation inserts the row (when `n`
// fits at all); later ones add to it only while the sum stays within the limit.
const reserveRuns = `
  insert into access_token_usage (token_id, tenant_id, runs_created, expire_time)
  select $1::text, $2::uuid, $3::int, $5::timestamptz where $3::int <= $4::int
  on conflict (token_id) do update set runs_created = access_token_usage.runs_created + excluded.runs_created
    where access_token_usage.runs_created + excluded.runs_created <= $4::int
  returning runs_created`;

const releaseRuns = `update access_token_usage set runs_created = greatest(runs_created - $2::int, 0) where token_id = $1::text`;

// access_token_usage_expired. A counter is useless once its token has expired.
const deleteExpired = `delete from access_token_usage where expire_time < now() - interval '5 minutes'`;

/** The token a reservation is for. */
export interface QuotaHolder {
  readonly tokenId: string;
  readonly tenantId: string;
  readonly maxRuns: number;
  readonly expireTime: Date;
}

/** Reserves `count` runs; RESOURCE_EXHAUSTED when that would pass the token's `maxRuns`. */
export async function reserveTokenRuns(sql: Sql, holder: QuotaHolder, count: number): Promise<void> {
  const rows = await sql.query(reserveRuns, [holder.tokenId, holder.tenantId, count, holder.maxRuns, holder.expireTime]);
  if (rows.length === 0) {
    throw new RunlineError(
      "resource_exhausted",
      `this access token may create at most ${holder.maxRuns} runs (maxRuns), and ${count === 1 ? "one more" : `${count} more`} would pass it`,
      "ACCESS_TOKEN_RUN_LIMIT",
    );
  }
}

/** Gives back runs reserved for a create that did not create them. */
export async function releaseTokenRuns(sql: Sql, tokenId: string, count: number): Promise<void> {
  await sql.query(releaseRuns, [tokenId, count]);
}

/** Deletes the counters of expired tokens (every replica, every refresh period). */
export async function deleteExpiredQuotas(sql: Sql): Promise<void> {
  await sql.query(deleteExpired);
}
