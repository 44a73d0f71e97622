/**
 * StreamAssignments: one executor's stream of leases, never more than `maxRuns` of its
 * runs RUNNING at once. How many it holds is counted in memory: leases pushed, minus
 * those its CompleteRun / FailRun / InterruptRun / ReleaseRun on this process finished
 * (`FinishBoard`). Finishing a run wakes its stream at once, so the next claim follows
 * the completion without a poll. What memory cannot see (a finish through another
 * replica, a lease that expired) is corrected from the database whenever the stream has
 * been full for `recountMs`.
 *
 * Leases claimed after the executor went away are handed back (ReleaseRun's statement),
 * so a closed stream never strands a run until its lease expires.
 */
import type { Sql } from "../db/database.js";
import type { EventHub } from "../events/event-hub.js";
import type { Claimer, ClaimRequest } from "./claim-runs.js";
import { claimWithWait } from "./claim-wait.js";
import type { LeaseRecord } from "./lease-record.js";

/** Wakes the stream that holds a run when a worker write finishes it on this process. */
export interface FinishBoard {
  /** Tracks `runIds` for a stream; `onFinish` is called when one of them finishes. */
  hold(runIds: readonly string[], onFinish: (runId: string) => void): void;
  /** Forgets the runs (a recount or the stream's end). */
  drop(runIds: Iterable<string>): void;
  /** Called after CompleteRun, FailRun, InterruptRun or ReleaseRun took effect. */
  finished(runId: string): void;
}

/** An in-memory FinishBoard for one process. */
export function createFinishBoard(): FinishBoard {
  const holders = new Map<string, (runId: string) => void>();
  return {
    hold(runIds, onFinish) {
      for (const runId of runIds) holders.set(runId, onFinish);
    },
    drop(runIds) {
      for (const runId of runIds) holders.delete(runId);
    },
    finished(runId) {
      const onFinish = holders.get(runId);
      if (onFinish === undefined) return;
      holders.delete(runId);
      onFinish(runId);
    },
  };
}

/** What the stream needs from the server. */
export interface AssignmentDeps {
  readonly sql: Sql;
  readonly hub: EventHub;
  readonly claimer: Claimer;
  readonly board: FinishBoard;
  /** Hands a lease back (the executor never saw it). */
  readonly release: (tenantId: string, lease: LeaseRecord) => Promise<void>;
}

// runs_active_by_workflow does not cover worker_id; one executor's active runs are few.
const activeOfWorker = `select id from runs where tenant_id = $1::uuid and worker_id = $2::text and status in ('RUNNING', 'CANCELLING')`;

/** How long a full stream trusts its in-memory count before asking the database. */
const recountMs = 1000;
/** How long one claim attempt waits for a queued run before looking at its room again. */
const claimWaitMs = 1000;

/** Yields batches of leases for `request.workerId` until `signal` aborts. */
export async function* assignments(deps: AssignmentDeps, tenantId: string, request: ClaimRequest, signal: AbortSignal): AsyncGenerator<LeaseRecord[]> {
  const held = new Set<string>();
  let wake: (() => void) | undefined;
  const onFinish = (runId: string) => {
    held.delete(runId);
    wake?.();
  };
  const recount = async () => {
    const rows = await deps.sql.query<{ id: string }>(activeOfWorker, [tenantId, request.workerId]);
    deps.board.drop(held);
    held.clear();
    for (const row of rows) held.add(row.id);
    deps.board.hold([...held], onFinish);
  };
  const abortListener = () => wake?.();
  signal.addEventListener("abort", abortListener, { once: true });
  try {
    await recount();
    while (!signal.aborted) {
      const room = request.maxRuns - held.size;
      if (room <= 0) {
        const finished = new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), recountMs);
          wake = () => {
            clearTimeout(timer);
            resolve(true);
          };
        });
        const woken = await finished;
        wake = undefined;
        if (!woken && !signal.aborted) await recount();
        continue;
      }
      const leases = await claimWithWait(deps.claimer, deps.hub, tenantId, { ...request, maxRuns: room }, claimWaitMs, signal);
      if (leases.length === 0) continue;
      if (signal.aborted) {
        await Promise.all(leases.map((lease) => deps.release(tenantId, lease)));
        return;
      }
      for (const lease of leases) held.add(lease.id);
      deps.board.hold(leases.map((lease) => lease.id), onFinish);
      yield leases;
    }
  } finally {
    signal.removeEventListener("abort", abortListener);
    deps.board.drop(held);
  }
}
