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
 */
import type { Sql } from "../db/database.js";
import { notifyExpression, withoutNotifyColumn } from "../events/notify-channel.js";
import { runColumns } from "../runs/run-record.js";
import type { LeaseRecord } from "./lease-record.js";
import { createStatementBatcher } from "../db/statement-batcher.js";
import { maxDurationMs } from "../proto-ranges.js";

/**
 * Timeouts past protobuf's largest Duration (10,000 years) count as that much when the
 * claim sets the deadline. A larger stored value (written before CreateRun bounded it)
 * would overflow the interval and fail the whole claim statement, for every claimer of
 * the queue, every time; clamped, the run is claimed and then failed as undeliverable
 * (api/lease-delivery.ts).
 */
const maxTimeoutMs = maxDurationMs;

/** What a claimer asks for (already checked and defaulted). */
export interface ClaimRequest {
  readonly workerId: string;
  /** Workflow ids; empty = any workflow of the tenant. */
  readonly workflowIds: readonly string[];
  readonly maxRuns: number;
  readonly leaseMs: number;
}

/** Where a claim statement finds its slots and workflow parameters. */
interface ClaimParameters {
  /** The `slot` CTE's body: rows (n = 1, 2 …, worker_id, lease_ms), one per run asked for. */
  readonly slots: string;
  /** uuid[]: the workflow ids, for the "only" and "except" filters. */
  readonly workflows: string;
}

/** Slots from two parameters: text[] of worker ids and bigint[] of lease lengths. */
export const slotsFrom = (workers: string, leases: string) =>
  `select s.n, s.worker_id, s.lease_ms from unnest(${workers}::text[], ${leases}::bigint[]) with ordinality as s(worker_id, lease_ms, n)`;

/**
 * The claim, as CTEs `slot`, `c0`, `c`, `r` (the claimed runs, with their `slot`) and `e`
 * (their status events); `$1` is the tenant. Claims one run per slot, so claims of
 * several executors (see createClaimer) are one statement: slot n gets the n-th run in
 * queue order. It claims nothing while a limited workflow is among those asked for (that
 * guard is evaluated once): those go through claimLimited.
 */
export function claimCtes(filter: "any" | "only" | "except", guarded: boolean, p: ClaimParameters = { slots: slotsFrom("$2", "$3"), workflows: "$4" }): string {
  const workflowCondition = { any: "", only: `and r.workflow_id = any(${p.workflows}::uuid[])`, except: `and r.workflow_id <> all(${p.workflows}::uuid[])` }[filter];
  const limitedCondition = filter === "only" ? `and w.id = any(${p.workflows}::uuid[])` : "";
  const guard = guarded ? `and not exists (select 1 from workflows w where w.tenant_id = $1::uuid and w.concurrency_limit > 0 ${limitedCondition})` : "";
  return `
    slot as (${p.slots}), c0 as (
      select r.tenant_id, r.id, r.priority, r.ready_time from runs r
      where r.tenant_id = $1::uuid and r.status = 'QUEUED' and r.ready_time <= now() ${workflowCondition}
        ${guard}
      order by r.priority desc, r.ready_time, r.id
      limit (select count(*) from slot)
      for update skip locked
    ), c as (
      select c0.tenant_id, c0.id, row_number() over (order by c0.priority desc, c0.ready_time, c0.id) as n from c0
    ), r as (
      update runs r set
        status = 'RUNNING', attempt = r.attempt + 1, lease_id = gen_random_uuid(),
        lease_duration_ms = slot.lease_ms, lease_expire_time = now() + slot.lease_ms * interval '1 millisecond',
        worker_id = slot.worker_id, start_time = coalesce(r.start_time, now()),
        deadline_time = coalesce(r.deadline_time, now() + least(r.timeout_ms, ${maxTimeoutMs}) * interval '1 millisecond'),
        cancel_requested = false, update_time = now(), last_sequence = r.last_sequence + 1
      from c join slot on slot.n = c.n
      where r.tenant_id = c.tenant_id and r.id = c.id
      returning r.*, c.n as slot
    ), e as (
      insert into run_events (tenant_id, run_id, sequence, type, status, data)
      select tenant_id, id, last_sequence, 'status', 'RUNNING', jsonb_build_object('attempt', attempt, 'workerId', worker_id) from r
    )`;
}

