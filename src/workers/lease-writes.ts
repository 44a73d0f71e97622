/**
 * The executor's writes: Heartbeat, CompleteRun, FailRun, InterruptRun. Each is fenced
 * by the lease in its WHERE (see leaseGuard): a stale lease (expired, or the run claimed
 * again since) matches no row, changes nothing, and is answered FAILED_PRECONDITION.
 * Status changes write their status event and NOTIFY in the same statement.
 */
import { randomUUID } from "node:crypto";
import type { Sql } from "../db/database.js";
import { failedPrecondition, invalidArgument, notFound } from "../errors.js";
import { isUuid } from "../ids.js";
import { notifyExpression, withoutNotifyColumn } from "../events/notify-channel.js";
import { runColumns, type RunRecord } from "../runs/run-record.js";
import { getRun } from "../runs/run-queries.js";
import { checkSchema } from "../workflows/json-schema.js";
import { leaseGuard } from "./lease-record.js";
import { createStatementBatcher } from "../db/statement-batcher.js";
import { retryReadyTimeSql } from "./retry-delay.js";

/** Refuses ids that can never name a run or a lease (before they reach a statement). */
export function checkLease(runId: string, leaseId: string): void {
  if (!isUuid(runId)) throw notFound("run", runId);
  if (!isUuid(leaseId)) throw invalidArgument("lease_id", "must be the lease id a claim returned");
}

/** Explains why a fenced write matched nothing: unknown run, or a stale lease. */
export async function refuseStaleLease(sql: Sql, tenantId: string, runId: string): Promise<never> {
  const run = await getRun(sql, tenantId, runId);
  throw failedPrecondition(`the lease is not current (run is ${run.status}); the run may have been claimed again`, "LEASE_NOT_CURRENT");
}

// Primary key of runs, fenced by the lease.
const heartbeatStatement = `
  update runs set lease_expire_time = now() + lease_duration_ms * interval '1 millisecond'
  where tenant_id = $1::uuid and id = $2::uuid and ${leaseGuard}
  returning lease_expire_time, cancel_requested`;

/** Extends the lease; says whether cancellation was requested. */
export async function heartbeat(sql: Sql, tenantId: string, runId: string, leaseId: string): Promise<{ leaseExpireTime: string; cancelRequested: boolean }> {
  checkLease(runId, leaseId);
  const [row] = await sql.query<{ lease_expire_time: string; cancel_requested: boolean }>(heartbeatStatement, [tenantId, runId, leaseId]);
  if (row === undefined) return refuseStaleLease(sql, tenantId, runId);
  return { leaseExpireTime: row.lease_expire_time, cancelRequested: row.cancel_requested };
}

/** A fenced status change: SET clause, event data, extra parameters from $4 on. */
function finishStatement(set: string, eventData: string, extraGuard = ""): string {
  return `
    with r as (
      update runs set ${set},
        lease_id = null, lease_expire_time = null, update_time = now(), last_sequence = last_sequence + 1
      where tenant_id = $1::uuid and id = $2::uuid and ${leaseGuard} ${extraGuard}
      returning *
    ), e as (
      insert into run_events (tenant_id, run_id, sequence, type, status, data)
      select tenant_id, id, last_sequence, 'status', status, ${eventData} from r
    )
    select ${runColumns}, ${notifyExpression("r")} from r`;
}

// Retryable with attempts left: back to the queue after exponential backoff
// (retry-delay.ts); otherwise FAILED, or CANCELLED when cancelling.
const failStatement = finishStatement(
  `status = case when status = 'CANCELLING' then 'CANCELLED' when $5::boolean and attempt < max_attempts then 'QUEUED' else 'FAILED' end,
   ready_time = case when status <> 'CANCELLING' and $5::boolean and attempt < max_attempts
     then ${retryReadyTimeSql("")} else ready_time end,
   end_time = case when status <> 'CANCELLING' and $5::boolean and attempt < max_attempts then null else now() end,
   error = $4::jsonb`,
  "jsonb_build_object('error', $4::jsonb, 'attempt', attempt)",
);

// Only a RUNNING run can pause; a CANCELLING one must stop instead.
const interruptStatement = finishStatement(
  `status = 'INTERRUPTED', interrupt = $4::jsonb, resume_input = null`,
  "jsonb_build_object('interruptId', $4::jsonb->>'id', 'reason', $4::jsonb->>'reason')",
  "and status = 'RUNNING'",
);

/**
 * CompleteRun for many runs of one tenant in one statement, as CTEs: `i` the calls ($2
 * run ids, $3 lease ids, $4 outputs), `t` each call's run if its lease is current,
 * locked, and `d` the completed runs, returning `returning` and the call's number `n`.
 * A CANCELLING run that completes was stopped by the cancellation: CANCELLED. When two
 * calls name the same run, the update changes it once; the other call then finds its
 * lease gone.
 *
 * Each call's run is found by primary key only, and the lease is checked outside that
 * lookup (`offset 0` keeps the checks from being pushed into it). With the checks inside,
 * Postgres' generic plan preferred the partial indexes whose predicates they match
 * (runs_lease_expiry, runs_active_by_workflow): small by its statistics, but holding an
 * entry for every lease taken since the last vacuum, so each completion got slower as a
 * queue drained (12 ms a statement after 60,000 runs). FOR UPDATE returns the run's
 * latest version, so a lease taken or finished meanwhile is seen and refused.
 */
