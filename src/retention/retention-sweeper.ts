/**
 * The retention sweeper. Every replica runs one; a pass runs in one replica at a time,
 * the one that holds a session advisory lock on a connection of its own (any other
 * skips its turn), so two replicas never make or drop the same leaf or race through the
 * same batches. A pass:
 * 1. completes detaches cut short by a pass that died;
 * 2. makes the leaves of run_events two weeks ahead;
 * 3. deletes finished runs past their tenant's retention, in bounded batches
 *    (run-expiry.ts);
 * 4. for each week past the horizon: moves the events of runs that still exist to
 *    run_events_kept, detaches the leaf concurrently and drops it (event-partitions.ts).
 *
 * Time is the database's: every time compared here (end_time, an event's create_time, a
 * leaf's bounds) was written by Postgres's now(), and replicas' clocks differ from it
 * and from each other. Tests move it with an offset (RetentionClock), which this
 * sweeper adds to now(). It moves nothing else: the other statements' now() (and the
 * column defaults bound to it) stay real, which is why a leaf that Postgres still
 * writes into is never dropped, whatever the clock says.
 */
import { openDedicatedSession, type DedicatedSession } from "../db/dedicated-session.js";
import type { Logger } from "../logger.js";
import { dropEventLeaf, dueEventLeaves, ensureEventLeaves, finishPendingDetaches, moveSurvivingEvents } from "./event-partitions.js";
import { deleteExpiredRuns } from "./run-expiry.js";

/** The sweeper's clock: Postgres's now() plus an offset. Only tests set one. */
export interface RetentionClock {
  /** Milliseconds added to the database's now(). */
  offsetMs(): number;
}

/** The database's own time. */
export const databaseClock: RetentionClock = { offsetMs: () => 0 };

/** What a pass did, or why it did nothing. */
export type RetentionPassOutcome =
  | {
      readonly kind: "swept";
      /** The clock's offset the pass ran with. */
      readonly offsetMs: number;
      readonly runsDeleted: number;
      readonly leavesMade: readonly string[];
      readonly leavesDropped: readonly string[];
      /** Events moved to run_events_kept before their leaves were dropped. */
      readonly eventsMoved: number;
    }
  /** Another replica's pass held the lock. */
  | { readonly kind: "skipped" }
  /** The sweeper was stopped during the pass. */
  | { readonly kind: "stopped" }
  | { readonly kind: "failed"; readonly error: unknown };

/** Options for retentionPass and startRetentionSweeper. */
export interface RetentionOptions {
  /** The database, for connections of the sweeper's own. */
  readonly url: string;
  readonly logger: Logger;
  /** Default: the database's time. */
  readonly clock?: RetentionClock;
  /** Time between passes (default 60000 ms). */
  readonly intervalMs?: number;
  /** Runs deleted, or runs whose events are moved, per statement (default 500). */
  readonly batchSize?: number;
  /** Called after every pass (tests, logs). */
  readonly onPass?: (outcome: RetentionPassOutcome) => void;
}

/** The session lock a pass holds (any constant of ours, apart from the migrations'). */
export const passLockKey = 727_016;
/** Leaves are made this far ahead of the clock and of the database's now(), whichever is later. */
const aheadHours = 14 * 24;

/**
 * Makes the leaves that the coming two weeks write into, for a server about to serve
 * (the sweeper's first pass may be an interval away; a server down for weeks finds none).
 */
export async function prepareEventLeaves(url: string): Promise<string[]> {
  const session = await openDedicatedSession(url);
  try {
    const [ahead] = await session.sql.query<{ until: string }>(`select (now() + $1::int * interval '1 hour')::text as until`, [aheadHours]);
    return await ensureEventLeaves(session.sql, ahead!.until);
  } finally {
    await session.close();
  }
}

/** One pass (see the module comment); `signal` stops it between statements. */
export async function retentionPass(options: RetentionOptions, signal?: AbortSignal): Promise<RetentionPassOutcome> {
  let session: DedicatedSession;
  try {
    session = await openDedicatedSession(options.url);
  } catch (error) {
    return { kind: "failed", error };
  }
  // Stopping ends the connection: a statement waiting (a detach waits out old snapshots) fails at once.
  const closeOnStop = () => void session.close();
  signal?.addEventListener("abort", closeOnStop, { once: true });
  try {
    const { sql } = session;
    const [lock] = await sql.query<{ locked: boolean }>(`select pg_try_advisory_lock($1) as locked`, [passLockKey]);
    if (lock?.locked !== true) return { kind: "skipped" };
    const offsetMs = (options.clock ?? databaseClock).offsetMs();
    const [time] = await sql.query<{ clock: string; until: string }>(
      `select (now() + $1::bigint * interval '1 millisecond')::text as clock,
         (greatest(now(), now() + $1::bigint * interval '1 millisecond') + $2::int * interval '1 hour')::text as until`,
      [offsetMs, aheadHours],
    );
    const { clock, until } = time!;
    const leavesDropped = await finishPendingDetaches(sql);
    const leavesMade = await ensureEventLeaves(sql, until);
    const batchSize = options.batchSize ?? 500;
    const runsDeleted = await deleteExpiredRuns(sql, clock, batchSize, () => signal?.aborted === true);
    let eventsMoved = 0;
    for (const leaf of await dueEventLeaves(sql, clock)) {
      if (signal?.aborted === true) break;
      eventsMoved += await moveSurvivingEvents(sql, leaf, batchSize);
      await dropEventLeaf(sql, leaf.name);
      leavesDropped.push(leaf.name);
    }
    return { kind: "swept", offsetMs, runsDeleted, leavesMade, leavesDropped, eventsMoved };
  } catch (error) {
    return signal?.aborted === true ? { kind: "stopped" } : { kind: "failed", error };
  } finally {
    signal?.removeEventListener("abort", closeOnStop);
    // Ending the connection releases the session lock, also after a failure.
    await session.close();
  }
}

function logPass(logger: Logger, outcome: RetentionPassOutcome): void {
  if (outcome.kind === "failed") logger.warn({ err: outcome.error }, "retention pass failed; retrying next interval");
  else if (outcome.kind === "swept" && (outcome.runsDeleted > 0 || outcome.leavesMade.length > 0 || outcome.leavesDropped.length > 0)) {
    const { runsDeleted, leavesMade, leavesDropped, eventsMoved } = outcome;
    logger.info({ runsDeleted, leavesMade, leavesDropped, eventsMoved }, "retention pass");
  }
}

/** Starts a pass every `intervalMs`; the returned function stops the sweeper (ending a pass in flight). */
export function startRetentionSweeper(options: RetentionOptions): () => Promise<void> {
  const stopping = new AbortController();
  let running: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  const intervalMs = options.intervalMs ?? 60_000;
  const tick = () => {
    running = retentionPass(options, stopping.signal).then((outcome) => {
      logPass(options.logger, outcome);
      options.onPass?.(outcome);
      if (!stopping.signal.aborted) timer = setTimeout(tick, intervalMs);
    });
  };
  timer = setTimeout(tick, intervalMs);
  return async () => {
    stopping.abort();
    clearTimeout(timer);
    await running;
  };
}
