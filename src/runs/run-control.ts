/**
 * Caller-driven status changes: CancelRun and DeleteRun. Each change is guarded in the
 * WHERE (the database decides atomically), writes its status event in the same
 * statement, and NOTIFYs once.
 */
import type { Sql } from "../db/database.js";
import { failedPrecondition } from "../errors.js";
import { notifyExpression, withoutNotifyColumn } from "../events/notify-channel.js";
import { runColumns, type RunRecord } from "./run-record.js";
import { cancellableStatuses, isTerminal } from "./run-status.js";
import { getRun } from "./run-queries.js";

// Primary key of runs. RUNNING → CANCELLING (the executor learns it on its next
// heartbeat); QUEUED/SCHEDULED/INTERRUPTED → CANCELLED at once.
const cancelStatement = `
  with r as (
    update runs set
      status = case when status = 'RUNNING' then 'CANCELLING' else 'CANCELLED' end,
      cancel_requested = true,
      end_time = case when status = 'RUNNING' then null else now() end,
      update_time = now(),
      last_sequence = last_sequence + 1
    where tenant_id = $1::uuid and id = $2::uuid and status = any($4::text[])
    returning *
  ), e as (
    insert into run_events (tenant_id, run_id, sequence, type, status, data)
    select tenant_id, id, last_sequence, 'status', status, jsonb_build_object('reason', $3::text) from r
  )
  select ${runColumns}, ${notifyExpression("r")} from r`;

/**
 * Cancels a run. Already CANCELLING or CANCELLED: returned unchanged (idempotent).
 * Any other terminal status: FAILED_PRECONDITION.
 */
export async function cancelRun(sql: Sql, tenantId: string, runId: string, reason: string): Promise<RunRecord> {
  const current = await getRun(sql, tenantId, runId);
  if (current.status === "CANCELLING" || current.status === "CANCELLED") return current;
  const [run] = await sql.query<RunRecord>(cancelStatement, [tenantId, runId, reason, cancellableStatuses]);
  if (run !== undefined) return withoutNotifyColumn(run);
  // The status changed between the read and the update: decide on the new state.
  const after = await getRun(sql, tenantId, runId);
  if (after.status === "CANCELLING" || after.status === "CANCELLED") return after;
  throw failedPrecondition(`run is ${after.status}; only live runs can be cancelled`, "RUN_ALREADY_FINISHED");
}

// Deleting a run deletes its events (on delete cascade) and idempotency key.
const deleteStatement = `delete from runs where tenant_id = $1::uuid and id = $2::uuid`;
const notifyDeleted = `select ${notifyExpression("r")} from (select $1::uuid as tenant_id, $2::uuid as id, -1 as last_sequence) r`;

/** Deletes a run and its events, cancelling it first when it is live. */
export async function deleteRun(sql: Sql, tenantId: string, runId: string): Promise<void> {
  await sql.transaction(async (transaction) => {
    const run = await getRun(transaction, tenantId, runId);
    if (!isTerminal(run.status) && run.status !== "CANCELLING") await cancelRun(transaction, tenantId, runId, "deleted");
    await transaction.query(deleteStatement, [tenantId, runId]);
    // Streams on this run wake, find it gone and end.
    await transaction.query(notifyDeleted, [tenantId, runId]);
  });
}
