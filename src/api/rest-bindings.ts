/**
 * Runline's REST-only behaviours on top of the general transcoder (API.md):
 * `Idempotency-Key` header → the idempotency key of every call that creates runs (CreateRun,
 * RerunRun, RunAndWait, RunAndStream, BatchCreateRuns' template), weak ETag and 304 on GetRunDefinition,
 * 204 for a GetRunOutput without output, `GET …/events` with `Accept: text/event-stream`
 * switched to StreamRunEvents, SSE `id:` = the last sequence of each message, and
 * `Last-Event-ID` resuming a stream through `after_sequence`.
 */
import { enumToJson, type DescMethod, type Message } from "@bufbuild/protobuf";
import { RunStatus, RunStatusSchema } from "../../gen/runline/v1/run_pb.js";
import { RunsService, type RunAndStreamResponse, type StreamRunEventsResponse } from "../../gen/runline/v1/runs_service_pb.js";
import { echoed, invalidArgument } from "../errors.js";
import { defineRestHooks, type RestMethodHooks } from "../http/transcoding/index.js";
import { toConnectError } from "./error-mapping.js";

const methods = RunsService.method;

/** What the hooks read headers from: Node's request headers (and, raw, as they came). */
type HeaderCarrier = { headers: Record<string, string | string[] | undefined>; rawHeaders?: readonly string[] };

/** How many times the request carries header `name` (Node joins repeats into one value). */
function headerCount(request: HeaderCarrier, name: string): number {
  const raw = request.rawHeaders ?? [];
  let count = 0;
  for (let index = 0; index < raw.length; index += 2) if (raw[index]!.toLowerCase() === name) count++;
  return count;
}

// Header values reach Node as Latin-1: a UTF-8 key would be stored garbled (`café` as
// `cafÃ©`) and differ from the same key in the body.
const printableAscii = /^[\x20-\x7e]*$/;

