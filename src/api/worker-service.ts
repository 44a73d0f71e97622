/**
 * WorkerService: translation only; claims, leases and their fencing live in workers/.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { LeaseSchema, type FailRunRequest, type Lease, type ReportRunEventsRequest, type WorkerService } from "../../gen/runline/v1/worker_service_pb.js";
import type { Duration } from "@bufbuild/protobuf/wkt";
import type { AppContext } from "../app-context.js";
import { invalidArgument } from "../errors.js";
import { listEventsAfter, type EventRecord } from "../events/event-store.js";
import { createClaimer, type ClaimRequest } from "../workers/claim-runs.js";
import { claimWithWait, createWorkflowResolver } from "../workers/claim-wait.js";
import { assignments, createFinishBoard, type AssignmentDeps } from "../workers/assignment-stream.js";
import { workSession, type WorkSessionDeps } from "./work-session.js";
import { createLeaseDelivery, deliverableLeases } from "./lease-delivery.js";
import { createReportCompleter } from "../workers/complete-and-claim.js";
import type { LeaseRecord } from "../workers/lease-record.js";
import { checkLease, createCompleter, failRun, refuseStaleLease, heartbeat, interruptRun, releaseRun } from "../workers/lease-writes.js";
import { reportRunEvents } from "../workers/report-events.js";
import { tenantOf } from "./caller-context.js";
import { eventMessage, eventMessageAsStored, jsonFromValue, millisFrom, runMessage, runMessageAsStored, timestamp, valueFromJson } from "./proto-convert.js";

const maxWaitMs = 60_000;

function leaseMillis(duration: Duration | undefined, field: string): number {
  const ms = millisFrom(duration, field) ?? 30_000;
  if (ms < 200 || ms > 3_600_000) throw invalidArgument(field, "must be between 0.2 s and 1 h");
  return ms;
}

function checkWorkerId(workerId: string): void {
  if (workerId === "" || workerId.length > 128) throw invalidArgument("worker_id", "must be 1 to 128 characters");
}

function checkMaxRuns(maxRuns: number): number {
  if (maxRuns < 0 || maxRuns > 100) throw invalidArgument("max_runs", "must be between 0 and 100");
  return maxRuns === 0 ? 1 : maxRuns;
}

/** The WorkerService implementation. */
export function workerService(app: AppContext): ServiceImpl<typeof WorkerService> {
  const sql = app.database.sql;
  const claimer = createClaimer(app.database.workerSql);
  const completer = createCompleter(app.database.workerSql);
  const reports = createReportCompleter(app.database.workerSql);
  const board = createFinishBoard();
  const assignmentDeps: AssignmentDeps = {
    sql, hub: app.hub, claimer, board,
    release: async (tenantId, lease) => {
      const run = await releaseRun(sql, tenantId, lease.id, lease.lease_id);
      if (run.status === "QUEUED") app.hub.announceQueued(tenantId);
    },
  };
  // A finished run frees its stream's slot at once (see assignment-stream.ts).
  const finished = <T extends { id: string }>(run: T): T => {
    board.finished(run.id);
    return run;
  };
  // FailRun, unary or on a Work session. A retry waits out its backoff; the sweeper wakes claimers when it is due.
  const fail = async (tenantId: string, request: FailRunRequest) => {
    const error = { message: request.error?.message ?? "", code: request.error?.code ?? "" };
    return finished(await failRun(sql, tenantId, request.runId, request.leaseId, error, request.retryable));
  };
  // ReportRunEvents, unary or on a Work session.
  const report = async (tenantId: string, request: ReportRunEventsRequest) => {
    const events = request.events.map((event, index) => ({ type: event.type, data: jsonFromValue(event.data, `events[${index}].data`), eventId: event.eventId }));
    return (await reportRunEvents(sql, tenantId, request.runId, request.leaseId, events)).map(eventMessage);
  };
  const resolveWorkflowIds = createWorkflowResolver(sql);
  const resumed = (lease: LeaseRecord) => lease.resume_input !== null && lease.resume_input !== undefined;
  // Values as stored, never clamped: lease-delivery.ts fails a run the API cannot express.
  const buildLease = (lease: LeaseRecord, history: readonly EventRecord[]): Lease => create(LeaseSchema, {
    run: runMessageAsStored(lease),
    leaseId: lease.lease_id,
    leaseExpireTime: timestamp(lease.lease_expire_time, "keep"),
    resumeInput: resumed(lease) ? valueFromJson(lease.resume_input, "keep") : undefined,
    history: history.map(eventMessageAsStored),
  });
  // Lease messages for a claimed batch; never leaves a lease committed that is not delivered (lease-delivery.ts).
  const leaseMessages = createLeaseDelivery({
    logger: app.logger,
    history: async (tenantId, lease) => (resumed(lease) ? listEventsAfter(sql, tenantId, lease.id, 0, 1000) : []),
    build: buildLease,
    fail: async (tenantId, lease, error) => void finished(await failRun(sql, tenantId, lease.id, lease.lease_id, error, false)),
    release: async (tenantId, lease) => {
      await assignmentDeps.release(tenantId, lease);
      board.finished(lease.id);
    },
  });
  const claimRequest = async (tenantId: string, request: { workerId: string; workflows: string[] }, maxRuns: number, leaseDuration: Duration | undefined): Promise<ClaimRequest> => {
    checkWorkerId(request.workerId);
    return { workerId: request.workerId, workflowIds: await resolveWorkflowIds(tenantId, request.workflows), maxRuns, leaseMs: leaseMillis(leaseDuration, "lease_duration") };
  };
  const signalOf = (context: HandlerContext) => AbortSignal.any([context.signal, app.shutdownSignal]);
  const sessionDeps: WorkSessionDeps = {
    assignment: assignmentDeps,
    logger: app.logger,
    leaseMessages,
    complete: async (tenantId, request, next) => {
      checkLease(request.runId, request.leaseId);
      const output = jsonFromValue(request.output, "output");
      return reports.report(tenantId, next?.workflowIds ?? [], { runId: request.runId, leaseId: request.leaseId, output, next });
    },
    refusal: (tenantId, runId) => refuseStaleLease(sql, tenantId, runId),
    fail,
    report,
  };
  return {
    async claimRuns(request, context) {
      const tenantId = tenantOf(context);
      const claim = await claimRequest(tenantId, request, checkMaxRuns(request.maxRuns), request.leaseDuration);
      const deadline = Date.now() + Math.min(millisFrom(request.waitTimeout, "wait_timeout") ?? 0, maxWaitMs);
      for (;;) {
        const leases = await claimWithWait(claimer, app.hub, tenantId, claim, Math.max(0, deadline - Date.now()), signalOf(context));
        const messages = await leaseMessages(tenantId, leases);
        // The caller left while the claim ran: nobody will read these leases.
        if (context.signal.aborted) {
          await Promise.all(leases.map((lease) => assignmentDeps.release(tenantId, lease).catch(() => undefined)));
          throw new ConnectError("the call was cancelled", Code.Canceled);
        }
        // Every run claimed was undeliverable (and is failed now): claim again within the same wait.
        if (messages.length > 0 || leases.length === 0) return { leases: messages };
      }
    },
    async *streamAssignments(request, context) {
      const tenantId = tenantOf(context);
      const claim = await claimRequest(tenantId, request, checkMaxRuns(request.maxRuns), request.leaseDuration);
      const signal = signalOf(context);
      for await (const leases of assignments(assignmentDeps, tenantId, claim, signal)) {
        const messages = await leaseMessages(tenantId, leases);
        // The caller left while the messages were built: hand the leases back (see work-session.ts).
        if (signal.aborted) {
          await Promise.all(deliverableLeases(leases, messages).map((lease) => assignmentDeps.release(tenantId, lease)));
          return;
        }
        if (messages.length > 0) yield { leases: messages };
      }
    },
    async *work(requests, context) {
      const tenantId = tenantOf(context);
      const iterator = requests[Symbol.asyncIterator]();
      const first = await iterator.next();
      if (first.done === true || first.value.kind.case !== "open") throw invalidArgument("open", "the first message of a session must be `open`");
      const open = first.value.kind.value;
      const claim = await claimRequest(tenantId, open, checkMaxRuns(open.maxRuns), open.leaseDuration);
      yield* workSession(sessionDeps, tenantId, claim, iterator, signalOf(context));
    },
    async heartbeat(request, context) {
      const beat = await heartbeat(sql, tenantOf(context), request.runId, request.leaseId);
      return { leaseExpireTime: timestamp(beat.leaseExpireTime), cancelRequested: beat.cancelRequested };
    },
    async reportRunEvents(request, context) {
      return { events: await report(tenantOf(context), request) };
    },
    async completeRun(request, context) {
      return { run: runMessage(finished(await completer.complete(tenantOf(context), request.runId, request.leaseId, jsonFromValue(request.output, "output")))) };
    },
    async failRun(request, context) {
      return { run: runMessage(await fail(tenantOf(context), request)) };
    },
    async releaseRun(request, context) {
      const tenantId = tenantOf(context);
      const run = finished(await releaseRun(sql, tenantId, request.runId, request.leaseId));
      if (run.status === "QUEUED") app.hub.announceQueued(tenantId);
      return { run: runMessage(run) };
    },
    async interruptRun(request, context) {
      const result = await interruptRun(sql, tenantOf(context), request.runId, request.leaseId, request.reason, jsonFromValue(request.payload, "payload"), jsonFromValue(request.resumeSchema, "resume_schema"));
      finished(result.run);
      return {
        run: runMessage(result.run),
        interrupt: { id: result.interrupt.id, reason: result.interrupt.reason, payload: valueFromJson(result.interrupt.payload), resumeSchema: valueFromJson(result.interrupt.resumeSchema) },
      };
    },
  };
}
