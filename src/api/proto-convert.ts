/**
 * Translation between domain records and proto messages, in both directions. Nothing
 * here decides anything: it only changes shape (snake_case rows ↔ messages, JSON ↔
 * google.protobuf.Value, Date ↔ Timestamp, statuses ↔ enum numbers). The one choice
 * made here, what becomes of a stored value the proto types cannot carry, is the
 * caller's (OutOfRange).
 */
import { create, fromJson, toJson, type JsonValue } from "@bufbuild/protobuf";
import {
  durationFromMs,
  durationMs,
  timestampDate,
  timestampFromMs,
  ValueSchema,
  type Duration,
  type Timestamp,
  type Value,
} from "@bufbuild/protobuf/wkt";
import { RunEventSchema, RunSchema, RunStatus as ProtoRunStatus, type Run, type RunEvent } from "../../gen/runline/v1/run_pb.js";
import type { CreateRunRequest } from "../../gen/runline/v1/runs_service_pb.js";
import { millisFromTimestamptz } from "../db/timestamptz-text.js";
import { invalidArgument } from "../errors.js";
import { maxDurationMs, maxTimestampMs, minTimestampMs } from "../proto-ranges.js";
import type { EventRecord } from "../runs/event-append.js";
import type { CreateRunInput } from "../runs/create-run.js";
import type { RunRecord } from "../runs/run-record.js";
import { runStatuses, type RunStatus } from "../runs/run-status.js";

/**
 * What converting a stored value does when it lies beyond what its proto type can carry:
 * a time outside 0001-01-01..9999-12-31, a duration beyond ±10,000 years, a JSON number
 * beyond a double (which JSON.parse reads as ±Infinity). Such values were stored before
 * the boundary refused them (request-validation.ts) or by hand; migration 0004 repaired
 * the runs, and this covers whatever it leaves (the event log, workflow versions'
 * defaults, later hand edits).
 * - "clamp", for reads: the nearest value the type can carry. A read only shows the run,
 *   and an unencodable value used to make GetRun, and every ListRuns page holding the
 *   run, a 500 over JSON; an error for that run alone would still fail the whole page.
 * - "keep", for leases: the value as stored, so the message has no JSON form and the
 *   claim fails the run rather than have an executor perform it on other terms than
 *   the stored ones (lease-delivery.ts).
 */
export type OutOfRange = "clamp" | "keep";

const clampTo = (value: number, limit: number) => Math.min(Math.max(value, -limit), limit);

/** JSON → Value (undefined stays unset); numbers beyond a double as `outOfRange` says. */
export function valueFromJson(json: unknown, outOfRange: OutOfRange = "clamp"): Value | undefined {
  if (json === undefined) return undefined;
  const value = fromJson(ValueSchema, json as JsonValue);
  if (outOfRange === "clamp") clampNumbers(value);
  return value;
}

function clampNumbers(value: Value): void {
  const kind = value.kind;
  if (kind.case === "numberValue") {
    if (!Number.isFinite(kind.value)) kind.value = clampTo(kind.value, Number.MAX_VALUE);
  } else if (kind.case === "structValue") {
    const fields = kind.value.fields;
    for (const key in fields) clampNumbers(fields[key]!);
  } else if (kind.case === "listValue") {
    for (const item of kind.value.values) clampNumbers(item);
  }
}

/**
 * Value → JSON (unset becomes undefined). A Value with no kind set has no JSON form:
 * INVALID_ARGUMENT naming `field`, not a failure of ours.
 */
export function jsonFromValue(value: Value | undefined, field: string): unknown {
  if (value === undefined) return undefined;
  try {
    return toJson(ValueSchema, value);
  } catch (error) {
    throw invalidArgument(field, `is not a valid JSON value (${(error as Error).message})`);
  }
}

/**
 * Date or Postgres timestamptz text → Timestamp, keeping unset unset; a time outside
 * the Timestamp range as `outOfRange` says ("keep" throws when it is beyond any Date).
 * (MikroORM's pg setup returns timestamptz columns as text.)
 */
export function timestamp(date: Date | string | null | undefined, outOfRange: OutOfRange = "clamp"): Timestamp | undefined {
  if (date === null || date === undefined) return undefined;
  const ms = typeof date === "string" ? millisFromTimestamptz(date) : date.getTime();
  if (Number.isNaN(ms)) throw new RangeError("an invalid Date has no Timestamp");
  if (outOfRange === "clamp") return timestampFromMs(Math.min(Math.max(ms, minTimestampMs), maxTimestampMs));
  if (!Number.isFinite(ms)) throw new RangeError(`${String(date)} is beyond the range of google.protobuf.Timestamp`);
  return timestampFromMs(ms);
}

