/**
 * The load driver both sides of the bench share, so a difference in the numbers comes
 * from the code under test and never from how it was driven: N callers each run one
 * operation after another for a warm-up, then for a measured window; only operations
 * that start inside the window count, and the window ends when the last of them ends.
 */

/** One operation of a scenario; resolves to the units it did (1 run, 100 events …). */
export type Operation = (caller: number) => Promise<number>;

/** How a scenario is driven. */
export interface LoadOptions {
  /** Concurrent callers, each with at most one operation in flight. */
  readonly callers: number;
  /** Time before the window: connections, JIT and caches settle; nothing is counted. */
  readonly warmupMs: number;
  /** The measured window. */
  readonly durationMs: number;
  /** Per caller; bounds the loop even if operations are far faster than expected. */
  readonly maxOperationsPerCaller: number;
  /** Failures after which the scenario stops: a dead server must not be hammered. */
  readonly maxErrors: number;
}

/** What a scenario measured. */
export interface LoadResult {
  /** Units per second over the window (runs/s, events/s). */
  readonly unitsPerSecond: number;
  /** Operations counted. */
  readonly operations: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Failed operations (counted in neither rate nor latency); the first is kept. */
  readonly errors: number;
  readonly firstError: unknown;
}

interface Tally {
  units: number;
  errors: number;
  firstError: unknown;
  lastEnd: number;
  readonly latencies: number[];
}

/** The value below which `fraction` of the sorted samples lie (nearest rank). */
function percentile(sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil(fraction * sorted.length));
  return sorted[rank - 1]!;
}

async function runCaller(
  caller: number,
  operation: Operation,
  options: LoadOptions,
  windowStart: number,
  windowEnd: number,
  tally: Tally,
): Promise<void> {
  for (let count = 0; count < options.maxOperationsPerCaller; count++) {
    const started = performance.now();
    if (started >= windowEnd || tally.errors >= options.maxErrors) return;
    let units: number;
    try {
      units = await operation(caller);
    } catch (error) {
      tally.errors++;
      tally.firstError ??= error;
      continue;
    }
    const ended = performance.now();
    if (started < windowStart) continue;
    tally.units += units;
    tally.latencies.push(ended - started);
    tally.lastEnd = Math.max(tally.lastEnd, ended);
  }
}

/** Drives `operation` as `options` says and summarises the window. */
export async function runLoad(operation: Operation, options: LoadOptions): Promise<LoadResult> {
  const windowStart = performance.now() + options.warmupMs;
  const windowEnd = windowStart + options.durationMs;
  const tally: Tally = { units: 0, errors: 0, firstError: undefined, lastEnd: windowStart, latencies: [] };
  const callers = Array.from({ length: options.callers }, (_, caller) =>
    runCaller(caller, operation, options, windowStart, windowEnd, tally),
  );
  await Promise.all(callers);
  const sorted = tally.latencies.sort((a, b) => a - b);
  const seconds = (tally.lastEnd - windowStart) / 1000;
  return {
    unitsPerSecond: seconds > 0 ? tally.units / seconds : 0,
    operations: sorted.length,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    errors: tally.errors,
    firstError: tally.firstError,
  };
}
