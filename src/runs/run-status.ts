/**
 * Run statuses and what they mean to a caller (finished, settled). Which changes
 * between them exist, and what each writes, is the transition table's to say
 * (lifecycle/transitions.ts, with allowedTransitions derived from it).
 */

/** A run status as stored (the proto enum's name without its `RUN_STATUS_` prefix). */
export type RunStatus =
  "QUEUED" | "SCHEDULED" | "RUNNING" | "INTERRUPTED" | "CANCELLING" | "SUCCEEDED" | "FAILED" | "CANCELLED" | "TIMED_OUT";

/** Every status, in the order of the proto enum (1-based). */
export const runStatuses: readonly RunStatus[] = [
  "QUEUED",
  "SCHEDULED",
  "RUNNING",
  "INTERRUPTED",
  "CANCELLING",
  "SUCCEEDED",
  "FAILED",
  "CANCELLED",
  "TIMED_OUT",
];

/** Statuses a run never leaves. */
export const terminalStatuses: ReadonlySet<RunStatus> = new Set(["SUCCEEDED", "FAILED", "CANCELLED", "TIMED_OUT"]);

/** True when the run is finished for good. */
export function isTerminal(status: RunStatus): boolean {
  return terminalStatuses.has(status);
}

/** True when the run is waiting on nobody but a caller: terminal or interrupted. */
export function isSettled(status: RunStatus): boolean {
  return isTerminal(status) || status === "INTERRUPTED";
}
