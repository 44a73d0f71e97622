/**
 * SQL built from the transition table (transitions.ts): the SET clause, the WHERE
 * guards, the status event and the NOTIFY of a transition. The statement modules beside
 * this one (run-statements.ts, sweep-statements.ts, claim-statements.ts,
 * completion-statements.ts, create-statements.ts) compose these pieces into the
 * statements the callers run, so no caller writes a status change by hand.
 *
 * Every status change of every statement writes its `status` run event through
 * statusEvent, in the statement that changes the status: that function is the one place
 * where later work that reacts to status changes (webhooks, watches) attaches, e.g. as
 * one more CTE over the same changed rows, committed with the change itself.
 */
import { runColumns } from "../run-record.js";
import type { RunStatus } from "../run-status.js";
import { notifyExpression } from "./notify-channel.js";
import type { Transition } from "./transitions.js";
import { webhookDeliveries } from "./webhook-outbox.js";

const quoted = (status: RunStatus) => `'${status}'`;

/** `alias.status = 'A'`, or `alias.status in ('A', 'B')`. */
function statusIn(alias: string, statuses: readonly RunStatus[]): string {
  return statuses.length === 1 ? `${alias}.status = ${quoted(statuses[0]!)}` : `${alias}.status in (${statuses.map(quoted).join(", ")})`;
}

/** The statuses in which a run can hold a lease. */
const leasedStatuses: readonly RunStatus[] = ["RUNNING", "CANCELLING"];

/**
 * True when `leaseId` (SQL) is the current lease of the run `alias`: the same lease,
 * a status that holds one, not expired by the transaction's now().
 */
export function currentLease(alias: string, leaseId: string): string {
  return `${alias}.lease_id = ${leaseId} and ${statusIn(alias, leasedStatuses)} and ${alias}.lease_expire_time > now()`;
}

/** The SQL for the new status: the first outcome whose conditions hold. */
export function statusExpression(transition: Transition): string {
  const [only] = transition.outcomes;
  if (transition.outcomes.length === 1 && only !== undefined) return quoted(only.to);
  const branches = transition.outcomes.map((outcome) => {
    const conditions = [outcome.from === undefined ? undefined : `r.status = ${quoted(outcome.from)}`, outcome.when].filter(
      (part) => part !== undefined,
    );
    return conditions.length === 0 ? `else ${quoted(outcome.to)}` : `when ${conditions.join(" and ")} then ${quoted(outcome.to)}`;
  });
  return `case ${branches.join(" ")} end`;
}

/** The SET clause of an `update runs r`: status, the transition's columns, update time and sequence. */
export function setClause(transition: Transition): string {
  const columns = Object.entries(transition.set).map(([column, value]) => `${column} = ${value}`);
  return [`status = ${statusExpression(transition)}`, ...columns, "update_time = now()", "last_sequence = r.last_sequence + 1"].join(
    ",\n      ",
  );
}

/**
 * The WHERE guard of a transition on the run `alias`: its from-statuses and further
 * guard, and for a fenced one the current lease `leaseId` (SQL) too. The further guards
 * of the table name the run `r`, so only `r` may apply one.
 */
export function transitionGuard(transition: Transition, alias: string, leaseId?: string): string {
  if (transition.where !== undefined && alias !== "r") throw new Error("a transition with a further guard is applied to `r`");
  const statuses = transition.fenced ? currentLease(alias, leaseId ?? ":leaseId") : statusIn(alias, transition.from);
  const narrower = transition.fenced && transition.from.length !== leasedStatuses.length ? ` and ${statusIn(alias, transition.from)}` : "";
  return `${statuses}${narrower}${transition.where === undefined ? "" : ` and ${transition.where}`}`;
}

/**
 * The status event of every run in `changed` (whole rows of runs after the change), as
 * the CTE `name`, and its webhook deliveries (webhook-outbox.ts) as CTEs named after it.
 * See the module comment: the hook point for status changes.
 */
export function statusEvent(transition: Transition, changed: string, name = "e"): string {
  return `${name} as (
    insert into run_events (tenant_id, run_id, sequence, type, status, data)
    select tenant_id, id, last_sequence, 'status', status, ${transition.eventData} from ${changed}
  ), ${webhookDeliveries(changed, name)}`;
}

/** `columns` of the changed rows `r`, with the NOTIFY when the transition sends one. */
export function changedRows(transition: Transition, columns: string): string {
  return `select ${columns}${transition.notifies ? `, ${notifyExpression("r")}` : ""} from r`;
}

/**
 * The whole statement for one run by primary key (:tenantId, :runId; :leaseId when
 * fenced): update, status event, the run's columns and the NOTIFY.
 */
export function singleRunStatement(transition: Transition): string {
  return `
  with r as (
    update runs r set
      ${setClause(transition)}
    where r.tenant_id = :tenantId and r.id = :runId and ${transitionGuard(transition, "r")}
    returning r.*
  ), ${statusEvent(transition, "r")}
  ${changedRows(transition, runColumns)}`;
}
