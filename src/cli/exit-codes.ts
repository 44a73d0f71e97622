/**
 * The exit codes of `runline`, in one table so that scripts can branch on them and the
 * help text, the error report and the run commands cannot drift apart.
 *
 *   0  success (for commands that follow a run: it SUCCEEDED)
 *   1  any other error
 *   2  usage: unknown command, bad flag or argument
 *   3  not found
 *   4  auth: no key, a bad key, or a key without the scope
 *   5  refused request: invalid argument or failed precondition
 *   6  unavailable: the server cannot be reached or is shutting down
 *  10  the run FAILED            11  the run was CANCELLED     12  the run TIMED_OUT
 *  13  the run is INTERRUPTED (waiting for `runs resume`)
 *  14  the run had not settled when the wait ended
 */
import { Code } from "@connectrpc/connect";
import { RunStatus } from "../../gen/runline/v1/run_pb.js";

/** Every exit code the CLI uses, by meaning. */
export const exitCodes = {
  ok: 0,
  failure: 1,
  usage: 2,
  notFound: 3,
  auth: 4,
  refused: 5,
  unavailable: 6,
  runFailed: 10,
  runCancelled: 11,
  runTimedOut: 12,
  runInterrupted: 13,
  runNotSettled: 14,
} as const;

/** Connect error codes with an exit code of their own; every other code exits with `failure`. */
const exitCodeByErrorCode: ReadonlyMap<Code, number> = new Map([
  [Code.NotFound, exitCodes.notFound],
  [Code.Unauthenticated, exitCodes.auth],
  [Code.PermissionDenied, exitCodes.auth],
  [Code.InvalidArgument, exitCodes.refused],
  [Code.FailedPrecondition, exitCodes.refused],
  [Code.Unavailable, exitCodes.unavailable],
]);

/** The exit code for a Connect error code, so that auth and not-found failures are told apart without parsing messages. */
export function exitCodeForErrorCode(code: Code): number {
  return exitCodeByErrorCode.get(code) ?? exitCodes.failure;
}

/** Settled run statuses with an exit code of their own; a run still on its way exits with `runNotSettled`. */
const exitCodeByRunStatus: ReadonlyMap<RunStatus, number> = new Map([
  [RunStatus.SUCCEEDED, exitCodes.ok],
  [RunStatus.FAILED, exitCodes.runFailed],
  [RunStatus.CANCELLED, exitCodes.runCancelled],
  [RunStatus.TIMED_OUT, exitCodes.runTimedOut],
  [RunStatus.INTERRUPTED, exitCodes.runInterrupted],
]);

/** The exit code for where a followed run ended up, so `runs watch && deploy` does what it reads like. */
export function exitCodeForRunStatus(status: RunStatus): number {
  return exitCodeByRunStatus.get(status) ?? exitCodes.runNotSettled;
}

/** The exit-code table as the help text shows it. */
export const exitCodeHelp = `exit codes:
  0 success (a followed run SUCCEEDED)   1 other error        2 usage error
  3 not found                            4 auth (no, bad or under-scoped key)
  5 invalid argument / failed precondition                    6 server unreachable or unavailable
  10 run FAILED   11 run CANCELLED   12 run TIMED_OUT   13 run INTERRUPTED   14 run not settled when the wait ended`;
