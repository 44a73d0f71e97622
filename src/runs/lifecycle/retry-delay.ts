/**
 * When an attempt that failed (FailRun, retryable) or lost its lease may run again:
 * the run's backoff doubled per attempt, backoff × 2^(attempt−1), at most 24 h.
 *
 * Without the cap the delay leaves Postgres' interval range at attempt 45 with the
 * default 1 s backoff ("interval out of range", and `max_attempts` allows 100): FailRun
 * failed for that run, and so did the sweeper's one statement that expires every
 * tenant's leases, so one run could stop every retry on the server. The exponent is
 * capped too, so that no backoff makes `power` itself overflow.
 */

/** The longest wait between two attempts of a run. */
export const maxRetryDelayMs = 86_400_000;

/** SQL for the ready time of a retry; `alias` qualifies the runs columns (`r.` or ""). */
export function retryReadyTimeSql(alias: string): string {
  return `now() + least(${alias}backoff_ms * power(2, least(${alias}attempt - 1, 60)), ${maxRetryDelayMs}) * interval '1 millisecond'`;
}
