/**
 * ReportRunEvents: an executor appends to the log of a run it holds, fenced by its lease
 * like every other executor write (lease-writes.ts). The append is IngestRunEvents'
 * (events/event-store.ts) with the lease check moved into the statement that takes the
 * run's row lock: `select … where <lease guard> for update`. Under READ COMMITTED a
 * locking read re-checks its WHERE against the row's newest version after waiting for
 * the lock, and the lock is held until commit, so no expiry sweep, re-claim or
 * completion can slip between the check and the insert. A stale lease locks no row,
 * appends nothing and is answered FAILED_PRECONDITION (LEASE_NOT_CURRENT), as
 * Heartbeat/Complete/Fail/Interrupt answer it.
 */
import type { Sql } from "../db/database.js";
import { appendToLockedRun, checkEvents, type EventRecord, type NewEvent } from "../runs/event-append.js";
import { namedStatement } from "../runs/lifecycle/named-statement.js";
import { currentLease } from "../runs/lifecycle/transition-sql.js";
import { checkLease, refuseStaleLease } from "./lease-writes.js";

// Primary key of runs, fenced by the lease. The lease's expiry is judged by the
// transaction's now(), as the other fenced writes judge it.
const lockLeasedRun = namedStatement(
  { tenantId: "uuid", runId: "uuid", leaseId: "uuid" },
  `select r.last_sequence from runs r where r.tenant_id = :tenantId and r.id = :runId and ${currentLease("r", ":leaseId")} for update`,
);

/**
 * Appends `events` to the run's log if `leaseId` is its current lease; events whose
 * `eventId` is already in the log are returned as stored instead of appended again.
 */
export async function reportRunEvents(
  sql: Sql,
  tenantId: string,
  runId: string,
  leaseId: string,
  events: readonly NewEvent[],
): Promise<EventRecord[]> {
  checkLease(runId, leaseId);
  checkEvents(events);
  const stored = await sql.transaction(async (transaction) => {
    const [run] = await transaction.query<{ last_sequence: string }>(
      lockLeasedRun.text,
      lockLeasedRun.values({ tenantId, runId, leaseId }),
    );
    return run === undefined ? undefined : appendToLockedRun(transaction, tenantId, runId, run.last_sequence, events);
  });
  return stored ?? refuseStaleLease(sql, tenantId, runId);
}
