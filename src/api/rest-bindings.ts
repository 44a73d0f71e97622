/**
 * Runline's REST-only behaviours on top of the general transcoder (API.md):
 * `Idempotency-Key` header → CreateRun's and RerunRun's field, weak ETag and 304 on GetRunDefinition,
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

/** What the hooks read headers from: Node's request headers. */
type HeaderCarrier = { headers: Record<string, string | string[] | undefined> };

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

/** The `Idempotency-Key` header into the request's `idempotencyKey`; both given and unequal is INVALID_ARGUMENT. */
function idempotencyKeyFromHeader({ httpRequest, message }: { httpRequest: HeaderCarrier; message: { idempotencyKey: string } }): void {
  const key = header(httpRequest, "idempotency-key");
  if (key === undefined) return;
  if (message.idempotencyKey !== "" && message.idempotencyKey !== key) {
    const description = `"${echoed(message.idempotencyKey)}" differs from the Idempotency-Key header "${echoed(key)}"; send one, or both equal`;
    throw toConnectError(invalidArgument("idempotencyKey", description));
  }
  message.idempotencyKey = key;
}

/** Per-method REST hooks for RunsService. */
export const runsRestHooks: readonly RestMethodHooks[] = [
  defineRestHooks({ method: methods.createRun, beforeCall: idempotencyKeyFromHeader }),
  defineRestHooks({ method: methods.rerunRun, beforeCall: idempotencyKeyFromHeader }),
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
