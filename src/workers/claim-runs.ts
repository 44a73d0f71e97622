/**
 * Claiming queued runs under a lease. A claim is one `select … for update skip locked`
 * feeding an `update … returning`: concurrent claimers never wait on each other's rows
 * and never get the same run. Ordered by priority, then readiness (runs_queue /
 * runs_queue_by_workflow partial indexes).
 *
 * Concurrency limits: workflows with a limit are claimed apart, after locking their
 * workflow rows (in id order, so claimers cannot deadlock) and counting their active
 * runs (runs_active_by_workflow): the lock makes count-then-claim atomic. The price is
 * that claimers of a tenant's limited workflows take turns; unlimited ones do not.
 *
 * Claims that arrive together (for one tenant and the same workflows) share one
 * statement (createClaimer): each asked-for run is a slot carrying its claimer's worker
 * id and lease length, so 8 executors waiting on one queue cost one round trip, not 8.
 *
 * Those statements start at the queue's hint (queue-hints.ts) when it has one, so that
 * a claim does not walk the entries of every run claimed since a long transaction
 * pinned the horizon. The concurrency-limit path always scans from the head.
 */
import type { Sql } from "../db/database.js";
import {
  claimAnyHintedStatement,
  claimAnyStatement,
  claimExceptStatement,
  claimOnlyHintedStatement,
  claimOnlyStatement,
  claimOnlyUnguardedStatement,
} from "../runs/lifecycle/claim-statements.js";
import type { NamedStatement } from "../runs/lifecycle/named-statement.js";
import { withoutNotifyColumn } from "../runs/lifecycle/notify-channel.js";
import type { LeaseRecord } from "./lease-record.js";
import { createStatementBatcher } from "../db/statement-batcher.js";
import { queueKey, type QueueHints, type QueuePosition } from "./queue-hints.js";

/** What a claimer asks for (already checked and defaulted). */
export interface ClaimRequest {
  readonly workerId: string;
  /** Workflow ids; empty = any workflow of the tenant. */
  readonly workflowIds: readonly string[];
  readonly maxRuns: number;
  readonly leaseMs: number;
}

// workflows primary key; locks the limited workflows among the requested ones.
const lockLimitedWorkflows = `
  select w.id, w.concurrency_limit
  from workflows w
  where w.tenant_id = $1::uuid and w.concurrency_limit > 0 and (cardinality($2::uuid[]) = 0 or w.id = any($2::uuid[]))
  order by w.id
  for update`;

// runs_active_by_workflow. A statement of its own, after the lock: under READ COMMITTED
// each statement reads a fresh snapshot, so it sees the runs the previous lock holder
// claimed. Counted inside the locking statement, the snapshot would predate the wait
// for the lock and miss them, letting two claimers each fill the whole limit.
const countActiveRuns = `
  select workflow_id as id, count(*)::int as active from runs
  where tenant_id = $1::uuid and workflow_id = any($2::uuid[]) and status in ('RUNNING', 'CANCELLING')
  group by workflow_id`;

// Does the tenant have a limited workflow among those asked for (all when none named)?
const hasLimitedWorkflows = `
  select exists (select 1 from workflows where tenant_id = $1::uuid and concurrency_limit > 0 and (cardinality($2::uuid[]) = 0 or id = any($2::uuid[]))) as limited`;

/** A row of a claim statement (claimedColumns). */
export type ClaimedRow = LeaseRecord & { slot?: unknown; queue_ready_micros?: unknown; pg_notify?: unknown };

/** The lease in a row of a claim statement. */
export function leaseOf(row: ClaimedRow): LeaseRecord {
  const { slot: _slot, queue_ready_micros: _readyMicros, ...rest } = withoutNotifyColumn(row);
  return rest;
}

/** Where the run of a claim statement's row sat in its queue. */
export function positionOf(row: ClaimedRow): QueuePosition {
  return { priority: row.priority, readyMicros: String(row.queue_ready_micros), id: row.id };
}

/** The hint's statement parameters (hintParameters in claim-statements.ts). */
export function hintValues(start: QueuePosition): { hintPriority: number; hintReadyMicros: string; hintId: string } {
  return { hintPriority: start.priority, hintReadyMicros: start.readyMicros, hintId: start.id };
}

/** Slot parameters (worker ids, lease lengths) for claims of `count` runs each. */
function slots(claims: readonly { request: ClaimRequest; count: number }[]): { workerIds: string[]; leaseMs: number[] } {
  const workers: string[] = [];
  const leases: number[] = [];
  for (const { request, count } of claims) {
    for (let index = 0; index < count; index++) {
      workers.push(request.workerId);
      leases.push(request.leaseMs);
    }
  }
  return { workerIds: workers, leaseMs: leases };
}

type HintName = keyof ReturnType<typeof hintValues>;

/** A claiming statement's four variants: from the queue's head or from a hint, for any workflow or only some. */
export interface ClaimVariants<Names extends string> {
  readonly any: NamedStatement<Names>;
  readonly only: NamedStatement<Names | "workflowIds">;
  readonly anyHinted: NamedStatement<Names | HintName>;
  readonly onlyHinted: NamedStatement<Names | HintName | "workflowIds">;
}

