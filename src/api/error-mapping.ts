/**
 * The one place that turns failures into Connect errors. Domain refusals keep their
 * kind, message and field violations (google.rpc.BadRequest) plus an ErrorInfo reason;
 * infrastructure failures are mapped by SQLSTATE or by the socket error behind them; a
 * call whose client went away is CANCELED; anything else becomes INTERNAL with a generic
 * message, so no SQL, stack trace or other tenant's data reaches a caller. Messages are
 * bounded, so an echoed value can never make a gRPC trailer too large to deliver.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema, ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { cutShort, RunlineError, type ErrorKind } from "../errors.js";

const codes: Record<ErrorKind, Code> = {
  invalid_argument: Code.InvalidArgument,
  not_found: Code.NotFound,
  already_exists: Code.AlreadyExists,
  failed_precondition: Code.FailedPrecondition,
  permission_denied: Code.PermissionDenied,
  unauthenticated: Code.Unauthenticated,
  aborted: Code.Aborted,
  resource_exhausted: Code.ResourceExhausted,
  unavailable: Code.Unavailable,
};

const errorDomain = "runline.dev";
// grpc-message travels percent-encoded in a trailer; peers refuse trailers above 8–16 KB.
const maxMessageLength = 1024;

// The details travel base64-encoded in the grpc-status-details-bin trailer too: at most
// this many violations, each cut short, keep it under about 6 KB. (10,000 NUL workflow
// names once made a 6.8 MB trailer, which the client refused: FRAME_SIZE_ERROR.)
const maxViolations = 10;
const maxViolationField = 128;
const maxViolationDescription = 256;

function fromDomain(error: RunlineError): ConnectError {
  const details = [{ desc: ErrorInfoSchema, value: create(ErrorInfoSchema, { reason: error.reason, domain: errorDomain }) }];
  const fieldViolations = error.violations
    .slice(0, maxViolations)
    .map((v) => ({ field: cutShort(v.field, maxViolationField), description: cutShort(v.description, maxViolationDescription) }));
  const withViolations =
    fieldViolations.length === 0 ? details : [...details, { desc: BadRequestSchema, value: create(BadRequestSchema, { fieldViolations }) }];
  return new ConnectError(error.message, codes[error.kind], undefined, withViolations, error);
}

function unavailable(cause: unknown): ConnectError {
  return new ConnectError("database unavailable; retry", Code.Unavailable, undefined, undefined, cause);
}

/** Postgres SQLSTATE → code, for failures that reach here unhandled. */
function fromPostgres(sqlState: string, cause: unknown): ConnectError | undefined {
  // 40001 serialization failure, 40P01 deadlock: the caller may retry as is.
  if (sqlState === "40001" || sqlState === "40P01")
    return new ConnectError("concurrent update; retry", Code.Aborted, undefined, undefined, cause);
  // 08P01 protocol violation: we sent something malformed (a NUL in a parameter did this
  // before requests were checked for it). Not a connection failure: retrying cannot help.
  if (sqlState === "08P01") return undefined;
  // 57P01/57P02/57P03 admin shutdown or cannot connect now; 08xxx connection failures.
  if (sqlState.startsWith("57P") || sqlState.startsWith("08")) return unavailable(cause);
  // 55000 is also how Postgres refuses a connection to a database that does not accept
  // any now (ALTER DATABASE … ALLOW_CONNECTIONS false, during maintenance).
  if (sqlState === "55000" && /not currently accepting connections/.test((cause as Error).message)) return unavailable(cause);
  // 53xxx insufficient resources (too many connections, out of memory or disk).
  if (sqlState.startsWith("53"))
    return new ConnectError("database overloaded; retry later", Code.ResourceExhausted, undefined, undefined, cause);
  // 23502 not-null violation: a required value the request left out (or sent as null)
  // that no check caught first. The error's detail holds the row: it must not reach the
  // error log, which an INVALID_ARGUMENT (logged at info, without its cause) does not.
  if (sqlState === "23502") return new ConnectError("a required value is missing", Code.InvalidArgument, undefined, undefined, cause);
  // 22xxx data exceptions (e.g. a value out of range for its column): the input was bad.
  if (sqlState.startsWith("22"))
    return new ConnectError("a value is out of range or malformed", Code.InvalidArgument, undefined, undefined, cause);
  return undefined;
}

