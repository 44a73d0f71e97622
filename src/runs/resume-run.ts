/**
 * ResumeRun: an INTERRUPTED run goes back to the queue with the caller's input, which
 * must match the interrupt's resume schema. Resuming is once-only per interrupt: the
 * resume's status event records the interrupt id, so a repeated resume of the same
 * interrupt is recognised and changes nothing.
 */
import type { Sql } from "../db/database.js";
import { echoed, failedPrecondition } from "../errors.js";
import { validateAgainstSchema } from "../workflows/json-schema.js";
import { withoutNotifyColumn } from "./lifecycle/notify-channel.js";
import { resumeStatement } from "./lifecycle/run-statements.js";
import type { RunRecord } from "./run-record.js";
import { getRun } from "./run-queries.js";

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
  const [resumed] = await sql.query<RunRecord & { pg_notify?: unknown }>(
    resumeStatement.text,
    resumeStatement.values({ tenantId, runId: run.id, input: JSON.stringify(input ?? null), interruptId: run.interrupt.id }),
  );
  if (resumed === undefined) {
    // Another resume or a cancel won the race: answer from the state it left.
    const after = await getRun(sql, tenantId, run.id);
    if (after.status === "INTERRUPTED") throw failedPrecondition("the run changed while resuming; retry", "RUN_CHANGED");
    if (interruptId !== "" && (await sql.query(wasResumed, [tenantId, run.id, interruptId])).length > 0) return after;
    throw failedPrecondition(`run is ${after.status}; only INTERRUPTED runs can be resumed`, "RUN_NOT_INTERRUPTED");
  }
  return withoutNotifyColumn(resumed);
}
