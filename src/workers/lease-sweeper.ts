/**
 * The lease sweeper: the time-driven status changes. Every replica runs one; each
 * statement takes its rows with `for update skip locked` and guards the status in its
 * WHERE, so sweepers on several replicas split the work and never apply a change twice.
 *
 * - expired leases: back to the queue (attempt + 1 at the next claim, after backoff),
 *   or TIMED_OUT when the attempts are spent; a CANCELLING run becomes CANCELLED;
 * - run deadlines (start + timeout) passed: TIMED_OUT;
 * - CANCELLING longer than the grace period: CANCELLED;
 * - SCHEDULED runs whose time came: QUEUED;
 * - retries whose backoff ended: their tenants' claimers are woken;
 * - expired idempotency keys: deleted.
 */
import type { Sql } from "../db/database.js";
import type { EventHub } from "../events/event-hub.js";
import { notifyExpression } from "../events/notify-channel.js";
import type { Logger } from "../logger.js";
import { retryReadyTimeSql } from "./retry-delay.js";

/** How many rows each statement handles per sweep. */
const batch = 500;

function sweepStatement(pick: string, set: string, eventData: string): string {
  return `
    with x as (${pick} limit ${batch} for update skip locked),
    r as (
      update runs r set ${set},
        lease_id = null, lease_expire_time = null, update_time = now(), last_sequence = r.last_sequence + 1
      from x where r.tenant_id = x.tenant_id and r.id = x.id
      returning r.*
    ), e as (
      insert into run_events (tenant_id, run_id, sequence, type, status, data)
      select tenant_id, id, last_sequence, 'status', status, ${eventData} from r
    )
    select r.tenant_id, r.status, ${notifyExpression("r")} from r`;
}

const backoffReady = retryReadyTimeSql("r.");

// runs_lease_expiry.
const expireLeases = sweepStatement(
  `select tenant_id, id from runs where status in ('RUNNING', 'CANCELLING') and lease_expire_time < now() order by lease_expire_time`,
  `status = case when r.status = 'CANCELLING' then 'CANCELLED' when r.attempt < r.max_attempts then 'QUEUED' else 'TIMED_OUT' end,
   ready_time = case when r.status = 'RUNNING' and r.attempt < r.max_attempts then ${backoffReady} else r.ready_time end,
   end_time = case when r.status = 'RUNNING' and r.attempt < r.max_attempts then null else now() end,
   error = case when r.status = 'RUNNING' and r.attempt >= r.max_attempts
     then jsonb_build_object('message', 'the executor stopped heartbeating and no attempts are left', 'code', 'LEASE_EXPIRED') else r.error end,
   worker_id = null`,
  "jsonb_build_object('reason', 'lease_expired', 'attempt', attempt)",
);

// runs_deadline.
const timeOutRuns = sweepStatement(
  `select tenant_id, id from runs where deadline_time < now() and status in ('QUEUED', 'RUNNING', 'INTERRUPTED', 'CANCELLING') order by deadline_time`,
  `status = 'TIMED_OUT', end_time = now(), worker_id = null,
   error = jsonb_build_object('message', 'the run exceeded its timeout', 'code', 'RUN_TIMEOUT')`,
  "jsonb_build_object('reason', 'timeout')",
);

// runs_cancel_grace: update_time is when the run became CANCELLING.
const endCancelGrace = sweepStatement(
  `select tenant_id, id from runs where status = 'CANCELLING' and update_time < now() - $1::bigint * interval '1 millisecond' order by update_time`,
  `status = 'CANCELLED', end_time = now(), worker_id = null`,
  "jsonb_build_object('reason', 'cancel_grace_period_ended')",
);

// runs_schedule_due.
const startScheduled = sweepStatement(
  `select tenant_id, id from runs where status = 'SCHEDULED' and schedule_time <= now() order by schedule_time`,
  `status = 'QUEUED', ready_time = now()`,
  "null",
);

// runs_ready_due: retries whose backoff ended since the last sweep.
const readySince = `select distinct tenant_id from runs where status = 'QUEUED' and ready_time > $1::timestamptz and ready_time <= now()`;

// idempotency_keys_expiry.
const deleteExpiredKeys = `
  delete from idempotency_keys where (tenant_id, key) in (
    select tenant_id, key from idempotency_keys where expire_time < now() limit 1000 for update skip locked)`;

/** What one sweep changed. */
export interface SweepResult {
  readonly leasesExpired: number;
  readonly timedOut: number;
  readonly cancelled: number;
  readonly scheduledStarted: number;
}

/** Options for startLeaseSweeper. */
export interface LeaseSweeperOptions {
  readonly sql: Sql;
  readonly hub: EventHub;
  readonly logger: Logger;
  /** Time between sweeps (default 1000 ms). */
  readonly intervalMs?: number;
  /** How long a CANCELLING run may take to stop (default 30000 ms). */
  readonly cancelGraceMs?: number;
  /** Called after every sweep (metrics, tests). */
  readonly onSweep?: (result: SweepResult) => void;
}

/** Runs one sweep now. */
export async function sweepOnce(options: LeaseSweeperOptions, readyAfter: Date): Promise<SweepResult> {
  const { sql, hub } = options;
  type Row = { tenant_id: string; status: string };
  const announce = (rows: Row[]) => {
    for (const tenant of new Set(rows.filter((row) => row.status === "QUEUED").map((row) => row.tenant_id))) hub.announceQueued(tenant);
  };
  const expired = await sql.query<Row>(expireLeases);
  const timedOut = await sql.query<Row>(timeOutRuns);
  const cancelled = await sql.query<Row>(endCancelGrace, [options.cancelGraceMs ?? 30_000]);
  const scheduled = await sql.query<Row>(startScheduled);
  announce([...expired, ...scheduled]);
  for (const row of await sql.query<{ tenant_id: string }>(readySince, [readyAfter])) hub.announceQueued(row.tenant_id);
  await sql.query(deleteExpiredKeys);
  return { leasesExpired: expired.length, timedOut: timedOut.length, cancelled: cancelled.length, scheduledStarted: scheduled.length };
}

/** Starts sweeping every `intervalMs`; the returned function stops it. */
export function startLeaseSweeper(options: LeaseSweeperOptions): () => Promise<void> {
  let stopped = false;
  let running: Promise<void> = Promise.resolve();
  let last = new Date();
  let timer: NodeJS.Timeout | undefined;
  const tick = () => {
    const started = new Date(Date.now() - 5);
    running = sweepOnce(options, last)
      .then((result) => {
        last = started;
        options.onSweep?.(result);
      })
      .catch((error: unknown) => options.logger.warn({ err: error }, "lease sweep failed; retrying next interval"))
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, options.intervalMs ?? 1000);
      });
  };
  timer = setTimeout(tick, options.intervalMs ?? 1000);
  return async () => {
    stopped = true;
    clearTimeout(timer);
    await running;
  };
}
