/**
 * Caller-driven status changes: CancelRun and DeleteRun. Each change is guarded in the
 * WHERE (the database decides atomically), writes its status event in the same
 * statement, and NOTIFYs once.
 */
import type { Sql } from "../db/database.js";
import { failedPrecondition } from "../errors.js";
import { notifyExpression, withoutNotifyColumn } from "./lifecycle/notify-channel.js";
import { cancelStatement } from "./lifecycle/run-statements.js";
import type { RunRecord } from "./run-record.js";
import { isTerminal } from "./run-status.js";
import { getRun } from "./run-queries.js";

/**
 * Cancels a run. Already CANCELLING or CANCELLED: returned unchanged (idempotent).
 * Any other terminal status: FAILED_PRECONDITION.
 */
export async function cancelRun(sql: Sql, tenantId: string, runId: string, reason: string): Promise<RunRecord> {
  const current = await getRun(sql, tenantId, runId);
  if (current.status === "CANCELLING" || current.status === "CANCELLED") return current;
  const [run] = await sql.query<RunRecord>(cancelStatement.text, cancelStatement.values({ tenantId, runId, reason }));
  if (run !== undefined) return withoutNotifyColumn(run);
  // The status changed between the read and the update: decide on the new state.
  const after = await getRun(sql, tenantId, runId);
  if (after.status === "CANCELLING" || after.status === "CANCELLED") return after;
  throw failedPrecondition(`run is ${after.status}; only live runs can be cancelled`, "RUN_ALREADY_FINISHED");
}

// Deleting a run deletes its events (each leaf of run_events by its primary key), its
// idempotency key (by primary key, while it still names this run), its webhook
// deliveries and their attempts (webhook_deliveries_run); a delivery in flight then
// finds its row gone and records nothing. No foreign key cascades (migration 0009).
const deleteStatement = `
  with attempts as (
    delete from webhook_attempts a using webhook_deliveries d
    where d.tenant_id = $1::uuid and d.run_id = $2::uuid and a.tenant_id = d.tenant_id and a.delivery_id = d.id
  ), deliveries as (
    delete from webhook_deliveries where tenant_id = $1::uuid and run_id = $2::uuid
  ), events as (
    delete from run_events where tenant_id = $1::uuid and run_id = $2::uuid
  ), run as (
    delete from runs where tenant_id = $1::uuid and id = $2::uuid returning idempotency_key
  )
  delete from idempotency_keys k using run
  where k.tenant_id = $1::uuid and k.key = run.idempotency_key and k.run_id = $2::uuid`;
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
