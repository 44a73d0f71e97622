/**
 * The one place that turns failures into Connect errors. Domain refusals keep their
 * kind, message and field violations (google.rpc.BadRequest) plus an ErrorInfo reason;
 * infrastructure failures are mapped by SQLSTATE; anything else becomes INTERNAL with a
 * generic message, so no SQL, stack trace or other tenant's data reaches a caller.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema, ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { RunlineError, type ErrorKind } from "../errors.js";

const codes: Record<ErrorKind, Code> = {
  invalid_argument: Code.InvalidArgument,
  not_found: Code.NotFound,
  already_exists: Code.AlreadyExists,
  failed_precondition: Code.FailedPrecondition,
  permission_denied: Code.PermissionDenied,
  unauthenticated: Code.Unauthenticated,
  aborted: Code.Aborted,
  unavailable: Code.Unavailable,
};

const errorDomain = "runline.dev";

function fromDomain(error: RunlineError): ConnectError {
  const details = [{ desc: ErrorInfoSchema, value: create(ErrorInfoSchema, { reason: error.reason, domain: errorDomain }) }];
  const withViolations =
    error.violations.length === 0
      ? details
      : [...details, { desc: BadRequestSchema, value: create(BadRequestSchema, { fieldViolations: error.violations.map((v) => ({ field: v.field, description: v.description })) }) }];
  return new ConnectError(error.message, codes[error.kind], undefined, withViolations, error);
}

/** Postgres SQLSTATE → code, for failures that reach here unhandled. */
function fromPostgres(sqlState: string, cause: unknown): ConnectError | undefined {
  // 40001 serialization failure, 40P01 deadlock: the caller may retry as is.
  if (sqlState === "40001" || sqlState === "40P01") return new ConnectError("concurrent update; retry", Code.Aborted, undefined, undefined, cause);
  // 57P01/57P02/57P03 admin shutdown or cannot connect now; 08xxx connection failures.
  if (sqlState.startsWith("57P") || sqlState.startsWith("08")) return new ConnectError("database unavailable; retry", Code.Unavailable, undefined, undefined, cause);
  // 53xxx insufficient resources (too many connections, out of memory or disk).
  if (sqlState.startsWith("53")) return new ConnectError("database overloaded; retry later", Code.ResourceExhausted, undefined, undefined, cause);
  // 22xxx data exceptions (e.g. a value out of range for its column): the input was bad.
  if (sqlState.startsWith("22")) return new ConnectError("a value is out of range or malformed", Code.InvalidArgument, undefined, undefined, cause);
  return undefined;
}

/** Any thrown value → ConnectError. */
export function toConnectError(error: unknown): ConnectError {
  if (error instanceof ConnectError) return error;
  if (error instanceof RunlineError) return fromDomain(error);
  const sqlState = (error as { code?: unknown } | null)?.code;
  if (typeof sqlState === "string" && /^[0-9A-Z]{5}$/.test(sqlState)) {
    const mapped = fromPostgres(sqlState, error);
    if (mapped !== undefined) return mapped;
  }
  // Pool and socket failures before any SQLSTATE.
  if ((error as { code?: unknown } | null)?.code === "ECONNREFUSED") return new ConnectError("database unavailable; retry", Code.Unavailable, undefined, undefined, error);
  return new ConnectError("internal error", Code.Internal, undefined, undefined, error);
}