/** What a claim returns per run: the lease columns, its slot, and the NOTIFY. */
export const claimedColumns = `${runColumns}, r.lease_id, r.lease_expire_time, r.resume_input, r.slot, ${notifyExpression("r")}`;

function claimStatement(filter: "any" | "only" | "except", guarded: boolean): string {
  return `with ${claimCtes(filter, guarded)} select ${claimedColumns} from r`;
}

const claimAny = claimStatement("any", true);
const claimOnly = claimStatement("only", true);
// Inside claimLimited, which holds the limited workflows' locks: no guard.
const claimOnlyUnguarded = claimStatement("only", false);
const claimExcept = claimStatement("except", false);

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

/** A row of claimedColumns. */
export type ClaimedRow = LeaseRecord & { slot?: unknown; pg_notify?: unknown };

/** The lease in a row of claimedColumns. */
export function leaseOf(row: ClaimedRow): LeaseRecord {
  const { slot: _slot, ...rest } = withoutNotifyColumn(row);
  return rest;
}

/** Slot parameters (worker ids, lease lengths) for claims of `count` runs each. */
export function slots(claims: readonly { request: ClaimRequest; count: number }[]): [string[], number[]] {
  const workers: string[] = [];
  const leases: number[] = [];
  for (const { request, count } of claims) {
    for (let index = 0; index < count; index++) {
      workers.push(request.workerId);
      leases.push(request.leaseMs);
    }
  }
  return [workers, leases];
}

/**
 * Claims for several requests of one tenant naming the same workflows, in one statement:
 * answers[i] holds request i's leases. When the statement claims nothing because a
 * limited workflow is among those asked for, each request goes through claimLimited.
 */
async function claimTogether(sql: Sql, tenantId: string, requests: readonly ClaimRequest[]): Promise<LeaseRecord[][]> {
  const workflowIds = requests[0]!.workflowIds;
  const parameters = [tenantId, ...slots(requests.map((request) => ({ request, count: request.maxRuns })))];
  const rows = workflowIds.length === 0
    ? await sql.query<ClaimedRow>(claimAny, parameters)
    : await sql.query<ClaimedRow>(claimOnly, [...parameters, workflowIds]);
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

/** A Claimer over `sql`; see statement-batcher.ts for how calls are grouped. */
export function createClaimer(sql: Sql): Claimer {
  const batcher = createStatementBatcher<{ tenantId: string; request: ClaimRequest }, LeaseRecord[]>(maxRequestsPerStatement, (_key, items) =>
    claimTogether(sql, items[0]!.tenantId, items.map((item) => item.request)));
  return {
    claim: (tenantId, request) => batcher.submit(`${tenantId}/${[...request.workflowIds].sort().join(",")}`, { tenantId, request }),
  };
}

/** The limited path: lock the limited workflows, count their active runs, claim within the room left. */
async function claimLimited(sql: Sql, tenantId: string, request: ClaimRequest): Promise<LeaseRecord[]> {
  const claim = (transaction: Sql, count: number, filter: string, ids: readonly string[]) =>
    transaction.query<ClaimedRow>(filter, [tenantId, ...slots([{ request, count }]), ids]);
  return sql.transaction(async (transaction) => {
    const limited = await transaction.query<{ id: string; concurrency_limit: number }>(lockLimitedWorkflows, [tenantId, request.workflowIds]);
    const counts = await transaction.query<{ id: string; active: number }>(countActiveRuns, [tenantId, limited.map((workflow) => workflow.id)]);
    const active = new Map(counts.map((row) => [row.id, row.active]));
    const claimed: ClaimedRow[] = [];
    for (const workflow of limited) {
      const room = Math.min(workflow.concurrency_limit - (active.get(workflow.id) ?? 0), request.maxRuns - claimed.length);
      if (room > 0) claimed.push(...(await claim(transaction, room, claimOnlyUnguarded, [workflow.id])));
    }
    const left = request.maxRuns - claimed.length;
    const limitedIds = limited.map((workflow) => workflow.id);
    if (left > 0) {
      const others = request.workflowIds.filter((id) => !limitedIds.includes(id));
      if (request.workflowIds.length === 0) claimed.push(...(await claim(transaction, left, claimExcept, limitedIds)));
      else if (others.length > 0) claimed.push(...(await claim(transaction, left, claimOnlyUnguarded, others)));
    }
    return claimed.map(leaseOf);
  });
}