/** The variant claiming from `start` (from the head when undefined) for `workflowIds` (any when empty), and its values. */
export function claimVariant<Names extends string>(
  variants: ClaimVariants<Names>,
  start: QueuePosition | undefined,
  workflowIds: readonly string[],
  parameters: Readonly<Record<Names, unknown>>,
): [string, unknown[]] {
  if (start === undefined)
    return workflowIds.length === 0
      ? [variants.any.text, variants.any.values(parameters)]
      : [variants.only.text, variants.only.values({ ...parameters, workflowIds })];
  const hinted = { ...parameters, ...hintValues(start) };
  return workflowIds.length === 0
    ? [variants.anyHinted.text, variants.anyHinted.values(hinted)]
    : [variants.onlyHinted.text, variants.onlyHinted.values({ ...hinted, workflowIds })];
}

const claimVariants = {
  any: claimAnyStatement,
  only: claimOnlyStatement,
  anyHinted: claimAnyHintedStatement,
  onlyHinted: claimOnlyHintedStatement,
};

/**
 * Claims for several requests of one tenant naming the same workflows, in one statement:
 * answers[i] holds request i's leases. When the statement claims nothing because a
 * limited workflow is among those asked for, each request goes through claimLimited.
 */
async function claimTogether(sql: Sql, hints: QueueHints, tenantId: string, requests: readonly ClaimRequest[]): Promise<LeaseRecord[][]> {
  const workflowIds = requests[0]!.workflowIds;
  const queue = queueKey(tenantId, workflowIds);
  const parameters = { tenantId, ...slots(requests.map((request) => ({ request, count: request.maxRuns }))) };
  const rows = await sql.query<ClaimedRow>(...claimVariant(claimVariants, hints.startOf(queue), workflowIds, parameters));
  hints.claimed(queue, rows.map(positionOf));
  const answers = requests.map((): LeaseRecord[] => []);
  if (rows.length === 0) {
    const [probe] = await sql.query<{ limited: boolean }>(hasLimitedWorkflows, [tenantId, workflowIds]);
    if (probe?.limited === true) {
      for (const [index, request] of requests.entries()) answers[index] = await claimLimited(sql, tenantId, request);
    }
    return answers;
  }
  // Slot n (1-based) belongs to the request whose slot range holds it.
  const owner: number[] = requests.flatMap((request, index) => Array<number>(request.maxRuns).fill(index));
  for (const row of rows) answers[owner[Number(row.slot) - 1]!]!.push(leaseOf(row));
  return answers;
}

/** Claims by many callers at once: concurrent claims of a tenant for the same workflows share statements. */
export interface Claimer {
  claim(tenantId: string, request: ClaimRequest): Promise<LeaseRecord[]>;
}

/** Claims of one statement: at most this many slots (each request asks for ≤ 100). */
const maxRequestsPerStatement = 32;

/** A Claimer over `sql`, starting at `hints`; see statement-batcher.ts for how calls are grouped. */
export function createClaimer(sql: Sql, hints: QueueHints): Claimer {
  const batcher = createStatementBatcher<string, ClaimRequest, LeaseRecord[]>(maxRequestsPerStatement, (tenantId, requests) =>
    claimTogether(sql, hints, tenantId, requests),
  );
  return {
    claim: (tenantId, request) => batcher.submit(queueKey(tenantId, request.workflowIds), tenantId, request),
  };
}

/** The limited path: lock the limited workflows, count their active runs, claim within the room left. */
async function claimLimited(sql: Sql, tenantId: string, request: ClaimRequest): Promise<LeaseRecord[]> {
  type Statement = typeof claimOnlyUnguardedStatement | typeof claimExceptStatement;
  const claim = (transaction: Sql, count: number, statement: Statement, workflowIds: readonly string[]) =>
    transaction.query<ClaimedRow>(statement.text, statement.values({ tenantId, ...slots([{ request, count }]), workflowIds }));
  return sql.transaction(async (transaction) => {
    const limited = await transaction.query<{ id: string; concurrency_limit: number }>(lockLimitedWorkflows, [
      tenantId,
      request.workflowIds,
    ]);
    const counts = await transaction.query<{ id: string; active: number }>(countActiveRuns, [
      tenantId,
      limited.map((workflow) => workflow.id),
    ]);
    const active = new Map(counts.map((row) => [row.id, row.active]));
    const claimed: ClaimedRow[] = [];
    for (const workflow of limited) {
      const room = Math.min(workflow.concurrency_limit - (active.get(workflow.id) ?? 0), request.maxRuns - claimed.length);
      if (room > 0) claimed.push(...(await claim(transaction, room, claimOnlyUnguardedStatement, [workflow.id])));
    }
    const left = request.maxRuns - claimed.length;
    const limitedIds = limited.map((workflow) => workflow.id);
    if (left > 0) {
      const others = request.workflowIds.filter((id) => !limitedIds.includes(id));
      if (request.workflowIds.length === 0) claimed.push(...(await claim(transaction, left, claimExceptStatement, limitedIds)));
      else if (others.length > 0) claimed.push(...(await claim(transaction, left, claimOnlyUnguardedStatement, others)));
    }
    return claimed.map(leaseOf);
  });
}
