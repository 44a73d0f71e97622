/**
 * StreamAssignments: one executor's stream of leases, never more than `maxRuns` of its
 * runs RUNNING at once. How many it holds is counted in memory: leases pushed, minus
 * those its CompleteRun / FailRun / InterruptRun / ReleaseRun on this process finished
 * (`FinishBoard`). Finishing a run wakes its stream at once, so the next claim follows
 * the completion without a poll. What memory cannot see (a finish through another
 * replica, a lease that expired) is corrected from the database whenever the stream has
 * been full for `recountMs`: by looking up the runs it holds by primary key. Only the
 * stream's first count reads every active run of its worker id (runs it holds from an
 * earlier session count against it); runs claimed under the same worker id elsewhere
 * after that are not counted. The tenant's active runs are not read again because their
 * index (runs_active_by_workflow) keeps an entry for every run that was active since
 * the oldest snapshot: while a long transaction holds the horizon, reading it grew from
 * 0.1 to 5 ms a recount (bench/RESULTS.md, "held-vacuum").
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
// runs primary key: which of the runs the stream holds are still its worker's and active.
// The checks stay outside the lookup (`offset 0`): inside, the planner may prefer
// runs_active_by_workflow, whose predicate they match (as completion-statements.ts found).
const stillActive = `
  select h.id from (select id, worker_id, status from runs where tenant_id = $1::uuid and id = any($2::uuid[]) offset 0) h
  where h.worker_id = $3::text and h.status in ('RUNNING', 'CANCELLING')`;

/** How long a full stream trusts its in-memory count before asking the database. */
const recountMs = 1000;
/** How long one claim attempt waits for a queued run before looking at its room again. */
const claimWaitMs = 1000;

/**
 * One executor's assignments: `leases()` yields batches of leases for
 * `request.workerId` until `signal` aborts; `swap` lets the Work session account for a
 * run it finished and the replacement it claimed in the same statement.
 */
export class Assignments {
  private readonly held = new Set<string>();
  /** Held runs whose completion (and replacement claim) is in flight (beginCompletion). */
  private readonly completing = new Set<string>();
  private wake: (() => void) | undefined;
  /** While a recount reads the database: what changed meanwhile, applied after it. */
  private changedDuringRecount: { added: Set<string>; removed: Set<string> } | undefined;
  private readonly onFinish = (runId: string) => {
    this.forget(runId);
    this.wake?.();
  };

  constructor(
    private readonly deps: AssignmentDeps,
    private readonly tenantId: string,
    readonly request: ClaimRequest,
    private readonly signal: AbortSignal,
  ) {}

  /**
   * Whether `runId` is one of this executor's unfinished runs, as far as memory knows;
   * if so, it stays counted until `swap` or `endCompletion`, whatever a recount finds: its
   * completion may have claimed a replacement that memory does not hold yet.
   */
  beginCompletion(runId: string): boolean {
    if (!this.held.has(runId)) return false;
    this.completing.add(runId);
    return true;
  }

  /** The completion begun for `runId` ended without a swap (refused, or failed). */
  endCompletion(runId: string): void {
    this.completing.delete(runId);
  }

  /** `finished` ended; `replacement` (if any) was claimed for its slot. Wakes the loop when the slot is free. */
  swap(finished: string, replacement: LeaseRecord | undefined): void {
    this.completing.delete(finished);
    this.forget(finished);
    if (replacement !== undefined) this.remember([replacement.id]);
    else this.wake?.();
  }

  private remember(runIds: readonly string[]): void {
    for (const runId of runIds) {
      this.held.add(runId);
      this.changedDuringRecount?.added.add(runId);
    }
    this.deps.board.hold(runIds, this.onFinish);
  }

  private forget(runId: string): void {
    this.held.delete(runId);
    this.changedDuringRecount?.removed.add(runId);
    this.deps.board.drop([runId]);
  }

  /** Replaces the in-memory count by the database's: every active run of the worker when `all`, else those held. */
  private async recount(all: boolean): Promise<void> {
    const changed = { added: new Set<string>(), removed: new Set<string>() };
    this.changedDuringRecount = changed;
    try {
      const { tenantId, request } = this;
      const rows = all
        ? await this.deps.sql.query<{ id: string }>(activeOfWorker, [tenantId, request.workerId])
        : await this.deps.sql.query<{ id: string }>(stillActive, [tenantId, [...this.held], request.workerId]);
      this.deps.board.drop(this.held);
      this.held.clear();
      for (const row of rows) if (!changed.removed.has(row.id)) this.held.add(row.id);
      for (const runId of changed.added) this.held.add(runId);
      for (const runId of this.completing) if (!changed.removed.has(runId)) this.held.add(runId);
      this.deps.board.hold([...this.held], this.onFinish);
    } finally {
      this.changedDuringRecount = undefined;
    }
  }

  /** Waits until a held run finishes (true) or `recountMs` passes (false). */
  private async slotFreed(): Promise<boolean> {
    const freed = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), recountMs);
      this.wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
    this.wake = undefined;
    return freed;
  }

  async *leases(): AsyncGenerator<LeaseRecord[]> {
    const { deps, tenantId, request, signal } = this;
    const abortListener = () => this.wake?.();
    signal.addEventListener("abort", abortListener, { once: true });
    try {
      await this.recount(true);
      while (!signal.aborted) {
        const room = request.maxRuns - this.held.size;
        if (room <= 0) {
          if (!(await this.slotFreed()) && !signal.aborted) await this.recount(false);
          continue;
        }
        const leases = await claimWithWait(deps.claimer, deps.hub, tenantId, { ...request, maxRuns: room }, claimWaitMs, signal);
        if (leases.length === 0) continue;
        if (signal.aborted) {
          await Promise.all(leases.map((lease) => deps.release(tenantId, lease)));
          return;
        }
        this.remember(leases.map((lease) => lease.id));
        yield leases;
      }
    } finally {
      signal.removeEventListener("abort", abortListener);
      deps.board.drop(this.held);
    }
  }
}

/** Yields batches of leases for `request.workerId` until `signal` aborts (StreamAssignments). */
export function assignments(
  deps: AssignmentDeps,
  tenantId: string,
  request: ClaimRequest,
  signal: AbortSignal,
): AsyncGenerator<LeaseRecord[]> {
  return new Assignments(deps, tenantId, request, signal).leases();
}
