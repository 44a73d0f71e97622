/**
 * The status changes of one run, by primary key (runs_pkey), each guarded in its WHERE
 * and writing its status event and NOTIFY in the same statement: the caller-driven ones
 * (CancelRun, ResumeRun) and the executor's lease-fenced ones (FailRun, ReleaseRun,
 * InterruptRun). CompleteRun is batched: completion-statements.ts.
 */
import { namedStatement } from "./named-statement.js";
import { singleRunStatement } from "./transition-sql.js";
import { transitions } from "./transitions.js";

const run = { tenantId: "uuid", runId: "uuid" } as const;
const leased = { ...run, leaseId: "uuid" } as const;

/** CancelRun's change; a run in another status matches no row. */
export const cancelStatement = namedStatement({ ...run, reason: "text" }, singleRunStatement(transitions.cancel));

/** ResumeRun's change, guarded on the interrupt being the run's current one. */
export const resumeStatement = namedStatement({ ...run, input: "jsonb", interruptId: "text" }, singleRunStatement(transitions.resume));

/** FailRun's change (error: the stored error object; retryable: may the run be retried). */
export const failStatement = namedStatement({ ...leased, error: "jsonb", retryable: "boolean" }, singleRunStatement(transitions.fail));

/** ReleaseRun's change. */
export const releaseStatement = namedStatement(leased, singleRunStatement(transitions.release));

/** InterruptRun's change (interrupt: the stored interrupt object). */
export const interruptStatement = namedStatement({ ...leased, interrupt: "jsonb" }, singleRunStatement(transitions.interrupt));
