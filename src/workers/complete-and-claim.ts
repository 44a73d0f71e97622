/**
 * Work sessions finish a run and want the next one at once. This does both in one
 * statement (runs/lifecycle/completion-statements.ts, the `complete` and `claim`
 * transitions): it completes the reported runs (fenced by their leases, as CompleteRun)
 * and claims one replacement per run whose session wants one (as ClaimRuns, with the
 * same guard for limited workflows). Reports arriving together share the statement
 * (statement-batcher.ts), so a busy tenant pays one round trip and one commit for a
 * batch of "done, next please" instead of two per run.
 *
 * Replacements are claimed from the queue's hint when it has one (queue-hints.ts).
 *
 * A replacement is claimed only for a completion that took effect: a refused one (a
 * wrong lease, or the same completion sent twice) frees no slot, so the session never
 * holds more than it asked for.
 */
import type { Sql } from "../db/database.js";
import { createStatementBatcher } from "../db/statement-batcher.js";
import {
  completeAndClaimAnyHintedStatement,
  completeAndClaimAnyStatement,
  completeAndClaimOnlyHintedStatement,
  completeAndClaimOnlyStatement,
} from "../runs/lifecycle/completion-statements.js";
import { claimVariant, leaseOf, positionOf, type ClaimedRow, type ClaimRequest } from "./claim-runs.js";
import type { LeaseRecord } from "./lease-record.js";
import { completionValues, type Completion, type RunOutcome } from "./lease-writes.js";
import { queueKey, type QueueHints } from "./queue-hints.js";

/** One report: the run finished, and whether its session wants a replacement. */
export interface Report extends Completion {
  /** Claim a replacement with these terms (maxRuns is ignored: one per report). */
  readonly next: ClaimRequest | undefined;
}

/** What a report gets back: the run's new status (undefined: the lease was not current) and the replacement. */
export interface Reported {
  readonly outcome: RunOutcome | undefined;
  readonly lease: LeaseRecord | undefined;
}

type Row = ClaimedRow & { done: { n: number; id: string; status: string }[]; notified: unknown };

type ReportParameters = ReturnType<typeof completionValues> & {
  nextWorkerIds: (string | null)[];
  nextLeaseMs: (number | null)[];
};

const completeAndClaimVariants = {
  any: completeAndClaimAnyStatement,
  only: completeAndClaimOnlyStatement,
  anyHinted: completeAndClaimAnyHintedStatement,
  onlyHinted: completeAndClaimOnlyHintedStatement,
};

async function reportTogether(
  sql: Sql,
  hints: QueueHints,
  tenantId: string,
  workflowIds: readonly string[],
  reports: readonly Report[],
): Promise<Reported[]> {
  const parameters: ReportParameters = {
    ...completionValues(tenantId, reports),
    nextWorkerIds: reports.map((report) => report.next?.workerId ?? null),
    nextLeaseMs: reports.map((report) => report.next?.leaseMs ?? null),
  };
  const queue = queueKey(tenantId, workflowIds);
  const rows = await sql.query<Row>(...claimVariant(completeAndClaimVariants, hints.startOf(queue), workflowIds, parameters));
  hints.claimed(
    queue,
    rows.flatMap((row) => (row.id === null ? [] : [positionOf(row)])),
  );
  const outcomes: (RunOutcome | undefined)[] = reports.map(() => undefined);
  const leases: (LeaseRecord | undefined)[] = reports.map(() => undefined);
  for (const done of rows[0]?.done ?? []) outcomes[Number(done.n) - 1] = { id: done.id, status: done.status };
  // Slot n is the n-th report, in report order, that completed and wanted a replacement.
  const slotOwners = reports.flatMap((report, index) => (outcomes[index] !== undefined && report.next !== undefined ? [index] : []));
  for (const row of rows) {
    if (row.id === null) continue; // nothing claimed: the one row carries only `done`
    const { done: _done, notified: _notified, ...claimed } = row;
    leases[slotOwners[Number(claimed.slot) - 1]!] = leaseOf(claimed as ClaimedRow);
  }
  return reports.map((_, index) => ({ outcome: outcomes[index], lease: leases[index] }));
}

/** Completes runs and claims their replacements; concurrent reports of a tenant share statements. */
export interface ReportCompleter {
  report(tenantId: string, workflowIds: readonly string[], report: Report): Promise<Reported>;
}

/** Reports of one statement at most. */
const maxReportsPerStatement = 64;

/** A ReportCompleter over `sql`, claiming from `hints`. Reports are grouped by tenant and workflow set. */
export function createReportCompleter(sql: Sql, hints: QueueHints): ReportCompleter {
  const batcher = createStatementBatcher<{ tenantId: string; workflowIds: readonly string[] }, Report, Reported>(
    maxReportsPerStatement,
    (group, reports) => reportTogether(sql, hints, group.tenantId, group.workflowIds, reports),
  );
  return {
    report: (tenantId, workflowIds, report) => {
      const sorted = [...workflowIds].sort();
      return batcher.submit(queueKey(tenantId, sorted), { tenantId, workflowIds: sorted }, report);
    },
  };
}
