/**
 * The executor's writes: Heartbeat, CompleteRun, FailRun, ReleaseRun, InterruptRun. Each
 * is fenced by the lease in its WHERE (currentLease in runs/lifecycle/transition-sql.ts):
 * a stale lease (expired, or the run claimed again since) matches no row, changes
 * nothing, and is answered FAILED_PRECONDITION. The status changes are the transition
 * table's (runs/lifecycle/), whose statements write the status event and NOTIFY.
 */
import { randomUUID } from "node:crypto";
import type { Sql } from "../db/database.js";
import { failedPrecondition, invalidArgument, notFound } from "../errors.js";
import { isUuid } from "../ids.js";
import { completeStatement } from "../runs/lifecycle/completion-statements.js";
import { namedStatement } from "../runs/lifecycle/named-statement.js";
import { withoutNotifyColumn } from "../runs/lifecycle/notify-channel.js";
import { failStatement, interruptStatement, releaseStatement } from "../runs/lifecycle/run-statements.js";
import { currentLease } from "../runs/lifecycle/transition-sql.js";
import type { RunRecord } from "../runs/run-record.js";
import { getRun } from "../runs/run-queries.js";
import { checkSchema } from "../workflows/json-schema.js";
import { createStatementBatcher } from "../db/statement-batcher.js";

/** Refuses ids that can never name a run or a lease (before they reach a statement). */
export function checkLease(runId: string, leaseId: string): void {
  if (!isUuid(runId)) throw notFound("run", runId);
  if (!isUuid(leaseId)) throw invalidArgument("leaseId", "must be the lease id a claim returned");
}

/** Explains why a fenced write matched nothing: unknown run, or a stale lease. */
export async function refuseStaleLease(sql: Sql, tenantId: string, runId: string): Promise<never> {
  const run = await getRun(sql, tenantId, runId);
  throw failedPrecondition(`the lease is not current (run is ${run.status}); the run may have been claimed again`, "LEASE_NOT_CURRENT");
}

// Primary key of runs, fenced by the lease. Not a status change: the run stays as it is.
const heartbeatStatement = namedStatement(
  { tenantId: "uuid", runId: "uuid", leaseId: "uuid" },
  `
  update runs r set lease_expire_time = now() + r.lease_duration_ms * interval '1 millisecond'
  where r.tenant_id = :tenantId and r.id = :runId and ${currentLease("r", ":leaseId")}
  returning r.lease_expire_time, r.cancel_requested`,
);

/** Extends the lease; says whether cancellation was requested. */
export async function heartbeat(
  sql: Sql,
  tenantId: string,
  runId: string,
  leaseId: string,
): Promise<{ leaseExpireTime: string; cancelRequested: boolean }> {
  checkLease(runId, leaseId);
  const [row] = await sql.query<{ lease_expire_time: string; cancel_requested: boolean }>(
    heartbeatStatement.text,
    heartbeatStatement.values({ tenantId, runId, leaseId }),
  );
  if (row === undefined) return refuseStaleLease(sql, tenantId, runId);
  return { leaseExpireTime: row.lease_expire_time, cancelRequested: row.cancel_requested };
}

/** One CompleteRun call. */
export interface Completion {
  readonly runId: string;
  readonly leaseId: string;
  readonly output: unknown;
}

/** A run's id and status after a write. */
export interface RunOutcome {
  readonly id: string;
  readonly status: string;
}

/** The completion statements' parameters for `calls` of one tenant. */
export function completionValues(
  tenantId: string,
  calls: readonly Completion[],
): { tenantId: string; runIds: string[]; leaseIds: string[]; outputs: string[] } {
  return {
    tenantId,
    runIds: calls.map((call) => call.runId),
    leaseIds: calls.map((call) => call.leaseId),
    outputs: calls.map((call) => JSON.stringify(call.output ?? null)),
  };
}

