/**
 * A run's output (GetRunOutput, RunAndWait): its final result, current interrupt or
 * error, always with its status and whether it is settled, optionally waiting for it to
 * settle. Waiting wakes on the run's events (every status change is one), not on a timer.
 */
import type { Sql } from "../db/database.js";
import type { RunRecord } from "./run-record.js";
import { getRun } from "./run-queries.js";
import { isSettled } from "./run-status.js";

/**
 * What waiting needs of the event hub (events/event-hub.ts satisfies it): a wake-up per
 * change of one run. Declared here so that runs/ never imports events/.
 */
export interface RunWakeups {
  subscribe(tenantId: string, runId: string): { wait(signal: AbortSignal): Promise<void>; close(): void };
}

/** Reads the run, waiting up to `waitMs` (0 = not at all) while it is not settled. */
export async function waitForSettledRun(
  sql: Sql,
  hub: RunWakeups,
  tenantId: string,
  runId: string,
  waitMs: number,
  signal: AbortSignal,
): Promise<RunRecord> {
  const first = await getRun(sql, tenantId, runId);
  if (waitMs <= 0 || isSettled(first.status)) return first;
  // The stored id, not the caller's spelling: the hub matches ids as strings.
  const subscription = hub.subscribe(tenantId, first.id);
  const deadline = AbortSignal.any([signal, AbortSignal.timeout(waitMs)]);
  try {
    let run = await getRun(sql, tenantId, runId);
    while (!isSettled(run.status) && !deadline.aborted) {
      await subscription.wait(deadline);
      run = await getRun(sql, tenantId, runId);
    }
    return run;
  } finally {
    subscription.close();
  }
}
