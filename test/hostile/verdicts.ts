/**
 * Reads what came back in each protocol's own terms (gRPC trailers, gRPC-web trailer
 * frames, Connect error bodies and end-stream messages, REST Status bodies and SSE error
 * events) as one outcome, and judges it: a hostile input may be refused with any 4xx
 * code, but never answered with a 5xx, INTERNAL, UNKNOWN, DATA_LOSS, a retryable
 * UNAVAILABLE, a reset or silence. The exceptions the suite accepts are listed in
 * `acceptedExceptions`, each with its reason.
 */
import type { HostileCall } from "./hostile-calls.js";
import type { WireResponse } from "./wire-client.js";

/** A call's result, whatever the protocol. `code` is the gRPC code, undefined when none was seen (a stream the suite cut). */
export interface Outcome {
  readonly http: number;
  readonly code: number | undefined;
  readonly message: string;
  readonly transportError: string | undefined;
}

/** gRPC code numbers by Connect name. */
export const codeNames = [
  "ok",
  "canceled",
  "unknown",
  "invalid_argument",
  "deadline_exceeded",
  "not_found",
  "already_exists",
  "permission_denied",
  "resource_exhausted",
  "failed_precondition",
  "aborted",
  "out_of_range",
  "unimplemented",
  "internal",
  "unavailable",
  "data_loss",
  "unauthenticated",
] as const;

const codeOfName = (name: unknown) => (typeof name === "string" ? codeNames.indexOf(name as (typeof codeNames)[number]) : -1);

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(text) as unknown;
    return typeof value === "object" && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The frames of an enveloped body: [flags, payload]. */
function frames(body: Buffer): [number, Buffer][] {
  const found: [number, Buffer][] = [];
  for (let offset = 0; offset + 5 <= body.length;) {
    const length = body.readUInt32BE(offset + 1);
    found.push([body[offset]!, body.subarray(offset + 5, offset + 5 + length)]);
    offset += 5 + length;
  }
  return found;
}

function fromGrpcStatus(status: string | undefined, message: string | undefined): Pick<Outcome, "code" | "message"> {
  return { code: status === undefined ? undefined : Number(status), message: decodeURIComponent(message ?? "") };
}

function readCode(call: HostileCall, response: WireResponse): Pick<Outcome, "code" | "message"> {
  const { headers, trailers, body } = response;
  const streaming = call.entry.method.methodKind !== "unary";
  switch (call.protocol) {
    case "grpc":
      return fromGrpcStatus(trailers["grpc-status"] ?? headers["grpc-status"], trailers["grpc-message"] ?? headers["grpc-message"]);
    case "grpc-web": {
      if (headers["grpc-status"] !== undefined) return fromGrpcStatus(headers["grpc-status"], headers["grpc-message"]);
      const trailer =
        frames(body)
          .find(([flags]) => (flags & 0x80) !== 0)?.[1]
          .toString("latin1") ?? "";
      return fromGrpcStatus(/grpc-status:\s*(\d+)/i.exec(trailer)?.[1], /grpc-message:\s*([^\r\n]*)/i.exec(trailer)?.[1]);
    }
    case "rest": {
      if (response.status >= 200 && response.status < 300 && headers["content-type"]?.includes("event-stream") === true) {
        const error = /event: error\ndata: (.*)\n/.exec(body.toString("utf8"))?.[1];
        const status = error === undefined ? undefined : parseJson(error);
        return status === undefined
          ? { code: response.cancelled ? undefined : 0, message: "" }
          : { code: Number(status.code), message: String(status.message) };
      }
      if (response.status < 400) return { code: 0, message: "" };
      const status = parseJson(body.toString("utf8"));
      return {
        code: typeof status?.code === "number" ? status.code : undefined,
        message: String(status?.message ?? body.toString("utf8", 0, 200)),
      };
    }
    default: {
      if (response.status === 200 && streaming) {
        const end = frames(body).find(([flags]) => (flags & 0x02) !== 0);
        if (end === undefined) return { code: undefined, message: "" };
        const error = parseJson(end[1].toString("utf8"))?.error as Record<string, unknown> | undefined;
        return error === undefined ? { code: 0, message: "" } : { code: codeOfName(error.code), message: String(error.message ?? "") };
      }
      if (response.status === 200) return { code: 0, message: "" };
      const error = parseJson(body.toString("utf8"));
      return {
        code: error === undefined ? undefined : codeOfName(error.code),
        message: String(error?.message ?? body.toString("utf8", 0, 200)),
      };
    }
  }
}