/** Completes each call's run; undefined where the lease was not current. */
async function completeTogether(sql: Sql, tenantId: string, calls: readonly Completion[]): Promise<(RunRecord | undefined)[]> {
  const rows = await sql.query<RunRecord & { n: string; pg_notify?: unknown }>(
    completeStatement.text,
    completeStatement.values(completionValues(tenantId, calls)),
  );
  const answers: (RunRecord | undefined)[] = calls.map(() => undefined);
  for (const row of rows) {
    const { n, ...run } = withoutNotifyColumn(row);
    answers[Number(n) - 1] = run;
  }
  return answers;
}

/** Finishes runs as SUCCEEDED (CANCELLED when they were cancelling); concurrent calls of a tenant share statements. */
export interface Completer {
  complete(tenantId: string, runId: string, leaseId: string, output: unknown): Promise<RunRecord>;
}

/** Calls of one statement at most. */
const maxCompletionsPerStatement = 64;

/** A Completer over `sql`; see statement-batcher.ts for how calls are grouped. */
export function createCompleter(sql: Sql): Completer {
  const batcher = createStatementBatcher<string, Completion, RunRecord | undefined>(maxCompletionsPerStatement, (tenantId, calls) =>
    completeTogether(sql, tenantId, calls),
  );
  return {
    async complete(tenantId, runId, leaseId, output) {
      checkLease(runId, leaseId);
      const run = await batcher.submit(tenantId, tenantId, { runId, leaseId, output });
      return run ?? refuseStaleLease(sql, tenantId, runId);
    },
  };
}

/** Reports a failed attempt; see the `fail` transition for the outcome. */
export async function failRun(
  sql: Sql,
  tenantId: string,
  runId: string,
  leaseId: string,
  error: { message: string; code: string },
  retryable: boolean,
): Promise<RunRecord> {
  checkLease(runId, leaseId);
  if (error.message === "") throw invalidArgument("error.message", "is required");
  const [row] = await sql.query<RunRecord>(
    failStatement.text,
    failStatement.values({ tenantId, runId, leaseId, error: JSON.stringify(error), retryable }),
  );
  return row === undefined ? refuseStaleLease(sql, tenantId, runId) : withoutNotifyColumn(row);
}

/** Gives a lease back without finishing the run (executor shutdown). */
export async function releaseRun(sql: Sql, tenantId: string, runId: string, leaseId: string): Promise<RunRecord> {
  checkLease(runId, leaseId);
  const [row] = await sql.query<RunRecord>(releaseStatement.text, releaseStatement.values({ tenantId, runId, leaseId }));
  return row === undefined ? refuseStaleLease(sql, tenantId, runId) : withoutNotifyColumn(row);
}

/** What an executor asks for when it pauses a run: why, what for the caller, and the schema of the answer. */
export interface InterruptRequest {
  readonly reason: string;
  readonly payload: unknown;
  readonly resumeSchema: unknown;
}

/** An interrupt as stored on the run: the request with the id ResumeRun answers. */
export interface InterruptRecord extends InterruptRequest {
  readonly id: string;
}

/** Pauses a run until ResumeRun; the resume schema is checked here, once. */
export async function interruptRun(
  sql: Sql,
  tenantId: string,
  runId: string,
  leaseId: string,
  request: InterruptRequest,
): Promise<{ run: RunRecord; interrupt: InterruptRecord }> {
  checkLease(runId, leaseId);
  checkSchema(request.resumeSchema, "resumeSchema");
  const interrupt: InterruptRecord = {
    id: randomUUID(),
    reason: request.reason,
    payload: request.payload ?? null,
    resumeSchema: request.resumeSchema ?? null,
  };
  const [row] = await sql.query<RunRecord>(
    interruptStatement.text,
    interruptStatement.values({ tenantId, runId, leaseId, interrupt: JSON.stringify(interrupt) }),
  );
  if (row === undefined) {
    const run = await getRun(sql, tenantId, runId);
    if (run.status === "CANCELLING")
      throw failedPrecondition("cancellation was requested; stop the run instead of interrupting it", "RUN_CANCELLING");
    return refuseStaleLease(sql, tenantId, runId);
  }
  return { run: withoutNotifyColumn(row), interrupt };
}
