/**
 * CreateRun's statements: the run inserted with its first status event (sequence 1) in
 * one statement, its status decided by the `create` transition (SCHEDULED while
 * :scheduleTime is ahead, else QUEUED). No NOTIFY: nobody can be subscribed to a run
 * whose id did not exist until now. runs/create-run.ts checks, resolves and runs them;
 * runs/rerun-run.ts runs the rerun statements, which copy a finished run's settings.
 */
import { runColumns } from "../run-record.js";
import { terminalStatuses } from "../run-status.js";
import { namedStatement } from "./named-statement.js";
import { changedRows, statusEvent, statusExpression } from "./transition-sql.js";
import { transitions } from "./transitions.js";

/** How long an idempotency key is kept. */
export const idempotencyKeyLifetimeHours = 24;

const runInsertColumns = `
  tenant_id, id, workflow_id, workflow_version, status, input, labels, max_attempts, priority,
  timeout_ms, backoff_ms, created_by, idempotency_key, webhook_url, webhook_intermediate,
  schedule_time, ready_time, last_sequence`;

const runValues = `
  :tenantId, :runId, :workflowId, :version,
  ${statusExpression(transitions.create)},
  :input, :labels, :maxAttempts, :priority, :timeoutMs, :backoffMs, :createdBy, :idempotencyKey, :webhookUrl,
  :webhookIntermediate, :scheduleTime, greatest(coalesce(:scheduleTime, now()), now()), 1`;

// When :checkLatest, the run is inserted only if :version is still the workflow's latest
// version (the caller resolved "latest" from its cache).
const latestGuard = `
  (not :checkLatest or exists (
    select 1 from workflows w where w.tenant_id = :tenantId and w.id = :workflowId and w.latest_version = :version))`;

/** The parameters of one run, by name. */
const oneRun = {
  tenantId: "uuid",
  runId: "uuid",
  workflowId: "uuid",
  version: "int",
  input: "jsonb",
  labels: "jsonb",
  maxAttempts: "int",
  priority: "int",
  timeoutMs: "bigint",
  backoffMs: "bigint",
  createdBy: "text",
  idempotencyKey: "text",
  webhookUrl: "text",
  webhookIntermediate: "boolean",
  scheduleTime: "timestamptz",
  checkLatest: "boolean",
} as const;

/** Claims :idempotencyKey for :runId where `guard` holds: fresh, or expired (then taken over). */
const claimedKey = (guard: string) => `k as (
    insert into idempotency_keys (tenant_id, key, request_hash, run_id, expire_time)
    select :tenantId, :idempotencyKey, :requestHash, :runId, now() + interval '${idempotencyKeyLifetimeHours} hours'
    where ${guard}
    on conflict (tenant_id, key) do update
      set request_hash = excluded.request_hash, run_id = excluded.run_id,
          create_time = now(), expire_time = excluded.expire_time
      where idempotency_keys.expire_time < now()
    returning run_id
  )`;

/** The CTEs `r` (the run, inserted where `guard` holds) and `e`, and the select of its columns. */
const insertedRun = (guard: string) => `r as (
    insert into runs (${runInsertColumns}) select ${runValues} where ${guard}
    returning *
  ), ${statusEvent(transitions.create, "r")}
  ${changedRows(transitions.create, runColumns)}`;

/** One run without an idempotency key; no row when the latest guard failed. */
export const insertRunStatement = namedStatement(
  oneRun,
  `
  with ${insertedRun(latestGuard)}`,
);

/**
 * One run, only when its idempotency key row could be claimed: fresh, or expired (then
 * taken over); no row when the key is live (or the latest guard failed).
 */
export const insertRunWithKeyStatement = namedStatement(
  { ...oneRun, requestHash: "text" },
  `
  with ${claimedKey(latestGuard)}, ${insertedRun("exists (select 1 from k)")}`,
);

/** The batch reads each run's schedule time from its row of x. */
const batchStatus = statusExpression(transitions.create).replaceAll(":scheduleTime", "x.schedule_time");

// A row whose :checkLatest is true is inserted only if its version is still the
// workflow's latest (workflows primary key), as latestGuard for one run.
const batchLatestGuard = `
  (not x.check_latest or exists (
    select 1 from workflows w where w.tenant_id = :tenantId and w.id = x.workflow_id and w.latest_version = x.version))`;

