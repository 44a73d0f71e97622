/**
 * The claim: queued runs taken under a lease. One `select … for update skip locked`
 * feeds an `update … returning`, so concurrent claimers never wait on each other's rows
 * and never get the same run. Ordered by priority, then readiness (runs_queue /
 * runs_queue_by_workflow partial indexes). workers/claim-runs.ts runs these and holds
 * the concurrency-limit path; completion-statements.ts reuses claimSteps for the
 * replacement claimed with a completion.
 *
 * Each claim comes in two forms: from the queue's head, and hinted, starting the
 * hint's priority at a queue position (workers/queue-hints.ts says why and when).
 */
import { runColumns } from "../run-record.js";
import { namedStatement } from "./named-statement.js";
import { notifyExpression } from "./notify-channel.js";
import { setClause, statusEvent, transitionGuard } from "./transition-sql.js";
import { transitions } from "./transitions.js";

/** Which workflows a claim takes runs of: any, only :workflowIds, or all but :workflowIds. */
export type ClaimFilter = "any" | "only" | "except";

/** Slots from :workerIds and :leaseMs, one row (n = 1, 2 …, worker_id, lease_ms) per run asked for. */
const claimSlots = `select s.n, s.worker_id, s.lease_ms from unnest(:workerIds, :leaseMs) with ordinality as s(worker_id, lease_ms, n)`;

/** Where a hinted claim starts: :hintPriority, from (:hintReadyMicros, :hintId) on. */
export const hintParameters = { hintPriority: "int4", hintReadyMicros: "int8", hintId: "uuid" } as const;

// ready_time from its microseconds since the epoch, exactly (below 2^53 µs, which
// interval_mul's float8 carries without rounding).
const hintReadyTime = "(timestamptz 'epoch' + :hintReadyMicros * interval '1 microsecond')";

/**
 * The claim, as CTEs `slot` (from `slots`, a query of rows n, worker_id, lease_ms),
 * `c0`, `c`, `r` (the claimed runs, with their `slot`) and `e` (their status events),
 * for :tenantId. Claims one run per slot, so claims of several executors are one
 * statement: slot n gets the n-th run in queue order. When `guarded`, it claims nothing
 * while a limited workflow is among those asked for (that guard is evaluated once):
 * those go through the concurrency-limit path.
 *
 * When `hinted` (parameters hintParameters), `c0` is three index ranges of runs_queue,
 * each walked only as far as the slots still free: `above`, the higher priorities from
 * their head (so the highest priority still comes first); `at`, the hint's priority from
 * the hint on, which skips the entries of runs claimed before it (dead, but kept while
 * a snapshot holds the horizon); and `head`, the whole queue from its head, only when
 * those two found too few. A row locked by this statement is not skipped by its own
 * `for update skip locked`, so `head` leaves out the runs the others took.
 */
export function claimSteps(filter: ClaimFilter, guarded: boolean, slots: string, hinted = false): string {
  const workflowCondition = { any: "", only: "and r.workflow_id = any(:workflowIds)", except: "and r.workflow_id <> all(:workflowIds)" }[
    filter
  ];
  const limitedCondition = filter === "only" ? "and w.id = any(:workflowIds)" : "";
  const guard = guarded
    ? `and not exists (select 1 from workflows w where w.tenant_id = :tenantId and w.concurrency_limit > 0 ${limitedCondition})`
    : "";
  const candidates = (name: string, range: string, limit: string) => `${name} as (
      select r.tenant_id, r.id, r.priority, r.ready_time from runs r
      where r.tenant_id = :tenantId and ${transitionGuard(transitions.claim, "r")} ${workflowCondition}${range}
        ${guard}
      order by r.priority desc, r.ready_time, r.id
      limit ${limit}
      for update skip locked
    )`;
  const wanted = "(select count(*) from slot)";
  const picks = hinted
    ? [
        candidates("above", " and r.priority > :hintPriority", wanted),
        candidates(
          "at",
          ` and r.priority = :hintPriority and (r.ready_time, r.id) >= (${hintReadyTime}, :hintId)`,
          `${wanted} - (select count(*) from above)`,
        ),
        candidates(
          "head",
          " and r.id not in (select id from above union all select id from at)",
          `${wanted} - (select count(*) from above) - (select count(*) from at)`,
        ),
        "c0 as (select * from above union all select * from at union all select * from head)",
      ].join(", ")
    : candidates("c0", "", wanted);
  return `
    slot as (${slots}), ${picks}, c as (
      select c0.tenant_id, c0.id, row_number() over (order by c0.priority desc, c0.ready_time, c0.id) as n from c0
    ), r as (
      update runs r set
        ${setClause(transitions.claim)}
      from c join slot on slot.n = c.n
      where r.tenant_id = c.tenant_id and r.id = c.id
      returning r.*, c.n as slot
    ), ${statusEvent(transitions.claim, "r")}`;
}

/**
 * What a claim returns per run: the lease columns, its slot, its queue position's ready
 * time in microseconds (`queue_ready_micros`, for the hint), and the NOTIFY.
 */
export const claimedColumns = `${runColumns}, r.lease_id, r.lease_expire_time, r.resume_input, r.slot,
  (extract(epoch from r.ready_time) * 1000000)::int8 as queue_ready_micros, ${notifyExpression("r")}`;

const anyWorkflow = { tenantId: "uuid", workerIds: "text[]", leaseMs: "bigint[]" } as const;
const someWorkflows = { ...anyWorkflow, workflowIds: "uuid[]" } as const;

/** The claim's CTEs for the named or the other workflows, compiled ($1 tenant, $2 workers, $3 lease lengths, $4 workflows). */
export function claimCtes(filter: "only" | "except", guarded: boolean): string {
  return namedStatement(someWorkflows, claimSteps(filter, guarded, claimSlots)).text;
}

const claimStatement = (filter: "only" | "except", guarded: boolean) =>
  namedStatement(someWorkflows, `with ${claimSteps(filter, guarded, claimSlots)} select ${claimedColumns} from r`);

/** A claim of any workflow's runs, unless a limited workflow exists. */
export const claimAnyStatement = namedStatement(anyWorkflow, `with ${claimSteps("any", true, claimSlots)} select ${claimedColumns} from r`);
/** claimAnyStatement starting at a hint (hintParameters). */
export const claimAnyHintedStatement = namedStatement(
  { ...anyWorkflow, ...hintParameters },
  `with ${claimSteps("any", true, claimSlots, true)} select ${claimedColumns} from r`,
);
/** A claim of :workflowIds' runs, unless one of them is limited. */
export const claimOnlyStatement = claimStatement("only", true);
/** claimOnlyStatement starting at a hint (hintParameters). */
export const claimOnlyHintedStatement = namedStatement(
  { ...someWorkflows, ...hintParameters },
  `with ${claimSteps("only", true, claimSlots, true)} select ${claimedColumns} from r`,
);
/** A claim of :workflowIds' runs, for the caller holding their workflows' locks. */
export const claimOnlyUnguardedStatement = claimStatement("only", false);
/** A claim of runs of any workflow but :workflowIds (the limited ones, locked by the caller). */
export const claimExceptStatement = claimStatement("except", false);