/** The outcome of `call` from its `response`. */
export function readOutcome(call: HostileCall, response: WireResponse): Outcome {
  return { http: response.status, ...readCode(call, response), transportError: response.transportError };
}

/** Timeout headers that ask for a deadline far away (or none): it must not become an immediate one. */
const farDeadlines = new Set([
  "99999999H",
  "99999999999S",
  "100000000m",
  "9999999999999999999n",
  "99999999999",
  "10000000000000000000",
  "1e309",
]);

/**
 * Outcomes the suite accepts although they look like server errors, and why:
 * - DEADLINE_EXCEEDED (504) from an RPC that may wait (long polls, streams, RunAndWait):
 *   the suite itself gives those a 2 s deadline, and a valid request waits for it;
 * - DEADLINE_EXCEEDED when the request's own timeout header asked for a deadline that is
 *   zero, tiny or unreadable (`0n`, `1n`, `-1` …): the server ends such calls at once;
 * - no answer from an RPC that may wait when the request asked for a far deadline: the
 *   suite stops waiting after its own limit, the server is right to keep waiting;
 * - UNIMPLEMENTED (Connect: HTTP 501) for a request compressed with an encoding the
 *   server does not support: both the gRPC compression spec and the Connect protocol
 *   prescribe exactly that code.
 */
export const acceptedExceptions = [
  "DEADLINE_EXCEEDED from an RPC that may wait",
  "DEADLINE_EXCEEDED for a zero or tiny timeout header",
  "no answer from an RPC that may wait, under a far deadline",
  "UNIMPLEMENTED for an unsupported compression",
];

function deadlineAccepted(call: HostileCall): boolean {
  if (call.framing.kind === "timeout") return !farDeadlines.has(call.framing.value);
  return call.entry.mayWait;
}

/** What is wrong with `outcome`, or undefined when it is an acceptable answer to a hostile input. */
export function failureOf(call: HostileCall, outcome: Outcome): string | undefined {
  const farDeadline = call.framing.kind === "timeout" && farDeadlines.has(call.framing.value);
  if (outcome.transportError !== undefined) {
    if (outcome.transportError.startsWith("no answer")) return call.entry.mayWait && farDeadline ? undefined : "no answer";
    return "transport failure";
  }
  const compressed =
    call.framing.kind === "encoding" || (call.framing.kind === "get-message" && call.framing.query.includes("compression="));
  if (outcome.code === 12 && compressed) return undefined;
  if (outcome.code === 4 || outcome.http === 504)
    return deadlineAccepted(call) ? undefined : "DEADLINE_EXCEEDED for a call that should not wait";
  if (outcome.code === 2 || outcome.code === 13 || outcome.code === 15) return codeNames[outcome.code].toUpperCase();
  if (outcome.code === 14) return "UNAVAILABLE (retryable) for a bad request";
  if (outcome.http >= 500) return `HTTP ${outcome.http}`;
  if (call.protocol === "grpc" && outcome.code === 12) return "UNIMPLEMENTED";
  return undefined;
}

/** A short label for grouping alike failures: numbers and ids masked, messages cut. */
export function failureSignature(call: HostileCall, outcome: Outcome, kind: string): string {
  const message = (outcome.transportError ?? outcome.message)
    .replace(/[0-9a-f]{8}-[0-9a-f-]{27}/gi, "<id>")
    .replace(/\d+/g, "#")
    .slice(0, 120);
  const code = outcome.code === undefined ? "-" : (codeNames[outcome.code] ?? String(outcome.code));
  return `${kind} | ${call.entry.method.parent.name}.${call.entry.method.name} | ${call.protocol} | ${code}/${outcome.http} | ${message}`;
}
