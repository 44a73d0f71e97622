/**
 * The retention sweeper's clock, moved by a test, and its passes as the test sees them:
 * a test moves the clock, then waits for a pass that ran with the new offset (a pass
 * that began before the move does not count).
 */
import type { RetentionClock, RetentionPassOutcome } from "../../src/retention/retention-sweeper.js";
import type { ServerOptions } from "../../src/server.js";

/** One day in milliseconds. */
export const dayMs = 86_400_000;

/** A clock and the passes of the sweepers that use it. */
export interface RetentionDriver {
  readonly clock: RetentionClock;
  /** Options for startTestServer: this clock, this recorder, and `batchSize` runs per statement. */
  serverOptions(batchSize?: number): ServerOptions;
  /** Moves the clock `days` ahead of the database's time (from now(), not from the last move). */
  setDaysAhead(days: number): void;
  /** Every pass outcome so far, of every server using this driver. */
  outcomes(): readonly RetentionPassOutcome[];
  /**
   * Resolves with the first swept pass that read the clock after this call; rejects on a
   * failed pass, or after `timeoutMs`. (Each call moves the clock 1 ms further, so the
   * offset a pass ran with tells whether it read the clock before or after the call.)
   */
  nextPass(timeoutMs?: number): Promise<Extract<RetentionPassOutcome, { kind: "swept" }>>;
}

/** A driver whose clock starts at the database's time. */
export function retentionDriver(): RetentionDriver {
  let offsetMs = 0;
  let calls = 0;
  const outcomes: RetentionPassOutcome[] = [];
  const waiters = new Set<(outcome: RetentionPassOutcome) => void>();
  const clock: RetentionClock = { offsetMs: () => offsetMs };
  const onPass = (outcome: RetentionPassOutcome) => {
    outcomes.push(outcome);
    for (const waiter of [...waiters]) waiter(outcome);
  };
  return {
    clock,
    serverOptions: (batchSize) => ({ retention: { clock, onPass, ...(batchSize === undefined ? {} : { batchSize }) } }),
    setDaysAhead: (days) => (offsetMs = days * dayMs + calls),
    outcomes: () => outcomes,
    nextPass: (timeoutMs = 30_000) =>
      new Promise((resolve, reject) => {
        calls++;
        offsetMs++;
        const wanted = offsetMs;
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`no retention pass with offset ${wanted} ms within ${timeoutMs} ms`));
        }, timeoutMs);
        const waiter = (outcome: RetentionPassOutcome) => {
          if (outcome.kind === "failed") {
            clearTimeout(timer);
            waiters.delete(waiter);
            reject(outcome.error instanceof Error ? outcome.error : new Error(String(outcome.error)));
            return;
          }
          if (outcome.kind !== "swept" || outcome.offsetMs !== wanted) return;
          clearTimeout(timer);
          waiters.delete(waiter);
          resolve(outcome);
        };
        waiters.add(waiter);
      }),
  };
}
