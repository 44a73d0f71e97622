/**
 * Human renderings of runs, events and outputs: statuses without the `RUN_STATUS_`
 * prefix and coloured by outcome, times in UTC to the second, JSON values compact.
 * The `--json` output does not come through here; it is the response message itself.
 */
import { toJson, type JsonValue } from "@bufbuild/protobuf";
import { timestampDate, ValueSchema, type Timestamp, type Value } from "@bufbuild/protobuf/wkt";
import { RunStatus, type Run, type RunEvent, type RunOutput } from "../../gen/runline/v1/run_pb.js";
import type { Cell, Output, Style } from "./output.js";

/** `SUCCEEDED` for RunStatus.SUCCEEDED. */
export function statusName(status: RunStatus): string {
  return RunStatus[status] ?? String(status);
}

const statusStyles: Partial<Record<RunStatus, Style>> = {
  [RunStatus.SUCCEEDED]: "green",
  [RunStatus.FAILED]: "red",
  [RunStatus.TIMED_OUT]: "red",
  [RunStatus.CANCELLED]: "yellow",
  [RunStatus.CANCELLING]: "yellow",
  [RunStatus.INTERRUPTED]: "magenta",
  [RunStatus.RUNNING]: "cyan",
};

/** The status as a table cell, coloured by outcome. */
export function statusCell(status: RunStatus): Cell {
  const style = statusStyles[status];
  return style === undefined ? statusName(status) : { text: statusName(status), style };
}

/** The status as text, coloured by outcome. */
export function paintStatus(out: Output, status: RunStatus): string {
  const style = statusStyles[status];
  return style === undefined ? statusName(status) : out.paint(style, statusName(status));
}

/** `2025-01-31T12:00:05Z`, or `-` when unset. */
export function formatTime(time: Timestamp | undefined): string {
  return time === undefined
    ? "-"
    : timestampDate(time)
        .toISOString()
        .replace(/\.\d{3}Z$/, "Z");
}

/** A google.protobuf.Value as plain JSON (null when unset). */
export function plainJson(value: Value | undefined): JsonValue {
  return value === undefined ? null : toJson(ValueSchema, value);
}

/** A google.protobuf.Value as compact JSON text. */
export function compactJson(value: Value | undefined): string {
  return JSON.stringify(plainJson(value));
}

/** The columns of `runs list`. */
export const runColumns = ["ID", "WORKFLOW", "STATUS", "CREATED"] as const;

/** One run as a `runs list` row. */
export function runRow(run: Run): Cell[] {
  return [run.id, run.workflowSlug || run.workflowId, statusCell(run.status), formatTime(run.createTime)];
}

/** `runs get`: one `name: value` line per field a person looks at. */
export function printRun(out: Output, run: Run): void {
  const labels = Object.entries(run.labels)
    .map(([key, value]) => `${key}=${value}`)
    .join(", ");
  const fields: [string, string][] = [
    ["id", run.id],
    ["workflow", `${run.workflowSlug || run.workflowId} v${run.workflowVersion}`],
    ["status", paintStatus(out, run.status)],
    ["attempt", run.maxAttempts > 0 ? `${run.attempt} of ${run.maxAttempts}` : String(run.attempt)],
    ["labels", labels || "-"],
    ["created", formatTime(run.createTime)],
    ["started", formatTime(run.startTime)],
    ["ended", formatTime(run.endTime)],
    ["input", compactJson(run.input)],
  ];
  // Only on reruns: most runs repeat nothing, and a "-" line on each would be noise.
  if (run.rerunOf !== "") fields.push(["rerun of", run.rerunOf]);
  for (const [name, value] of fields) out.line(`${`${name}:`.padEnd(10)}${value}`);
}

/** A one-line summary: `<id>  <workflow>  <STATUS>`. */
export function runSummary(out: Output, run: Run): string {
  return `${run.id}  ${run.workflowSlug || run.workflowId}  ${paintStatus(out, run.status)}`;
}

/** The start of an event line: `#3  2025-01-31T12:00:05Z  status`. */
export function eventPrefix(out: Output, event: RunEvent): string {
  return `${out.paint("dim", `#${event.sequence}`)}  ${formatTime(event.createTime)}  ${event.type}`;
}

/** An event other than progress as one line: status events show the status, others their data. */
export function eventLine(out: Output, event: RunEvent): string {
  if (event.type === "status") return `${eventPrefix(out, event)}  ${paintStatus(out, event.status)}`;
  return event.data === undefined ? eventPrefix(out, event) : `${eventPrefix(out, event)}  ${compactJson(event.data)}`;
}

/** `runs output`: the result as JSON, or the interrupt or error in words. */
export function printOutput(out: Output, runId: string, output: RunOutput): void {
  switch (output.outcome.case) {
    case "result":
      out.line(JSON.stringify(plainJson(output.outcome.value), null, 2));
      return;
    case "interrupt": {
      const interrupt = output.outcome.value;
      out.line(`${paintStatus(out, output.status)}: ${interrupt.reason} (interrupt ${interrupt.id})`);
      out.line(`payload: ${compactJson(interrupt.payload)}`);
      if (interrupt.resumeSchema !== undefined) out.line(`resume input schema: ${compactJson(interrupt.resumeSchema)}`);
      out.line(`resume with: runline runs resume ${runId} --interrupt ${interrupt.id} --input '<json>'`);
      return;
    }
    case "error":
      out.line(
        `${paintStatus(out, output.status)}: ${output.outcome.value.code ? `${output.outcome.value.code}: ` : ""}${output.outcome.value.message}`,
      );
      return;
    default:
      out.line(`${paintStatus(out, output.status)}: no output${output.done ? "" : " yet"}`);
  }
}
