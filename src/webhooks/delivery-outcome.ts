/**
 * What one attempt's result makes of a delivery (API.md, "Webhooks"): 2xx succeeds;
 * a network error, a timeout, 408, 429 or 5xx is retried after the schedule's next delay
 * (jittered), and fails after the last; any other answer, and a refusal by the SSRF
 * guard, fails at once; 410 from a tenant endpoint also disables the endpoint.
 */
import type { AttemptRecord, ClaimedDelivery } from "./delivery-writes.js";
import type { SendResult } from "./send-webhook.js";

/** Each retry's delay is the schedule's, times a factor in [1 − jitter, 1 + jitter]. */
const jitter = 0.2;

/** True for the HTTP statuses that are worth trying again. */
function retryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** The attempt record for `result`, the delivery's attempt number attempt_count + 1. */
export function deliveryOutcome(
  result: SendResult,
  delivery: Pick<ClaimedDelivery, "attempt_count" | "endpoint_id">,
  retryScheduleMs: readonly number[],
  startTime: Date,
): AttemptRecord {
  const answered = result.kind === "answered";
  const succeeded = answered && result.status >= 200 && result.status < 300;
  const retryable = result.kind === "failed" || (answered && retryableStatus(result.status));
  // attempt_count attempts came before this one: retry n waits retryScheduleMs[n - 1].
  const delay = retryScheduleMs[delivery.attempt_count];
  const outcome = succeeded ? "SUCCEEDED" : retryable && delay !== undefined ? "PENDING" : "FAILED";
  return {
    startTime,
    durationMs: result.durationMs,
    httpStatus: answered ? result.status : null,
    error: answered ? null : result.reason,
    responseBody: answered ? result.body : "",
    outcome,
    retryDelayMs: outcome === "PENDING" && delay !== undefined ? Math.round(delay * (1 - jitter + Math.random() * 2 * jitter)) : 0,
    gone: answered && result.status === 410 && delivery.endpoint_id !== null,
  };
}
