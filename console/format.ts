/** How the console writes the API's values: statuses, times, JSON, labels. */
import { toJson } from "@bufbuild/protobuf";
import { timestampDate, ValueSchema, type Timestamp, type Value } from "@bufbuild/protobuf/wkt";
import { RunStatus } from "../gen/runline/v1/run_pb.js";

/** Every status a run can have, in lifecycle order (the filter's choices). */
export const runStatuses: readonly RunStatus[] = [
  RunStatus.QUEUED,
  RunStatus.SCHEDULED,
  RunStatus.RUNNING,
  RunStatus.INTERRUPTED,
  RunStatus.CANCELLING,
  RunStatus.SUCCEEDED,
  RunStatus.FAILED,
  RunStatus.CANCELLED,
  RunStatus.TIMED_OUT,
];

const terminal = new Set([RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.TIMED_OUT]);

/** The status as the API names it without its prefix, e.g. `RUNNING`. */
export function statusName(status: RunStatus): string {
  return RunStatus[status] ?? String(status);
}

/** True for SUCCEEDED, FAILED, CANCELLED and TIMED_OUT: the run never changes again. */
export function isTerminal(status: RunStatus): boolean {
  return terminal.has(status);
}

/** A timestamp in the reader's locale with seconds; empty when unset. */
export function formatTime(timestamp: Timestamp | undefined): string {
  return timestamp === undefined ? "" : timestampDate(timestamp).toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" });
}

/** A timestamp as ISO 8601, for `<time datetime>`; empty when unset. */
export function isoTime(timestamp: Timestamp | undefined): string {
  return timestamp === undefined ? "" : timestampDate(timestamp).toISOString();
}

/** A google.protobuf.Value as plain JSON (undefined when unset). */
export function plainJson(value: Value | undefined): unknown {
  return value === undefined ? undefined : toJson(ValueSchema, value);
}

/** JSON indented for reading; "(none)" when unset. */
export function prettyJson(value: unknown): string {
  return value === undefined ? "(none)" : JSON.stringify(value, null, 2);
}

/** Labels as `key=value, …`. */
export function formatLabels(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([key, value]) => `${key}=${value}`)
    .join(", ");
}

/** Parses `key=value, key2=value2` (commas or new lines between pairs); throws on a pair without `=`. */
export function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const pair of text.split(/[,\n]/)) {
    const trimmed = pair.trim();
    if (trimmed === "") continue;
    const equals = trimmed.indexOf("=");
    if (equals <= 0) throw new Error(`labels: "${trimmed}" is not key=value`);
    labels[trimmed.slice(0, equals).trim()] = trimmed.slice(equals + 1).trim();
  }
  return labels;
}
