/**
 * Timing a drain, the same way for every executor in the `executors` group: the clock
 * starts when the tally is made (just before the executors start) and stops once the
 * completion that reaches the target is in the database; a drain that stalls ends as a
 * failure.
 */

/** A drain that takes longer has stalled: stop and report it. */
const drainTimeoutMs = 180_000;

/** A drain's outcome: time from the first executor starting to the last run completed. */
export interface Drain {
  readonly elapsedMs: number;
  /** Until the first job was done: the executors' start-up (connections, checks). */
  readonly firstMs: number;
  readonly completed: number;
  /** Failed calls the executors survived (or the one that ended the drain). */
  readonly errors: number;
  readonly firstError: unknown;
}

/**
 * A finished drain whose executors are still up: the CPU counters are read before they
 * stop, as a Postgres backend that has ended takes its CPU time with it.
 */
export interface Drained {
  readonly drain: Drain;
  /** Stops the executors (their pools, connections and long polls). */
  stop(): Promise<void>;
}

/** Counts completions and failures, and resolves `done` at the `target`-th completion. */
export function createTally(target: number) {
  let resolveDone: (reached: boolean) => void = () => {};
  const tally = {
    startedAt: performance.now(),
    firstAt: Number.NaN,
    completed: 0,
    errors: 0,
    firstError: undefined as unknown,
    done: new Promise<boolean>((resolve) => (resolveDone = resolve)),
    complete() {
      if (++tally.completed === 1) tally.firstAt = performance.now();
      if (tally.completed === target) resolveDone(true);
    },
    fail(error: unknown) {
      tally.errors++;
      tally.firstError ??= error;
    },
    /** Ends the wait early: the executors stopped before the last completion. */
    abandon() {
      resolveDone(false);
    },
  };
  return tally;
}

/** What createTally returns: the counters and the promise of the last completion. */
export type Tally = ReturnType<typeof createTally>;

/**
 * Waits for the last completion and then for `settle` (what is reported as completed
 * but not yet written), and stops the clock; after `drainTimeoutMs`, or when abandoned,
 * a failure with NaN as the time.
 */
export async function finish(tally: Tally, target: number, settle: () => Promise<void> = async () => {}): Promise<Drain> {
  const timer = setTimeout(() => tally.abandon(), drainTimeoutMs);
  const reached = await tally.done;
  clearTimeout(timer);
  if (reached) await settle();
  else tally.fail(new Error(`only ${tally.completed} of ${target} jobs completed`));
  const elapsedMs = reached ? performance.now() - tally.startedAt : Number.NaN;
  return {
    elapsedMs,
    firstMs: tally.firstAt - tally.startedAt,
    completed: tally.completed,
    errors: tally.errors,
    firstError: tally.firstError,
  };
}
