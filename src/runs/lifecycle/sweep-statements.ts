/**
 * The sweeper's time-driven status changes (workers/lease-sweeper.ts). Each takes up
 * to `batch` due runs with `for update skip locked`, so sweepers on several replicas
 * split the work, and the transition's guard is in that locking read's WHERE, which
 * READ COMMITTED re-checks on the newest row version: no change is applied twice.
 */
import { namedStatement } from "./named-statement.js";
import { changedRows, setClause, statusEvent, transitionGuard } from "./transition-sql.js";
import { transitions, type Transition } from "./transitions.js";

/** How many rows each statement handles per sweep. */
const batch = 500;

/** The sweep of `transition`, oldest due first (`order`: the column of the index it walks). */
function sweepStatement(transition: Transition, order: string): string {
  return `
  with x as (
    select r.tenant_id, r.id from runs r where ${transitionGuard(transition, "r")}
    order by r.${order} limit ${batch} for update skip locked
  ), r as (
    update runs r set
      ${setClause(transition)}
    from x where r.tenant_id = x.tenant_id and r.id = x.id
    returning r.*
  ), ${statusEvent(transition, "r")}
  ${changedRows(transition, "r.tenant_id, r.status")}`;
}

// Each statement's rows: the changed runs' tenant and new status, and the NOTIFY.

/** Expired leases (runs_lease_expiry). */
export const expireLeasesStatement = namedStatement({}, sweepStatement(transitions.leaseExpired, "lease_expire_time"));

/** Run deadlines passed (runs_deadline). */
export const timeOutRunsStatement = namedStatement({}, sweepStatement(transitions.timeout, "deadline_time"));

/** CANCELLING past the grace period, cancelGraceMs (runs_cancel_grace). */
export const endCancelGraceStatement = namedStatement(
  { cancelGraceMs: "bigint" },
  sweepStatement(transitions.cancelGraceEnded, "update_time"),
);

/** SCHEDULED runs whose time came (runs_schedule_due). */
export const startScheduledStatement = namedStatement({}, sweepStatement(transitions.schedule, "schedule_time"));
