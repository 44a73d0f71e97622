/**
 * WorkerService: translation only. Claims, leases, their fencing and Work sessions live
 * in workers/ (executor-writes.ts is the way in); messages are translated in
 * worker-messages.ts.
 */
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import type { Duration } from "@bufbuild/protobuf/wkt";
import type { WorkerService } from "../../gen/runline/v1/worker_service_pb.js";
import type { AppContext } from "../app-context.js";
import { invalidArgument } from "../errors.js";
import type { ClaimRequest } from "../workers/claim-runs.js";
import { createExecutorWrites } from "../workers/executor-writes.js";
import { assignDelivered, claimDelivered, createLeaseDelivery } from "../workers/lease-delivery.js";
import { workSession } from "../workers/work-session.js";
import { tenantOf } from "./caller-context.js";
import { eventMessage, jsonFromValue, millisFrom, runMessage, timestamp, valueFromJson } from "./proto-convert.js";
import { leaseMessage, newEvents, sessionMessages, workResponse } from "./worker-messages.js";

const maxWaitMs = 60_000;

function leaseMillis(duration: Duration | undefined, field: string): number {
  const ms = millisFrom(duration, field) ?? 30_000;
  if (ms < 200 || ms > 3_600_000) throw invalidArgument(field, "must be between 0.2 s and 1 h");
  return ms;
}

function checkWorkerId(workerId: string): void {
  if (workerId === "" || workerId.length > 128) throw invalidArgument("workerId", "must be 1 to 128 characters");
}

function checkMaxRuns(maxRuns: number): number {
  if (maxRuns < 0 || maxRuns > 100) throw invalidArgument("maxRuns", "must be between 0 and 100");
  return maxRuns === 0 ? 1 : maxRuns;
}

/** The WorkerService implementation. */
export function workerService(app: AppContext): ServiceImpl<typeof WorkerService> {
  const executors = createExecutorWrites(app);
  // Lease messages for a claimed batch; never leaves a lease committed that is not delivered.
  const deliver = createLeaseDelivery(executors, app.logger, leaseMessage);
  const session = { executors, deliver, logger: app.logger };
  const claimRequest = async (
    tenantId: string,
    request: { workerId: string; workflows: string[] },
    maxRuns: number,
    leaseDuration: Duration | undefined,
  ): Promise<ClaimRequest> => {
    checkWorkerId(request.workerId);
    return {
      workerId: request.workerId,
      workflowIds: await executors.resolveWorkflows(tenantId, request.workflows),
      maxRuns,
      leaseMs: leaseMillis(leaseDuration, "leaseDuration"),
    };
  };
  const signalOf = (context: HandlerContext) => AbortSignal.any([context.signal, app.shutdownSignal]);
  return {
    async claimRuns(request, context) {
      const tenantId = tenantOf(context);
      const claim = await claimRequest(tenantId, request, checkMaxRuns(request.maxRuns), request.leaseDuration);
      const waitMs = Math.min(millisFrom(request.waitTimeout, "waitTimeout") ?? 0, maxWaitMs);
      const leases = await claimDelivered(executors, deliver, tenantId, claim, waitMs, signalOf(context), context.signal);
      if (leases === undefined) throw new ConnectError("the call was cancelled", Code.Canceled);
      return { leases };
    },
    async *streamAssignments(request, context) {
      const tenantId = tenantOf(context);
      const claim = await claimRequest(tenantId, request, checkMaxRuns(request.maxRuns), request.leaseDuration);
      for await (const leases of assignDelivered(executors, deliver, tenantId, claim, signalOf(context))) yield { leases };
    },
    async *work(requests, context) {
      const tenantId = tenantOf(context);
      const iterator = requests[Symbol.asyncIterator]();
      const first = await iterator.next();
      if (first.done === true || first.value.kind.case !== "open")
        throw invalidArgument("open", "the first message of a session must be `open`");
      const open = first.value.kind.value;
      const claim = await claimRequest(tenantId, open, checkMaxRuns(open.maxRuns), open.leaseDuration);
      for await (const answer of workSession(session, tenantId, claim, sessionMessages(iterator), signalOf(context)))
        yield workResponse(app.logger, answer);
    },
    async heartbeat(request, context) {
      const beat = await executors.heartbeat(tenantOf(context), request.runId, request.leaseId);
      return { leaseExpireTime: timestamp(beat.leaseExpireTime), cancelRequested: beat.cancelRequested };
    },
    async reportRunEvents(request, context) {
      const events = newEvents(request.events);
      return { events: (await executors.report(tenantOf(context), request.runId, request.leaseId, events)).map(eventMessage) };
    },
    async completeRun(request, context) {
      return {
        run: runMessage(
          await executors.complete(tenantOf(context), request.runId, request.leaseId, jsonFromValue(request.output, "output")),
        ),
      };
    },
    async failRun(request, context) {
      const error = { message: request.error?.message ?? "", code: request.error?.code ?? "" };
      return { run: runMessage(await executors.fail(tenantOf(context), request.runId, request.leaseId, error, request.retryable)) };
    },
    async releaseRun(request, context) {
      return { run: runMessage(await executors.release(tenantOf(context), request.runId, request.leaseId)) };
    },
    async interruptRun(request, context) {
      const result = await executors.interrupt(tenantOf(context), request.runId, request.leaseId, {
        reason: request.reason,
        payload: jsonFromValue(request.payload, "payload"),
        resumeSchema: jsonFromValue(request.resumeSchema, "resumeSchema"),
      });
      return {
        run: runMessage(result.run),
        interrupt: {
          id: result.interrupt.id,
          reason: result.interrupt.reason,
          payload: valueFromJson(result.interrupt.payload),
          resumeSchema: valueFromJson(result.interrupt.resumeSchema),
        },
      };
    },
  };
}
