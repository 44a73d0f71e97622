/**
 * WorkerService's messages ↔ the executor side of workers/: a claimed lease as a Lease
 * message (or why it has none), and a Work session's stream both ways. The session
 * itself, with its ordering and bounds, is workers/work-session.ts.
 */
import { create, toJson } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { RunStatus } from "../../gen/runline/v1/run_pb.js";
import {
  LeaseSchema,
  WorkResponseSchema,
  type Lease,
  type WorkOutcome,
  type WorkRequest,
  type WorkResponse,
} from "../../gen/runline/v1/worker_service_pb.js";
import { invalidArgument, RunlineError } from "../errors.js";
import type { EventRecord } from "../runs/event-append.js";
import type { Logger } from "../logger.js";
import type { LeaseRecord } from "../workers/lease-record.js";
import type { SessionAnswer, SessionMessage } from "../workers/work-session.js";
import { toConnectError } from "./error-mapping.js";
import { eventMessage, eventMessageAsStored, jsonFromValue, runMessageAsStored, timestamp, valueFromJson } from "./proto-convert.js";
import { findRequestViolations } from "./request-validation.js";
import { workRequestWeight } from "./work-request-weight.js";

const resumed = (lease: LeaseRecord) => lease.resume_input !== null && lease.resume_input !== undefined;

/**
 * A claimed lease as executors receive it, or why the run cannot be expressed in the API
 * (workers/lease-delivery.ts fails such a run). Values as stored, never clamped. Each
 * lease is encoded as JSON once, the strictest of our encodings (about 6.5 µs a lease
 * measured against 8 µs to build it); the problem names the field where it can.
 */
export function leaseMessage(lease: LeaseRecord, history: readonly EventRecord[]): { message: Lease } | { problem: string } {
  let message: Lease | undefined;
  try {
    message = create(LeaseSchema, {
      run: runMessageAsStored(lease),
      leaseId: lease.lease_id,
      leaseExpireTime: timestamp(lease.lease_expire_time, "keep"),
      resumeInput: resumed(lease) ? valueFromJson(lease.resume_input, "keep") : undefined,
      history: history.map(eventMessageAsStored),
    });
    toJson(LeaseSchema, message);
    return { message };
  } catch (error) {
    const violation = message === undefined ? undefined : findRequestViolations(LeaseSchema, message)[0];
    return { problem: violation === undefined ? (error as Error).message : `${violation.field}: ${violation.description}` };
  }
}

type ReportRequest = Extract<WorkRequest["kind"], { case: "report" }>["value"];

/** Reported events in the domain's terms (ReportRunEvents, unary or on a session). */
export function newEvents(events: ReportRequest["events"]): { type: string; data: unknown; eventId: string }[] {
  return events.map((event, index) => ({
    type: event.type,
    data: jsonFromValue(event.data, `events[${index}].data`),
    eventId: event.eventId,
  }));
}

/** A Work request after `open` as the session reads it; a second `open` or no kind ends the session. */
function sessionMessage(request: WorkRequest): SessionMessage {
  const kind = request.kind;
  const weight = workRequestWeight(request);
  switch (kind.case) {
    case "complete":
      return {
        kind: "complete",
        runId: kind.value.runId,
        leaseId: kind.value.leaseId,
        weight,
        output: () => jsonFromValue(kind.value.output, "output"),
      };
    case "fail":
      return {
        kind: "fail",
        runId: kind.value.runId,
        leaseId: kind.value.leaseId,
        weight,
        error: { message: kind.value.error?.message ?? "", code: kind.value.error?.code ?? "" },
        retryable: kind.value.retryable,
      };
    case "report":
      return { kind: "report", runId: kind.value.runId, leaseId: kind.value.leaseId, weight, events: () => newEvents(kind.value.events) };
    default:
      throw invalidArgument("kind", kind.case === "open" ? "the session is already open" : "must be complete, fail or report");
  }
}

/** The executor's messages after `open`, as the session reads them. */
export async function* sessionMessages(requests: AsyncIterator<WorkRequest>): AsyncGenerator<SessionMessage> {
  for (let next = await requests.next(); next.done !== true; next = await requests.next()) yield sessionMessage(next.value);
}

const codeName = (code: Code) => Code[code].replace(/[A-Z]/g, (letter, offset: number) => (offset === 0 ? "" : "_") + letter.toLowerCase());

/** Why a message was refused, as its answer carries it; a fault of ours is logged. */
function refusal(logger: Logger, runId: string, error: unknown): WorkOutcome["error"] {
  const connectError = toConnectError(error);
  const code = codeName(connectError.code);
  if (code === "internal" || code === "unknown") logger.error({ err: error, runId }, "work session message failed");
  return {
    $typeName: "runline.v1.WorkOutcomeError",
    code,
    message: connectError.rawMessage,
    reason: error instanceof RunlineError ? error.reason : "",
  };
}

/** A session's answer as a Work response. */
export function workResponse(logger: Logger, answer: SessionAnswer<Lease>): WorkResponse {
  switch (answer.kind) {
    case "assigned":
      return create(WorkResponseSchema, { kind: { case: "assigned", value: { leases: answer.leases } } });
    case "outcome": {
      const { runId, outcome } = answer;
      const value =
        "status" in outcome
          ? { runId, status: RunStatus[outcome.status as keyof typeof RunStatus] }
          : { runId, error: refusal(logger, runId, outcome.error) };
      return create(WorkResponseSchema, { kind: { case: "outcome", value } });
    }
    case "reported": {
      const { runId, outcome } = answer;
      const value =
        "events" in outcome ? { runId, events: outcome.events.map(eventMessage) } : { runId, error: refusal(logger, runId, outcome.error) };
      return create(WorkResponseSchema, { kind: { case: "reported", value } });
    }
  }
}