/**
 * Many runs of one tenant without idempotency keys, and their first events: one array
 * parameter per column. BatchCreateRuns sends its runs in one; concurrent CreateRuns
 * share one (create-run.ts, createRunCreator), each with its creator and, when its
 * version came from the cache, the "still latest" check; a row that fails it is left out.
 */
export const insertRunsStatement = namedStatement(
  {
    tenantId: "uuid",
    runIds: "uuid[]",
    workflowIds: "uuid[]",
    versions: "int[]",
    inputs: "jsonb[]",
    labels: "jsonb[]",
    maxAttempts: "int[]",
    priorities: "int[]",
    timeoutMs: "bigint[]",
    backoffMs: "bigint[]",
    createdBy: "text[]",
    webhookUrls: "text[]",
    webhookIntermediates: "boolean[]",
    scheduleTimes: "timestamptz[]",
    checkLatest: "boolean[]",
  },
  `
  with x as (
    select * from unnest(:runIds, :workflowIds, :versions, :inputs, :labels, :maxAttempts, :priorities,
                         :timeoutMs, :backoffMs, :createdBy, :webhookUrls, :webhookIntermediates, :scheduleTimes,
                         :checkLatest)
      as x(id, workflow_id, version, input, labels, max_attempts, priority, timeout_ms, backoff_ms, created_by,
           webhook_url, webhook_intermediate, schedule_time, check_latest)
  ), r as (
    insert into runs (${runInsertColumns})
    select :tenantId, x.id, x.workflow_id, x.version,
      ${batchStatus},
      x.input, x.labels, x.max_attempts, x.priority, x.timeout_ms, x.backoff_ms, x.created_by, null,
      x.webhook_url, x.webhook_intermediate, x.schedule_time, greatest(coalesce(x.schedule_time, now()), now()), 1
    from x
    where ${batchLatestGuard}
    returning *
  ), ${statusEvent(transitions.create, "r")}
  ${changedRows(transitions.create, runColumns)}`,
);

/** The parameters of a rerun: the new run's id, labels and creator, and the original. */
const rerun = {
  tenantId: "uuid",
  runId: "uuid",
  rerunOf: "uuid",
  labels: "jsonb",
  createdBy: "text",
  idempotencyKey: "text",
} as const;

// The original, by the runs primary key, only while it is terminal: a live run is never
// repeated beside itself (RerunRun in runs_service.proto). Terminal is final, so what the
// caller read before stays true; a deleted original matches no row.
const finishedOriginal = `o as (
    select * from runs o where o.tenant_id = :tenantId and o.id = :rerunOf
      and o.status in (${[...terminalStatuses].map((status) => `'${status}'`).join(", ")})
  )`;

// A rerun has no schedule_time of its own: the create transition's outcome for "now".
const rerunStatus = statusExpression(transitions.create).replaceAll(":scheduleTime", "null::timestamptz");

/** The CTEs `r` (the rerun, from `o`, where `guard` holds if given) and `e`, and the select of its columns. */
const insertedRerun = (guard?: string) => `r as (
    insert into runs (${runInsertColumns}, rerun_of)
    select :tenantId, :runId, o.workflow_id, o.workflow_version,
      ${rerunStatus},
      o.input, :labels, o.max_attempts, o.priority, o.timeout_ms, o.backoff_ms, :createdBy, :idempotencyKey,
      o.webhook_url, o.webhook_intermediate, null, now(), 1, o.id
    from o${guard === undefined ? "" : ` where ${guard}`}
    returning *
  ), ${statusEvent(transitions.create, "r")}
  ${changedRows(transitions.create, runColumns)}`;

/**
 * A new run with a finished run's version, input and settings, linked to it by
 * rerun_of; no row when the original is gone or not terminal.
 */
export const insertRerunStatement = namedStatement(
  rerun,
  `
  with ${finishedOriginal}, ${insertedRerun()}`,
);

/**
 * The rerun with its idempotency key, as insertRunWithKeyStatement: no row when the key
 * is live, or the original is gone or not terminal (then the key is not claimed).
 */
export const insertRerunWithKeyStatement = namedStatement(
  { ...rerun, requestHash: "text" },
  `
  with ${finishedOriginal}, ${claimedKey("exists (select 1 from o)")}, ${insertedRerun("exists (select 1 from k)")}`,
);