export function completionCtes(returning: string): string {
  return `
    i as (
      select * from unnest($2::uuid[], $3::uuid[], $4::jsonb[]) with ordinality as i(id, lease_id, output, n)
    ), t as (
      select l.id, i.output, i.n from i cross join lateral (
        select r.id, r.lease_id, r.status, r.lease_expire_time from runs r
        where r.tenant_id = $1::uuid and r.id = i.id
        for update
        offset 0
      ) l
      where l.lease_id = i.lease_id and l.status in ('RUNNING', 'CANCELLING') and l.lease_expire_time > now()
    ), d as (
      update runs r set
        status = case when r.status = 'CANCELLING' then 'CANCELLED' else 'SUCCEEDED' end,
        result = case when r.status = 'CANCELLING' then null else t.output end,
        end_time = now(), lease_id = null, lease_expire_time = null, update_time = now(), last_sequence = r.last_sequence + 1
      from t
      where r.tenant_id = $1::uuid and r.id = t.id
      returning ${returning}, t.n
    ), de as (
      insert into run_events (tenant_id, run_id, sequence, type, status, data)
      select tenant_id, id, last_sequence, 'status', status, null from d
    )`;
}

const completeStatement = `
  with ${completionCtes("r.*")}
  select ${runColumns}, r.n, ${notifyExpression("r")} from d as r`;

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

/** $1–$4 of completionCtes: the tenant, then the calls' run ids, lease ids and outputs. */
export function completionParameters(tenantId: string, calls: readonly Completion[]): unknown[] {
  return [tenantId, calls.map((call) => call.runId), calls.map((call) => call.leaseId), calls.map((call) => JSON.stringify(call.output ?? null))];
}

/** Completes each call's run; undefined where the lease was not current. */
async function completeTogether(sql: Sql, tenantId: string, calls: readonly Completion[]): Promise<(RunRecord | undefined)[]> {
  const rows = await sql.query<RunRecord & { n: string; pg_notify?: unknown }>(completeStatement, completionParameters(tenantId, calls));
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
  const batcher = createStatementBatcher<{ tenantId: string; call: Completion }, RunRecord | undefined>(maxCompletionsPerStatement, (_key, items) =>
    completeTogether(sql, items[0]!.tenantId, items.map((item) => item.call)));
  return {
    async complete(tenantId, runId, leaseId, output) {
      checkLease(runId, leaseId);
      const run = await batcher.submit(tenantId, { tenantId, call: { runId, leaseId, output } });
      return run ?? refuseStaleLease(sql, tenantId, runId);
    },
  };
}

/** Reports a failed attempt; see failStatement for the outcome. */
export async function failRun(sql: Sql, tenantId: string, runId: string, leaseId: string, error: { message: string; code: string }, retryable: boolean): Promise<RunRecord> {
  checkLease(runId, leaseId);
  if (error.message === "") throw invalidArgument("error.message", "is required");
  const [row] = await sql.query<RunRecord>(failStatement, [tenantId, runId, leaseId, JSON.stringify(error), retryable]);
  return row === undefined ? refuseStaleLease(sql, tenantId, runId) : withoutNotifyColumn(row);
}

// The attempt is handed back (attempt − 1) so the next claim counts the same attempt.
const releaseStatement = finishStatement(
  `status = case when status = 'CANCELLING' then 'CANCELLED' else 'QUEUED' end,
   attempt = case when status = 'CANCELLING' then attempt else attempt - 1 end,
   ready_time = now(), end_time = case when status = 'CANCELLING' then now() else null end`,
  "jsonb_build_object('reason', 'released')",
);

/** Gives a lease back without finishing the run (executor shutdown). */
export async function releaseRun(sql: Sql, tenantId: string, runId: string, leaseId: string): Promise<RunRecord> {
  checkLease(runId, leaseId);
  const [row] = await sql.query<RunRecord>(releaseStatement, [tenantId, runId, leaseId]);
  return row === undefined ? refuseStaleLease(sql, tenantId, runId) : withoutNotifyColumn(row);
}

/** An interrupt as stored on the run. */
export interface InterruptRecord {
  readonly id: string;
  readonly reason: string;
  readonly payload: unknown;
  readonly resumeSchema: unknown;
}

/** Pauses a run until ResumeRun; the resume schema is checked here, once. */
export async function interruptRun(sql: Sql, tenantId: string, runId: string, leaseId: string, reason: string, payload: unknown, resumeSchema: unknown): Promise<{ run: RunRecord; interrupt: InterruptRecord }> {
  checkLease(runId, leaseId);
  checkSchema(resumeSchema, "resume_schema");
  const interrupt: InterruptRecord = { id: randomUUID(), reason, payload: payload ?? null, resumeSchema: resumeSchema ?? null };
  const [row] = await sql.query<RunRecord>(interruptStatement, [tenantId, runId, leaseId, JSON.stringify(interrupt)]);
  if (row === undefined) {
    const run = await getRun(sql, tenantId, runId);
    if (run.status === "CANCELLING") throw failedPrecondition("cancellation was requested; stop the run instead of interrupting it", "RUN_CANCELLING");
    return refuseStaleLease(sql, tenantId, runId);
  }
  return { run: withoutNotifyColumn(row), interrupt };
}
