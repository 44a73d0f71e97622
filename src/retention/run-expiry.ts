/**
 * Deleting finished runs past their tenant's retention, in bounded batches. A run goes
 * with its idempotency key, its webhook deliveries and their attempts, and its events
 * in run_events_kept; its other events are unreachable from then on (every reader looks
 * the run up first) and go with their week's leaf (event-partitions.ts), never deleted
 * row by row. A live run is never deleted, however old: only terminal statuses match.
 */
import type { Sql } from "../db/database.js";
import { terminalStatuses, type RunStatus } from "../runs/run-status.js";

// Each tenant with a finite retention, and the time before which its runs have expired.
const finiteRetentions = `
  select id, ($1::timestamptz - retention_seconds * interval '1 second')::text as cutoff
  from tenants where retention_seconds > 0`;

// One tenant's runs of one finished status that ended before the cutoff ($3), newest
// first below a cursor ($4, $5), through runs_by_status (tenant_id, status, create_time
// desc, id desc): a run created after the cutoff cannot have ended before it, so the
// scan starts at the cutoff, and the cursor keeps each batch from reading again the
// entries of the runs the batches before it deleted (dead until vacuum; reading them
// again made each batch slower than the last: 500,000 runs took 276 s). `skip locked`:
// a run held by a caller (a DeleteRun in flight) is left for the next pass. The key is
// deleted by its primary key, and only while it still names this run (an expired key
// may have been taken over by another run).
const deleteBatch = `
  with expired as (
    select r.tenant_id, r.id, r.idempotency_key, r.create_time from runs r
    where r.tenant_id = $1::uuid and r.status = $2::text
      and r.create_time < $3::timestamptz and (r.create_time, r.id) < ($4::timestamptz, $5::uuid)
      and r.end_time < $3::timestamptz
    order by r.create_time desc, r.id desc
    limit $6::int
    for update skip locked
  ), attempts as (
    delete from webhook_attempts a using webhook_deliveries d, expired x
    where d.tenant_id = x.tenant_id and d.run_id = x.id and a.tenant_id = d.tenant_id and a.delivery_id = d.id
  ), deliveries as (
    delete from webhook_deliveries d using expired x where d.tenant_id = x.tenant_id and d.run_id = x.id
  ), keys as (
    delete from idempotency_keys k using expired x
    where k.tenant_id = x.tenant_id and k.key = x.idempotency_key and k.run_id = x.id
  ), kept_events as (
    delete from run_events e using expired x where e.kept and e.tenant_id = x.tenant_id and e.run_id = x.id
  ), deleted as (
    delete from runs r using expired x where r.tenant_id = x.tenant_id and r.id = x.id returning 1
  )
  select (select count(*) from expired)::int as taken, (select count(*) from deleted)::int as deleted,
    last.create_time::text as "lastTime", last.id as "lastId"
  from (select create_time, id from expired order by create_time, id limit 1) last`;

interface Batch {
  taken: number;
  deleted: number;
  lastTime: string;
  lastId: string;
}

/**
 * Deletes the runs expired at `clockTime` (a timestamptz), `batchSize` per statement,
 * each statement its own transaction; stops early when `stopped()` says so. Returns how
 * many runs were deleted.
 */
export async function deleteExpiredRuns(sql: Sql, clockTime: string, batchSize: number, stopped: () => boolean): Promise<number> {
  let deleted = 0;
  for (const tenant of await sql.query<{ id: string; cutoff: string }>(finiteRetentions, [clockTime])) {
    for (const status of terminalStatuses) {
      deleted += await deleteTenantStatus(sql, tenant.id, status, tenant.cutoff, batchSize, stopped);
      if (stopped()) return deleted;
    }
  }
  return deleted;
}

async function deleteTenantStatus(
  sql: Sql,
  tenantId: string,
  status: RunStatus,
  cutoff: string,
  batchSize: number,
  stopped: () => boolean,
): Promise<number> {
  let cursor = [cutoff, "ffffffff-ffff-ffff-ffff-ffffffffffff"];
  let deleted = 0;
  for (;;) {
    const [batch] = await sql.query<Batch>(deleteBatch, [tenantId, status, cutoff, ...cursor, batchSize]);
    if (batch === undefined) return deleted;
    deleted += batch.deleted;
    if (batch.taken < batchSize || stopped()) return deleted;
    cursor = [batch.lastTime, batch.lastId];
  }
}
