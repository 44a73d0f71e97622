/**
 * ResumeRun: an INTERRUPTED run goes back to the queue with the caller's input, which
 * must match the interrupt's resume schema. Resuming is once-only per interrupt: the
 * resume's status event records the interrupt id, so a repeated resume of the same
 * interrupt is recognised and changes nothing.
 */
import type { Sql } from "../db/database.js";
import { echoed, failedPrecondition } from "../errors.js";
import { notifyExpression, withoutNotifyColumn } from "../events/notify-channel.js";
import { validateAgainstSchema } from "../workflows/json-schema.js";
import { runColumns, type RunRecord } from "./run-record.js";
import { getRun } from "./run-queries.js";

// Primary key of runs; guarded on status and on the interrupt being the current one.
const resumeStatement = `
  with r as (
    update runs set
      -- The resumed run continues the interrupted attempt: the next claim counts it again.
      status = 'QUEUED', attempt = greatest(attempt - 1, 0), resume_input = $3::jsonb, ready_time = now(), update_time = now(),
      last_sequence = last_sequence + 1
    where tenant_id = $1::uuid and id = $2::uuid and status = 'INTERRUPTED' and interrupt->>'id' = $4::text
    returning *
  ), e as (
    insert into run_events (tenant_id, run_id, sequence, type, status, data)
    select tenant_id, id, last_sequence, 'status', status, jsonb_build_object('resumedInterruptId', $4::text) from r
  )
  select ${runColumns}, ${notifyExpression("r")} from r`;

// run_events primary key range for the run, filtered to its status events.
const wasResumed = `
  select 1 from run_events
  where tenant_id = $1::uuid and run_id = $2::uuid and type = 'status' and data->>'resumedInterruptId' = $3::text
  limit 1`;

/** Resumes a run; see the module comment. */
export async function resumeRun(sql: Sql, tenantId: string, runId: string, input: unknown, interruptId: string): Promise<RunRecord> {
  const run = await getRun(sql, tenantId, runId);
  if (interruptId !== "" && (await sql.query(wasResumed, [tenantId, run.id, interruptId])).length > 0) return run;
  if (run.status !== "INTERRUPTED" || run.interrupt === null) {
    throw failedPrecondition(`run is ${run.status}; only INTERRUPTED runs can be resumed`, "RUN_NOT_INTERRUPTED");
  }
  if (interruptId !== "" && interruptId !== run.interrupt.id) {
    throw failedPrecondition(`interrupt "${echoed(interruptId)}" is not the run's current interrupt`, "INTERRUPT_NOT_CURRENT");
  }
  validateAgainstSchema(input ?? null, run.interrupt.resumeSchema, "input");
  const [resumed] = await sql.query<RunRecord & { pg_notify?: unknown }>(resumeStatement, [tenantId, run.id, JSON.stringify(input ?? null), run.interrupt.id]);
  if (resumed === undefined) {
    // Another resume or a cancel won the race: answer from the state it left.
    const after = await getRun(sql, tenantId, run.id);
    if (after.status === "INTERRUPTED") throw failedPrecondition("the run changed while resuming; retry", "RUN_CHANGED");
    if (interruptId !== "" && (await sql.query(wasResumed, [tenantId, run.id, interruptId])).length > 0) return after;
    throw failedPrecondition(`run is ${after.status}; only INTERRUPTED runs can be resumed`, "RUN_NOT_INTERRUPTED");
  }
  return withoutNotifyColumn(resumed);
}
