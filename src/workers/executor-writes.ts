/**
 * One process's side of its executors: the statements their writes share (claims,
 * completions, completions with a replacement, batched per tenant), the finish board
 * that wakes a stream when one of its runs ends, and every executor write, so that a
 * write freeing a slot always tells the board, whichever call (unary, StreamAssignments
 * or a Work session) made it. Built once per process; api/worker-service.ts only
 * translates its calls into these.
 */
import type { AppContext } from "../app-context.js";
import { listEventsAfter } from "../events/event-store.js";
import type { EventRecord, NewEvent } from "../runs/event-append.js";
import type { RunRecord } from "../runs/run-record.js";
import type { AssignmentDeps, FinishBoard } from "./assignment-stream.js";
import { createFinishBoard } from "./assignment-stream.js";
import { createClaimer, type Claimer, type ClaimRequest } from "./claim-runs.js";
import { createWorkflowResolver } from "./claim-wait.js";
import { createReportCompleter, type Reported } from "./complete-and-claim.js";
import type { LeaseRecord } from "./lease-record.js";
import {
  checkLease,
  createCompleter,
  failRun,
  heartbeat,
  interruptRun,
  refuseStaleLease,
  releaseRun,
  type InterruptRecord,
  type InterruptRequest,
} from "./lease-writes.js";
import { createQueueHints } from "./queue-hints.js";
import { reportRunEvents } from "./report-events.js";

/** Every write an executor makes, and what its streams share. */
export interface ExecutorWrites {
  readonly claimer: Claimer;
  readonly board: FinishBoard;
  /** What an assignment stream needs (assignment-stream.ts). */
  readonly assignment: AssignmentDeps;
  /** The ids of the workflows a claimer names by id or slug (NOT_FOUND for an unknown one). */
  resolveWorkflows(tenantId: string, workflows: readonly string[]): Promise<string[]>;
  /** What a resumed run's lease carries besides the row: its history so far. */
  history(tenantId: string, lease: LeaseRecord): Promise<EventRecord[]>;
  complete(tenantId: string, runId: string, leaseId: string, output: unknown): Promise<RunRecord>;
  /** Completes and, when `next` is given, claims a replacement in the same statement (complete-and-claim.ts). */
  completeAndClaim(
    tenantId: string,
    runId: string,
    leaseId: string,
    output: () => unknown,
    next: ClaimRequest | undefined,
  ): Promise<Reported>;
  /** Why a completion matched nothing (always rejects). */
  refusal(tenantId: string, runId: string): Promise<never>;
  /** A retry waits out its backoff; the sweeper wakes claimers when it is due. */
  fail(tenantId: string, runId: string, leaseId: string, error: { message: string; code: string }, retryable: boolean): Promise<RunRecord>;
  /** Hands the run back (ReleaseRun's statement) and wakes the tenant's claimers when it is QUEUED again. */
  release(tenantId: string, runId: string, leaseId: string): Promise<RunRecord>;
  interrupt(
    tenantId: string,
    runId: string,
    leaseId: string,
    request: InterruptRequest,
  ): Promise<{ run: RunRecord; interrupt: InterruptRecord }>;
  /** Appends to the log of a run the lease holds (report-events.ts). */
  report(tenantId: string, runId: string, leaseId: string, events: readonly NewEvent[]): Promise<EventRecord[]>;
  heartbeat(tenantId: string, runId: string, leaseId: string): Promise<{ leaseExpireTime: string; cancelRequested: boolean }>;
}

/** The executor side of one process, over its database and event hub. */
export function createExecutorWrites(app: Pick<AppContext, "database" | "hub" | "claimHeadScanMs">): ExecutorWrites {
  const sql = app.database.sql;
  // Claims and completions with a replacement take runs from the same queues: one set of hints.
  const hints = createQueueHints({ headScanMs: app.claimHeadScanMs });
  const claimer = createClaimer(app.database.workerSql, hints);
  const completer = createCompleter(app.database.workerSql);
  const reports = createReportCompleter(app.database.workerSql, hints);
  const board = createFinishBoard();
  // A finished run frees its stream's slot at once (see assignment-stream.ts).
  const finished = <T extends { id: string }>(run: T): T => {
    board.finished(run.id);
    return run;
  };
  const assignment: AssignmentDeps = {
    sql,
    hub: app.hub,
    claimer,
    board,
    // The executor never saw the lease: the run is not finished, only handed back.
    release: async (tenantId, lease) => {
      const run = await releaseRun(sql, tenantId, lease.id, lease.lease_id);
      if (run.status === "QUEUED") app.hub.announceQueued(tenantId);
    },
  };
  return {
    claimer,
    board,
    assignment,
    resolveWorkflows: createWorkflowResolver(sql),
    history: async (tenantId, lease) =>
      lease.resume_input !== null && lease.resume_input !== undefined ? listEventsAfter(sql, tenantId, lease.id, 0, 1000) : [],
    complete: async (tenantId, runId, leaseId, output) => finished(await completer.complete(tenantId, runId, leaseId, output)),
    completeAndClaim: async (tenantId, runId, leaseId, output, next) => {
      checkLease(runId, leaseId);
      return reports.report(tenantId, next?.workflowIds ?? [], { runId, leaseId, output: output(), next });
    },
    refusal: (tenantId, runId) => refuseStaleLease(sql, tenantId, runId),
    fail: async (tenantId, runId, leaseId, error, retryable) => finished(await failRun(sql, tenantId, runId, leaseId, error, retryable)),
    release: async (tenantId, runId, leaseId) => {
      const run = finished(await releaseRun(sql, tenantId, runId, leaseId));
      if (run.status === "QUEUED") app.hub.announceQueued(tenantId);
      return run;
    },
    interrupt: async (tenantId, runId, leaseId, request) => {
      const result = await interruptRun(sql, tenantId, runId, leaseId, request);
      finished(result.run);
      return result;
    },
    report: (tenantId, runId, leaseId, events) => reportRunEvents(sql, tenantId, runId, leaseId, events),
    heartbeat: (tenantId, runId, leaseId) => heartbeat(sql, tenantId, runId, leaseId),
  };
}
