/**
 * The one place that knows run statuses and which changes between them are allowed.
 * SQL statements that change a status guard it in their WHERE with the sets below, so
 * the database decides atomically; this table documents and checks those sets.
 */

/** A run status as stored (the proto enum's name without its `RUN_STATUS_` prefix). */
export type RunStatus =
  | "QUEUED" | "SCHEDULED" | "RUNNING" | "INTERRUPTED" | "CANCELLING"
  | "SUCCEEDED" | "FAILED" | "CANCELLED" | "TIMED_OUT";

/** Every status, in the order of the proto enum (1-based). */
export const runStatuses: readonly RunStatus[] = [
  "QUEUED", "SCHEDULED", "RUNNING", "INTERRUPTED", "CANCELLING", "SUCCEEDED", "FAILED", "CANCELLED", "TIMED_OUT",
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

/** Allowed changes: from → to. */
export const allowedTransitions: Readonly<Record<RunStatus, readonly RunStatus[]>> = {
  SCHEDULED: ["QUEUED", "CANCELLED"],
  QUEUED: ["RUNNING", "CANCELLED"],
  RUNNING: ["SUCCEEDED", "FAILED", "QUEUED", "INTERRUPTED", "CANCELLING", "TIMED_OUT"],
  INTERRUPTED: ["QUEUED", "CANCELLED", "TIMED_OUT"],
  CANCELLING: ["CANCELLED", "TIMED_OUT"],
  SUCCEEDED: [],
  FAILED: [],
  CANCELLED: [],
  TIMED_OUT: [],
};

/** Statuses CancelRun acts on; RUNNING goes to CANCELLING, the others to CANCELLED. */
export const cancellableStatuses: readonly RunStatus[] = ["QUEUED", "SCHEDULED", "INTERRUPTED", "RUNNING"];
