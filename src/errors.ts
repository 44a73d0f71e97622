/**
 * Errors the domain raises, in its own words. They know nothing of HTTP or Connect:
 * `api/error-mapping.ts` is the one place that turns them into status codes.
 */

/** What went wrong, in the categories callers can act on. */
export type ErrorKind =
  | "invalid_argument"
  | "not_found"
  | "already_exists"
  | "failed_precondition"
  | "permission_denied"
  | "unauthenticated"
  | "aborted"
  | "unavailable";

/** One bad field of a request, named by its proto path (e.g. `input.age`). */
export interface FieldViolation {
  readonly field: string;
  readonly description: string;
}

/** A refusal with a kind, a stable machine-readable reason and, for bad input, the fields. */
export class RunlineError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
    /** UPPER_SNAKE reason, sent as google.rpc.ErrorInfo.reason. */
    readonly reason: string,
    readonly violations: readonly FieldViolation[] = [],
  ) {
    super(message);
    this.name = "RunlineError";
  }
}

/** A request field with a bad value. */
export function invalidArgument(field: string, description: string): RunlineError {
  return new RunlineError("invalid_argument", `${field}: ${description}`, "INVALID_ARGUMENT", [{ field, description }]);
}

/** Several bad fields at once (e.g. JSON Schema violations). */
export function invalidFields(message: string, violations: readonly FieldViolation[]): RunlineError {
  return new RunlineError("invalid_argument", message, "INVALID_ARGUMENT", violations);
}

/** Unknown or another tenant's resource: both look the same to the caller. */
export function notFound(what: string, id: string): RunlineError {
  return new RunlineError("not_found", `${what} "${id}" not found`, `${what.toUpperCase().replace(/ /g, "_")}_NOT_FOUND`);
}

/** The resource is not in a state that allows the request. */
export function failedPrecondition(message: string, reason: string): RunlineError {
  return new RunlineError("failed_precondition", message, reason);
}