/** Timestamp → Date. */
export function dateFrom(value: Timestamp | undefined): Date | undefined {
  return value === undefined ? undefined : timestampDate(value);
}

/** Duration → milliseconds, refusing negative durations with the field named. */
export function millisFrom(value: Duration | undefined, field: string): number | undefined {
  if (value === undefined) return undefined;
  const ms = durationMs(value);
  if (ms < 0) throw invalidArgument(field, "must not be negative");
  return ms;
}

/** Milliseconds → Duration; beyond ±10,000 years as `outOfRange` says. */
export function durationFrom(ms: number | string | null | undefined, outOfRange: OutOfRange = "clamp"): Duration | undefined {
  if (ms === null || ms === undefined) return undefined;
  return durationFromMs(outOfRange === "clamp" ? clampTo(Number(ms), maxDurationMs) : Number(ms));
}

/** Domain status → proto enum. */
export function protoStatus(status: RunStatus | null): ProtoRunStatus {
  return status === null ? ProtoRunStatus.UNSPECIFIED : ((runStatuses.indexOf(status) + 1) as ProtoRunStatus);
}

/** Proto enum → domain status; UNSPECIFIED or unknown numbers are refused with `field` named. */
export function domainStatus(status: ProtoRunStatus, field: string): RunStatus {
  const found = runStatuses[status - 1];
  if (found === undefined) throw invalidArgument(field, `unknown run status ${status}`);
  return found;
}

/** A run row → Run message, for reads (stored values beyond the proto types clamped). */
export function runMessage(run: RunRecord): Run {
  return buildRunMessage(run, "clamp");
}

/** A run row → Run message with every value as stored, for leases (see OutOfRange). */
export function runMessageAsStored(run: RunRecord): Run {
  return buildRunMessage(run, "keep");
}

function buildRunMessage(run: RunRecord, outOfRange: OutOfRange): Run {
  const time = (value: string | null) => timestamp(value, outOfRange);
  return create(RunSchema, {
    id: run.id,
    workflowId: run.workflow_id,
    workflowSlug: run.workflow_slug ?? "",
    workflowVersion: run.workflow_version,
    status: protoStatus(run.status),
    input: valueFromJson(run.input ?? null, outOfRange),
    labels: run.labels,
    attempt: run.attempt,
    createdBy: run.created_by,
    createTime: time(run.create_time),
    updateTime: time(run.update_time),
    startTime: time(run.start_time),
    endTime: time(run.end_time),
    maxAttempts: run.max_attempts,
    timeout: durationFrom(run.timeout_ms, outOfRange),
    priority: run.priority,
    scheduleTime: time(run.schedule_time),
    idempotencyKey: run.idempotency_key ?? "",
    webhook: run.webhook_url === null ? undefined : { url: run.webhook_url, intermediateStatus: run.webhook_intermediate },
    lastSequence: BigInt(run.last_sequence),
    rerunOf: run.rerun_of ?? "",
  });
}

/** An event row → RunEvent message, for reads (stored values beyond the proto types clamped). */
export function eventMessage(event: EventRecord): RunEvent {
  return buildEventMessage(event, "clamp");
}

/** An event row → RunEvent message with every value as stored, for leases' history (see OutOfRange). */
export function eventMessageAsStored(event: EventRecord): RunEvent {
  return buildEventMessage(event, "keep");
}

function buildEventMessage(event: EventRecord, outOfRange: OutOfRange): RunEvent {
  return create(RunEventSchema, {
    runId: event.run_id,
    sequence: BigInt(event.sequence),
    type: event.type,
    data: event.data === null || event.data === undefined ? undefined : valueFromJson(event.data, outOfRange),
    createTime: timestamp(event.create_time, outOfRange),
    status: protoStatus(event.status),
    eventId: event.event_id ?? "",
  });
}

/** CreateRunRequest → domain input; `field` prefixes field names in errors (e.g. `requests[2].`). */
export function createRunInput(request: CreateRunRequest, field = ""): CreateRunInput {
  return {
    workflow: request.workflow,
    workflowVersion: request.workflowVersion,
    input: jsonFromValue(request.input, `${field}input`),
    labels: request.labels,
    idempotencyKey: request.idempotencyKey,
    webhook:
      request.webhook === undefined ? undefined : { url: request.webhook.url, intermediateStatus: request.webhook.intermediateStatus },
    timeoutMs: millisFrom(request.timeout, `${field}timeout`),
    maxAttempts: request.maxAttempts,
    priority: request.priority,
    scheduleTime: dateFrom(request.scheduleTime),
  };
}