function header(request: HeaderCarrier, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The weak ETag of a content hash. */
export function weakEtag(contentHash: string): string {
  return `W/"${contentHash}"`;
}

function etagMatches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false;
  // Weak comparison (RFC 9110 §13.1.2): W/ prefixes are ignored; "*" matches any.
  const bare = etag.replace(/^W\//, "");
  return ifNoneMatch.split(",").some((candidate) => {
    const trimmed = candidate.trim();
    return trimmed === "*" || trimmed.replace(/^W\//, "") === bare;
  });
}

/**
 * The `Idempotency-Key` header into `target`'s `idempotencyKey` (`field` names it in
 * errors); both given and unequal is INVALID_ARGUMENT. No target (a request without the
 * message that carries the key) leaves the request for its own validation.
 */
function applyIdempotencyKey(httpRequest: HeaderCarrier, target: { idempotencyKey: string } | undefined, field: string): void {
  const key = header(httpRequest, "idempotency-key");
  if (key === undefined || target === undefined) return;
  if (headerCount(httpRequest, "idempotency-key") > 1)
    throw toConnectError(invalidArgument(field, "the Idempotency-Key header is given more than once; send one key"));
  if (!printableAscii.test(key)) {
    const description = "the Idempotency-Key header must be printable ASCII; send other keys in the body's idempotencyKey";
    throw toConnectError(invalidArgument(field, description));
  }
  if (target.idempotencyKey !== "" && target.idempotencyKey !== key) {
    const description = `"${echoed(target.idempotencyKey)}" differs from the Idempotency-Key header "${echoed(key)}"; send one, or both equal`;
    throw toConnectError(invalidArgument(field, description));
  }
  target.idempotencyKey = key;
}

function idempotencyKeyFromHeader({ httpRequest, message }: { httpRequest: HeaderCarrier; message: { idempotencyKey: string } }): void {
  applyIdempotencyKey(httpRequest, message, "idempotencyKey");
}

/** RunAndWait and RunAndStream: the header is the key of the run they create. */
function runIdempotencyKeyFromHeader({
  httpRequest,
  message,
}: {
  httpRequest: HeaderCarrier;
  message: { run?: { idempotencyKey: string } | undefined };
}): void {
  applyIdempotencyKey(httpRequest, message.run, "run.idempotencyKey");
}

/**
 * BatchCreateRuns: the header is the template's key (each run's key is derived from it,
 * as from the template's field). A batch of separate requests has a key per request, so
 * one header cannot stand for them: INVALID_ARGUMENT, rather than creating the batch again
 * on every retry.
 */
function batchIdempotencyKeyFromHeader({
  httpRequest,
  message,
}: {
  httpRequest: HeaderCarrier;
  message: { template?: { idempotencyKey: string } | undefined; requests: unknown[] };
}): void {
  if (message.template === undefined && message.requests.length > 0 && header(httpRequest, "idempotency-key") !== undefined) {
    const description = "the Idempotency-Key header applies to a batch made from a template; give each of requests its own idempotencyKey";
    throw toConnectError(invalidArgument("requests", description));
  }
  applyIdempotencyKey(httpRequest, message.template, "template.idempotencyKey");
}

/** Per-method REST hooks for RunsService. */
export const runsRestHooks: readonly RestMethodHooks[] = [
  defineRestHooks({ method: methods.createRun, beforeCall: idempotencyKeyFromHeader }),
  defineRestHooks({ method: methods.rerunRun, beforeCall: idempotencyKeyFromHeader }),
  defineRestHooks({ method: methods.runAndWait, beforeCall: runIdempotencyKeyFromHeader }),
  defineRestHooks({ method: methods.runAndStream, beforeCall: runIdempotencyKeyFromHeader }),
  defineRestHooks({ method: methods.batchCreateRuns, beforeCall: batchIdempotencyKeyFromHeader }),
  defineRestHooks({
    method: methods.getRunDefinition,
    afterCall({ httpRequest, message, responseHeaders }) {
      const etag = weakEtag(message.contentHash);
      responseHeaders.set("etag", etag);
      // The snapshot never changes, so it may be cached for as long as a client likes.
      responseHeaders.set("cache-control", "private, max-age=31536000, immutable");
      return etagMatches(header(httpRequest, "if-none-match"), etag) ? { status: 304, body: "empty" } : undefined;
    },
  }),
  defineRestHooks({
    method: methods.getRunOutput,
    afterCall({ message, responseHeaders }) {
      if (message.output?.outcome.case !== undefined) return undefined;
      // 204 has no body: the status and settledness travel as headers instead, the status
      // by its enum name as in the JSON (API.md), e.g. RUN_STATUS_QUEUED.
      responseHeaders.set("runline-run-status", String(enumToJson(RunStatusSchema, message.output?.status ?? RunStatus.UNSPECIFIED)));
      responseHeaders.set("runline-run-done", String(message.output?.done ?? false));
      return { status: 204, body: "empty" };
    },
  }),
  {
    method: methods.listRunEvents,
    alternatives: [{ method: methods.streamRunEvents, when: (request) => (header(request, "accept") ?? "").includes("text/event-stream") }],
  },
];

function isEventBatch(message: Message): message is StreamRunEventsResponse | RunAndStreamResponse {
  return message.$typeName === "runline.v1.StreamRunEventsResponse" || message.$typeName === "runline.v1.RunAndStreamResponse";
}

/** SSE `id:` of a stream message: the last sequence in its batch (none on the first, run-only message). */
export function streamEventId(_method: DescMethod, message: Message): string | undefined {
  if (!isEventBatch(message)) return undefined;
  const last = message.events[message.events.length - 1];
  return last === undefined ? undefined : last.sequence.toString();
}

/** `Last-Event-ID` resumes StreamRunEvents after that sequence. */
export function lastEventIdField(method: DescMethod): string | undefined {
  return method === methods.streamRunEvents ? "after_sequence" : undefined;
}

/** Response headers of these hooks and of auth refusals (the 401's challenge) that browsers must be allowed to read (CORS). */
export const restExposedHeaders = ["Runline-Run-Status", "Runline-Run-Done", "Cache-Control", "WWW-Authenticate"];
