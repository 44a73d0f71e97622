/**
 * Errors the CLI raises itself, before or instead of a call: they carry their exit code
 * and a short label, so the error report prints them like server errors.
 */
import { exitCodes } from "./exit-codes.js";

/** A failure with a label (`runline: <label>: <message>`) and the exit code it ends the process with. */
export class CliError extends Error {
  constructor(
    readonly label: string,
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = "CliError";
  }
}

/** A bad command line: reported with the usage line of the command it was meant for, exit code 2. */
export class UsageError extends CliError {
  constructor(
    message: string,
    /** The one-line usage to print under the error, when known. */
    readonly usage?: string,
  ) {
    super("usage", message, exitCodes.usage);
    this.name = "UsageError";
  }
}
