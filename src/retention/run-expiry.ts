/**
 * Deleting finished runs past their tenant's retention, in bounded batches. A run goes
 * with its idempotency key, its webhook deliveries and their attempts, and its events
 * in run_events_kept; its other events are unreachable from then on (every reader looks
 * the run up first) and go with their week's leaf (event-partitions.ts), never deleted
 * row by row. A live run is never deleted, however old: only terminal statuses match.
 */
import type { Sql } from "../db/database.js";
import { terminalStatuses } from "../runs/run-status.js";

const terminal = [...terminalStatuses].map((status) => `'${status}'`).join(", ");

// Per tenant with a finite retention, its finished runs that ended before the clock
// ($1) minus the retention, through runs_by_status (tenant_id, status, create_time desc,
// id desc): a run created after the cutoff cannot have ended before it, so the scan
// stays within the old end of the index. `skip locked`: a run held by a caller (a
// DeleteRun in flight) is left for the next batch. The key is deleted by its primary
// key, and only while it still names this run (an expired key may have been taken over).
const deleteBatch = `
  with candidates as (
    select r.tenant_id, r.id
    from tenants t
    cross join lateral (
      select r.tenant_id, r.id from runs r
      where r.tenant_id = t.id and r.status in (${terminal})
        and r.create_time < $1::timestamptz - t.retention_seconds * interval '1 second'
        and r.end_time < $1::timestamptz - t.retention_seconds * interval '1 second'
      limit $2::int
    ) r
    where t.retention_seconds > 0
    limit $2::int
  ), expired as (
    select r.tenant_id, r.id, r.idempotency_key from runs r
    join candidates c on r.tenant_id = c.tenant_id and r.id = c.id
    for update of r skip locked
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
  )
  delete from runs r using expired x where r.tenant_id = x.tenant_id and r.id = x.id
  returning r.tenant_id`;

/** Deletes up to `batchSize` expired runs as of `clockTime` (a timestamptz); returns how many. */
export async function deleteExpiredRuns(sql: Sql, clockTime: string, batchSize: number): Promise<number> {
  const rows = await sql.query(deleteBatch, [clockTime, batchSize]);
  return rows.length;
}
