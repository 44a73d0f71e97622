/**
 * The lease sweeper: the time-driven status changes, whose statements are the
 * transition table's (runs/lifecycle/sweep-statements.ts). Every replica runs one; each
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
import type { Logger } from "../logger.js";
import {
  endCancelGraceStatement,
  expireLeasesStatement,
  startScheduledStatement,
  timeOutRunsStatement,
} from "../runs/lifecycle/sweep-statements.js";

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
  const expired = await sql.query<Row>(expireLeasesStatement.text);
  const timedOut = await sql.query<Row>(timeOutRunsStatement.text);
  const cancelled = await sql.query<Row>(
    endCancelGraceStatement.text,
    endCancelGraceStatement.values({ cancelGraceMs: options.cancelGraceMs ?? 30_000 }),
  );
  const scheduled = await sql.query<Row>(startScheduledStatement.text);
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
