/**
 * CompleteRun, batched: many calls of one tenant in one statement (:runIds, :leaseIds,
 * :outputs, answered by each call's number `n`), and the Work session's variant that
 * also claims a replacement per completed run in the same statement.
 */
import { runColumns } from "../run-record.js";
import { claimSteps, claimedColumns, hintParameters } from "./claim-statements.js";
import { namedStatement } from "./named-statement.js";
import { notifyExpression } from "./notify-channel.js";
import { currentLease, setClause, statusEvent } from "./transition-sql.js";
import { transitions } from "./transitions.js";

/**
 * The completion as CTEs: `i` the calls, `t` each call's run if its lease is current,
 * locked, and `d` the completed runs (whole rows, which the webhook outbox reads) with
 * the call's number `n`; `de` their status events. When two calls name the same run, the update changes it
 * once; the other call then finds its lease gone.
 *
 * Each call's run is found by primary key only, and the lease is checked outside that
 * lookup (`offset 0` keeps the checks from being pushed into it). With the checks inside,
 * Postgres' generic plan preferred the partial indexes whose predicates they match
 * (runs_lease_expiry, runs_active_by_workflow): small by its statistics, but holding an
 * entry for every lease taken since the last vacuum, so each completion got slower as a
 * queue drained (12 ms a statement after 60,000 runs). FOR UPDATE returns the run's
 * latest version, so a lease taken or finished meanwhile is seen and refused.
 */
function completionSteps(): string {
  return `
    i as (
      select * from unnest(:runIds, :leaseIds, :outputs) with ordinality as i(id, lease_id, output, n)
    ), t as (
      select l.id, i.output, i.n from i cross join lateral (
        select r.id, r.lease_id, r.status, r.lease_expire_time from runs r
        where r.tenant_id = :tenantId and r.id = i.id
        for update
        offset 0
      ) l
      where ${currentLease("l", "i.lease_id")}
    ), d as (
      update runs r set
        ${setClause(transitions.complete)}
      from t
      where r.tenant_id = :tenantId and r.id = t.id
      returning r.*, t.n
    ), ${statusEvent(transitions.complete, "d", "de")}`;
}

const completion = { tenantId: "uuid", runIds: "uuid[]", leaseIds: "uuid[]", outputs: "jsonb[]" } as const;

/** CompleteRun for many calls; a row per completed run, with its call's number `n`. */
export const completeStatement = namedStatement(
  completion,
  `
  with ${completionSteps()}
  select ${runColumns}, r.n, ${notifyExpression("r")} from d as r`,
);

// One slot per completed run whose report wants a replacement (:nextWorkerIds,
// :nextLeaseMs: the reports' terms, null where none is wanted), numbered in report order.
const replacementSlots = `
  select row_number() over (order by d.n) as n, s.worker_id, s.lease_ms
  from d join unnest(:nextWorkerIds, :nextLeaseMs) with ordinality as s(worker_id, lease_ms, k) on s.k = d.n
  where s.worker_id is not null`;

const replacements = { ...completion, nextWorkerIds: "text[]", nextLeaseMs: "bigint[]" } as const;

function completeAndClaim(filter: "any" | "only", hinted = false): string {
  return `
    with ${completionSteps()}, dn as (select ${notifyExpression("d")} from d),
    ${claimSteps(filter, true, replacementSlots, hinted)}
    select done.done, done.notified, claimed.*
    from (
      select coalesce(jsonb_agg(jsonb_build_object('n', d.n, 'id', d.id, 'status', d.status)), '[]'::jsonb) as done,
        (select count(*) from dn) as notified
      from d
    ) done
    left join (select ${claimedColumns} from r) claimed on true`;
}

/**
 * Completions and their replacements (as the claim, with the same guard for limited
 * workflows), of any workflow: one row per claimed run, or one row without a run;
 * `done` lists the completed calls.
 */
export const completeAndClaimAnyStatement = namedStatement(replacements, completeAndClaim("any"));
/** As completeAndClaimAnyStatement, replacements of :workflowIds only. */
export const completeAndClaimOnlyStatement = namedStatement({ ...replacements, workflowIds: "uuid[]" }, completeAndClaim("only"));
/** completeAndClaimAnyStatement with its replacements claimed from a hint (claim-statements.ts). */
export const completeAndClaimAnyHintedStatement = namedStatement({ ...replacements, ...hintParameters }, completeAndClaim("any", true));
/** completeAndClaimOnlyStatement with its replacements claimed from a hint. */
export const completeAndClaimOnlyHintedStatement = namedStatement(
  { ...replacements, workflowIds: "uuid[]", ...hintParameters },
  completeAndClaim("only", true),
);
