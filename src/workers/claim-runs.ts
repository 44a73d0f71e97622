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
 */
import type { Sql } from "../db/database.js";
import { notifyExpression, withoutNotifyColumn } from "../events/notify-channel.js";
import { runColumns } from "../runs/run-record.js";
import type { LeaseRecord } from "./lease-record.js";

/** What a claimer asks for (already checked and defaulted). */
export interface ClaimRequest {
  readonly workerId: string;
  /** Workflow ids; empty = any workflow of the tenant. */
  readonly workflowIds: readonly string[];
  readonly maxRuns: number;
  readonly leaseMs: number;
}

function claimStatement(filter: "any" | "only" | "except"): string {
  const workflowCondition = { any: "", only: "and r.workflow_id = any($5::uuid[])", except: "and r.workflow_id <> all($5::uuid[])" }[filter];
  return `
    with c as (
      select r.tenant_id, r.id from runs r
      where r.tenant_id = $1::uuid and r.status = 'QUEUED' and r.ready_time <= now() ${workflowCondition}
      order by r.priority desc, r.ready_time, r.id
      limit $2::int
      for update skip locked
    ), r as (
      update runs r set
        status = 'RUNNING', attempt = r.attempt + 1, lease_id = gen_random_uuid(),
        lease_duration_ms = $3::bigint, lease_expire_time = now() + $3::bigint * interval '1 millisecond',
        worker_id = $4::text, start_time = coalesce(r.start_time, now()),
        deadline_time = coalesce(r.deadline_time, now() + r.timeout_ms * interval '1 millisecond'),
        cancel_requested = false, update_time = now(), last_sequence = r.last_sequence + 1
      from c where r.tenant_id = c.tenant_id and r.id = c.id
      returning r.*
    ), e as (
      insert into run_events (tenant_id, run_id, sequence, type, status, data)
      select tenant_id, id, last_sequence, 'status', 'RUNNING', jsonb_build_object('attempt', attempt, 'workerId', worker_id) from r
    )
    select ${runColumns}, r.lease_id, r.lease_expire_time, r.resume_input, ${notifyExpression("r")}
    from r`;
}

const claimAny = claimStatement("any");
const claimOnly = claimStatement("only");
const claimExcept = claimStatement("except");

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

// Cheap probe: does the tenant have any limited workflow? Avoids the lock otherwise.
const hasLimitedWorkflows = `select exists (select 1 from workflows where tenant_id = $1::uuid and concurrency_limit > 0) as limited`;

/** Claims up to `request.maxRuns` runs; returns at once (no waiting). */
export async function claimRuns(sql: Sql, tenantId: string, request: ClaimRequest): Promise<LeaseRecord[]> {
  const base = (limit: number) => [tenantId, limit, request.leaseMs, request.workerId];
  const [probe] = await sql.query<{ limited: boolean }>(hasLimitedWorkflows, [tenantId]);
  if (probe?.limited !== true) {
    const rows = request.workflowIds.length === 0
      ? await sql.query<LeaseRecord>(claimAny, base(request.maxRuns))
      : await sql.query<LeaseRecord>(claimOnly, [...base(request.maxRuns), request.workflowIds]);
    return rows.map(withoutNotifyColumn);
  }
  return sql.transaction(async (transaction) => {
    const limited = await transaction.query<{ id: string; concurrency_limit: number }>(lockLimitedWorkflows, [tenantId, request.workflowIds]);
    const counts = await transaction.query<{ id: string; active: number }>(countActiveRuns, [tenantId, limited.map((workflow) => workflow.id)]);
    const active = new Map(counts.map((row) => [row.id, row.active]));
    const claimed: LeaseRecord[] = [];
    for (const workflow of limited) {
      const room = Math.min(workflow.concurrency_limit - (active.get(workflow.id) ?? 0), request.maxRuns - claimed.length);
      if (room > 0) claimed.push(...(await transaction.query<LeaseRecord>(claimOnly, [...base(room), [workflow.id]])));
    }
    const left = request.maxRuns - claimed.length;
    const limitedIds = limited.map((workflow) => workflow.id);
    if (left > 0) {
      const others = request.workflowIds.filter((id) => !limitedIds.includes(id));
      if (request.workflowIds.length === 0) claimed.push(...(await transaction.query<LeaseRecord>(claimExcept, [...base(left), limitedIds])));
      else if (others.length > 0) claimed.push(...(await transaction.query<LeaseRecord>(claimOnly, [...base(left), others])));
    }
    return claimed.map(withoutNotifyColumn);
  });
}