// Socket errors of a pooled connection: the database or the path to it went away.
const socketCodes = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN"]);
// node-postgres reports a lost or unobtainable connection with these messages and no code.
const poolFailures = [
  /^Connection terminated/,
  /^timeout exceeded when trying to connect/,
  /^Client has encountered a connection error/,
  /^Connection closed/,
];

/** The error and its causes, outermost first (bounded: causes can form a loop). */
function causeChain(error: unknown): unknown[] {
  const chain: unknown[] = [];
  for (
    let current = error;
    current !== undefined && current !== null && chain.length < 8 && !chain.includes(current);
    current = (current as { cause?: unknown }).cause
  ) {
    chain.push(current);
  }
  return chain;
}

function isAbort(error: unknown): boolean {
  return error instanceof Error && (error.name === "AbortError" || (error as { code?: unknown }).code === "ABORT_ERR");
}

/**
 * Why a call ended before its handler finished, from the call's signal: the deadline
 * (DEADLINE_EXCEEDED) or shutdown (UNAVAILABLE) as their reasons say, else the client
 * left: CANCELED, whatever the reset code or socket error it left with (connect-node
 * names an HTTP/2 RST_STREAM INTERNAL_ERROR from the client INTERNAL, a dropped HTTP/1.1
 * connection ABORTED; neither is a fault of ours, and INTERNAL would be logged as one).
 */
export function fromAbortedCall(signal: AbortSignal, cause?: unknown): ConnectError {
  const reason: unknown = signal.reason;
  if (reason instanceof ConnectError && (reason.code === Code.DeadlineExceeded || reason.code === Code.Unavailable)) return reason;
  return clientLeft(cause ?? reason);
}

/** A call whose client cancelled it or went away (any reset code or socket error): CANCELED. */
export function clientLeft(cause?: unknown): ConnectError {
  return new ConnectError("the client cancelled the call or went away", Code.Canceled, undefined, undefined, cause);
}

function fromInfrastructure(error: unknown): ConnectError | undefined {
  for (const link of causeChain(error)) {
    const code = (link as { code?: unknown } | null)?.code;
    if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) {
      const mapped = fromPostgres(code, error);
      if (mapped !== undefined) return mapped;
    }
    if (typeof code === "string" && socketCodes.has(code)) return unavailable(error);
    if (link instanceof Error && poolFailures.some((pattern) => pattern.test(link.message))) return unavailable(error);
  }
  return undefined;
}

function bounded(error: ConnectError): ConnectError {
  if (error.rawMessage.length <= maxMessageLength) return error;
  const shorter = new ConnectError(cutShort(error.rawMessage, maxMessageLength), error.code, error.metadata, undefined, error.cause);
  shorter.details = error.details;
  return shorter;
}

/**
 * Any thrown value → ConnectError. `signal` is the call's: once it has fired, a failure
 * is the consequence of the client leaving (or the deadline, or shutdown), whatever the
 * code that noticed it threw (an AbortError, a write to a closed stream).
 */
export function toConnectError(error: unknown, signal?: AbortSignal): ConnectError {
  if (error instanceof RunlineError) return bounded(fromDomain(error));
  const deliberate = error instanceof ConnectError && !isServerFault(error.code) && error.code !== Code.Aborted;
  if (signal?.aborted === true && !deliberate) return fromAbortedCall(signal, error);
  if (error instanceof ConnectError) return bounded(error);
  if (isAbort(error)) return new ConnectError("the call was cancelled", Code.Canceled, undefined, undefined, error);
  return fromInfrastructure(error) ?? new ConnectError("internal error", Code.Internal, undefined, undefined, error);
}

/** True for codes that mean a fault of ours, which operators must see (logged as errors). */
export function isServerFault(code: Code): boolean {
  return code === Code.Internal || code === Code.Unknown || code === Code.DataLoss;
}

/** The level a call that ended with `code` is logged at: see observeInterceptor. */
export function logLevelFor(code: Code | undefined): "debug" | "info" | "warn" | "error" {
  if (code === undefined) return "info";
  if (isServerFault(code)) return "error";
  // The database or the process is struggling: worth a look, not a page.
  if (code === Code.Unavailable || code === Code.ResourceExhausted) return "warn";
  // The client left: nothing went wrong here.
  if (code === Code.Canceled) return "debug";
  return "info";
}
