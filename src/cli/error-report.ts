/**
 * Turns any failure into what the user sees: one line `runline: <code>: <message>` on
 * stderr (plus the field violations of a google.rpc.BadRequest, or the usage line of a
 * bad command line) and the exit code from exit-codes.ts.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema } from "../../gen/google/rpc/error_details_pb.js";
import { ConfigError } from "../config.js";
import { CliError, UsageError } from "./cli-errors.js";
import { exitCodeForErrorCode, exitCodes } from "./exit-codes.js";

/** The lines to print on stderr and the exit code. */
export interface ErrorReport {
  readonly lines: readonly string[];
  readonly exitCode: number;
}

// Socket-level failures: the server is down, unreachable or went away mid-call.
const networkErrorCodes = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EPIPE",
  "UND_ERR_SOCKET",
]);

function networkErrorCode(error: unknown): string | undefined {
  const seen = new Set<unknown>();
  for (let cause = error; cause instanceof Error && !seen.has(cause); cause = cause.cause) {
    seen.add(cause);
    const code = (cause as NodeJS.ErrnoException).code;
    if (typeof code === "string" && networkErrorCodes.has(code)) return code;
  }
  return undefined;
}

/** `not_found` for Code.NotFound: the Connect protocol's spelling, which the docs and curl users see. */
export function codeName(code: Code): string {
  return (Code[code] ?? "unknown").replace(/(?<!^)([A-Z])/g, "_$1").toLowerCase();
}

function fromConnectError(error: ConnectError, server: string | undefined): ErrorReport {
  const network = networkErrorCode(error);
  if (network !== undefined) {
    return { lines: [`runline: unavailable: cannot reach ${server ?? "the server"} (${network})`], exitCode: exitCodes.unavailable };
  }
  const violations = error
    .findDetails(BadRequestSchema)
    .flatMap((detail) => detail.fieldViolations)
    .map((violation) => `${violation.field}: ${violation.description}`);
  // A message that already is its only violation is not repeated under itself.
  const listed = violations.length === 1 && violations[0] === error.rawMessage ? [] : violations;
  return {
    lines: [`runline: ${codeName(error.code)}: ${error.rawMessage}`, ...listed.map((violation) => `  ${violation}`)],
    exitCode: exitCodeForErrorCode(error.code),
  };
}

/** The report for `error`; `server` is named when it cannot be reached. */
export function reportError(error: unknown, server: string | undefined): ErrorReport {
  if (error instanceof UsageError) {
    return {
      lines: [
        `runline: usage: ${error.message}`,
        error.usage === undefined ? "run 'runline --help' for the commands" : `usage: ${error.usage}`,
      ],
      exitCode: error.exitCode,
    };
  }
  if (error instanceof CliError) return { lines: [`runline: ${error.label}: ${error.message}`], exitCode: error.exitCode };
  if (error instanceof ConfigError) return { lines: [`runline: bad configuration: ${error.message}`], exitCode: exitCodes.usage };
  if (error instanceof ConnectError) return fromConnectError(error, server);
  if (networkErrorCode(error) !== undefined) return fromConnectError(ConnectError.from(error, Code.Unavailable), server);
  const message = error instanceof Error ? error.message : String(error);
  return { lines: [`runline: error: ${message}`], exitCode: exitCodes.failure };
}
