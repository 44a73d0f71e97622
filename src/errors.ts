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
  | "resource_exhausted"
  | "unavailable";

/**
 * One bad field of a request, named by its path in JSON names, as callers write the
 * request on every protocol (`pageSize`, `requests[2].scheduleTime`, `labels[team]`,
 * `input.age`); google.rpc.BadRequest documents this form for JSON.
 */
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

// Echoed values are cut to this many characters: a 1 MB id copied into a message made the
// gRPC trailer larger than clients accept, and they saw a stream reset instead of the error.
const maxEchoedLength = 64;
const maxDescriptionLength = 512;

/**
 * Whether echoed has anything to escape. Most values have nothing: request validation
 * names every key of every JSON value it walks (api/request-validation.ts), and copying
 * each one character by character was a tenth of the server's time for an
 * IngestRunEvents of 100 events.
 */
function hasControlCharacter(text: string): boolean {
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

/**
 * A caller's value as it may appear in an error message or field path: at most 64
 * characters (then "…" and how many more), control characters escaped.
 */
export function echoed(value: string): string {
  if (value.length <= maxEchoedLength && !hasControlCharacter(value)) return value;
  const visible = (text: string) =>
    Array.from(text, (char) => (char < " " || char === "\u007f" ? `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}` : char)).join(
      "",
    );
  if (value.length <= maxEchoedLength) return visible(value);
  return `${visible(value.slice(0, maxEchoedLength))}…(${value.length - maxEchoedLength} more characters)`;
}

/** `text`, or its first `max` characters and "…" when it is longer. */
export function cutShort(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}

/** A request field with a bad value (field path and description are bounded in length). */
export function invalidArgument(field: string, description: string): RunlineError {
  const name = cutShort(field, maxDescriptionLength);
  const why = cutShort(description, maxDescriptionLength);
  return new RunlineError("invalid_argument", `${name}: ${why}`, "INVALID_ARGUMENT", [{ field: name, description: why }]);
}

/** Several bad fields at once (e.g. JSON Schema violations). */
export function invalidFields(message: string, violations: readonly FieldViolation[]): RunlineError {
  return new RunlineError("invalid_argument", message, "INVALID_ARGUMENT", violations);
}

/** Unknown or another tenant's resource: both look the same to the caller. */
export function notFound(what: string, id: string): RunlineError {
  return new RunlineError("not_found", `${what} "${echoed(id)}" not found`, `${what.toUpperCase().replace(/ /g, "_")}_NOT_FOUND`);
}

/** The resource is not in a state that allows the request. */
export function failedPrecondition(message: string, reason: string): RunlineError {
  return new RunlineError("failed_precondition", message, reason);
}
