/**
 * Translation between domain records and proto messages, in both directions. Nothing
 * here decides anything: it only changes shape (snake_case rows ↔ messages, JSON ↔
 * google.protobuf.Value, Date ↔ Timestamp, statuses ↔ enum numbers).
 */
import { create, fromJson, toJson, type JsonValue } from "@bufbuild/protobuf";
import { durationFromMs, durationMs, timestampDate, timestampFromDate, ValueSchema, type Duration, type Timestamp, type Value } from "@bufbuild/protobuf/wkt";
import { RunEventSchema, RunSchema, RunStatus as ProtoRunStatus, type Run, type RunEvent } from "../../gen/runline/v1/run_pb.js";
import type { CreateRunRequest } from "../../gen/runline/v1/runs_service_pb.js";
import { invalidArgument } from "../errors.js";
import type { EventRecord } from "../events/event-store.js";
import type { CreateRunInput } from "../runs/create-run.js";
import type { RunRecord } from "../runs/run-record.js";
import { runStatuses, type RunStatus } from "../runs/run-status.js";

/** JSON → Value (undefined stays unset). */
export function valueFromJson(json: unknown): Value | undefined {
  return json === undefined ? undefined : fromJson(ValueSchema, json as JsonValue);
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
 * Date or Postgres timestamptz text → Timestamp, keeping unset unset. (MikroORM's pg
 * setup returns timestamptz columns as text.)
 */
export function timestamp(date: Date | string | null | undefined): Timestamp | undefined {
  return date === null || date === undefined ? undefined : timestampFromDate(typeof date === "string" ? new Date(date) : date);
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

/** Milliseconds → Duration. */
export function durationFrom(ms: number | string | null | undefined): Duration | undefined {
  return ms === null || ms === undefined ? undefined : durationFromMs(Number(ms));
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

/** A run row → Run message. */
export function runMessage(run: RunRecord): Run {
  return create(RunSchema, {
    id: run.id,
    workflowId: run.workflow_id,
    workflowSlug: run.workflow_slug ?? "",
    workflowVersion: run.workflow_version,
    status: protoStatus(run.status),
    input: valueFromJson(run.input ?? null),
    labels: run.labels,
    attempt: run.attempt,
    createdBy: run.created_by,
    createTime: timestamp(run.create_time),
    updateTime: timestamp(run.update_time),
    startTime: timestamp(run.start_time),
    endTime: timestamp(run.end_time),
    maxAttempts: run.max_attempts,
    timeout: durationFrom(run.timeout_ms),
    priority: run.priority,
    scheduleTime: timestamp(run.schedule_time),
    idempotencyKey: run.idempotency_key ?? "",
    webhook: run.webhook_url === null ? undefined : { url: run.webhook_url, intermediateStatus: run.webhook_intermediate },
    lastSequence: BigInt(run.last_sequence),
  });
}

/** An event row → RunEvent message. */
export function eventMessage(event: EventRecord): RunEvent {
  return create(RunEventSchema, {
    runId: event.run_id,
    sequence: BigInt(event.sequence),
    type: event.type,
    data: event.data === null || event.data === undefined ? undefined : valueFromJson(event.data),
    createTime: timestamp(event.create_time),
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
    webhook: request.webhook === undefined ? undefined : { url: request.webhook.url, intermediateStatus: request.webhook.intermediateStatus },
    timeoutMs: millisFrom(request.timeout, `${field}timeout`),
    maxAttempts: request.maxAttempts,
    priority: request.priority,
    scheduleTime: dateFrom(request.scheduleTime),
  };
}
