/**
 * Claimed leases → the messages executors receive, without ever leaving a committed
 * lease that no executor receives. A claim commits before its answer is built, so two
 * things could strand its runs RUNNING under a lease nobody holds until it expires,
 * after which the next claim takes them first and fails again, blocking their queue
 * for good:
 *
 * - a stored run the API cannot express: a timeout beyond protobuf's ±10,000-year
 *   Duration, a time outside the Timestamp range (0001–9999), a JSON number beyond a
 *   double, written before the boundary checked them or by hand. The API layer says
 *   which (`LeaseExpression`); such a run is failed under its own lease (FAILED, not
 *   retried, error code RUN_NOT_DELIVERABLE naming the field) and left out of the
 *   answer. Failing rather than clamping, as reads do: a read only shows the run, but an
 *   executor would perform it on terms other than the stored ones, and the run's own
 *   error tells its creator what to fix.
 * - a failure to read what the messages need (a resumed run's history): every lease of
 *   the batch is handed back (ReleaseRun's statement, the attempt not counted) and the
 *   error goes on to the caller.
 *
 * The three ways leases reach an executor (ClaimRuns, StreamAssignments, a Work session)
 * all deliver through here; the message type is the API's, so this folder never sees it.
 */
import type { EventRecord } from "../runs/event-append.js";
import type { Logger } from "../logger.js";
import { assignments } from "./assignment-stream.js";
import type { ClaimRequest } from "./claim-runs.js";
import { claimWithWait } from "./claim-wait.js";
import type { ExecutorWrites } from "./executor-writes.js";
import type { LeaseRecord } from "./lease-record.js";

/**
 * A lease as the API carries it, built from the row and its history (no I/O), or why
 * the run cannot be expressed in the API (`problem` names the field).
 */
export type LeaseExpression<M> = (lease: LeaseRecord, history: readonly EventRecord[]) => { message: M } | { problem: string };

/** A lease that can be delivered, with its message. */
export interface Deliverable<M> {
  readonly lease: LeaseRecord;
  readonly message: M;
}

/** Builds the messages of claimed batches, failing or handing back what cannot be delivered. */
export type LeaseDelivery<M> = (tenantId: string, leases: readonly LeaseRecord[]) => Promise<Deliverable<M>[]>;

/** Delivery through `express`: the deliverable leases of a batch, in order. */
export function createLeaseDelivery<M>(executors: ExecutorWrites, logger: Logger, express: LeaseExpression<M>): LeaseDelivery<M> {
  const failUndeliverable = async (tenantId: string, lease: LeaseRecord, problem: string) => {
    logger.warn({ runId: lease.id, problem }, "claimed run cannot be expressed in the API; failing it");
    const message = `the stored run cannot be expressed in the API, so no executor can receive it (${problem})`;
    await executors
      .fail(tenantId, lease.id, lease.lease_id, { message, code: "RUN_NOT_DELIVERABLE" }, false)
      .catch((error: unknown) =>
        logger.error({ err: error, runId: lease.id }, "failing an undeliverable run failed; its lease will expire"),
      );
  };
  const handBack = (tenantId: string, lease: LeaseRecord) => executors.release(tenantId, lease.id, lease.lease_id).then(() => undefined);
  return async (tenantId, leases) => {
    let histories: EventRecord[][];
    try {
      histories = await Promise.all(leases.map((lease) => executors.history(tenantId, lease)));
    } catch (error) {
      await Promise.all(leases.map((lease) => handBack(tenantId, lease).catch(() => undefined)));
      throw error;
    }
    const delivered: Deliverable<M>[] = [];
    for (const [index, lease] of leases.entries()) {
      const result = express(lease, histories[index]!);
      if ("message" in result) delivered.push({ lease, message: result.message });
      else await failUndeliverable(tenantId, lease, result.problem);
    }
    return delivered;
  };
}

/** Hands back leases nobody will receive after all (the undeliverable ones are failed already). */
export async function handBackDelivered<M>(
  executors: ExecutorWrites,
  tenantId: string,
  delivered: readonly Deliverable<M>[],
): Promise<void> {
  await Promise.all(delivered.map(({ lease }) => executors.assignment.release(tenantId, lease)));
}

/**
 * ClaimRuns: the messages of one claim, waiting up to `waitMs` for a run; undefined when
 * the caller left while the claim ran (its leases are handed back: nobody will read them).
 */
export async function claimDelivered<M>(
  executors: ExecutorWrites,
  deliver: LeaseDelivery<M>,
  tenantId: string,
  claim: ClaimRequest,
  waitMs: number,
  signal: AbortSignal,
  callerLeft: AbortSignal,
): Promise<M[] | undefined> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const leases = await claimWithWait(
      executors.claimer,
      executors.assignment.hub,
      tenantId,
      claim,
      Math.max(0, deadline - Date.now()),
      signal,
    );
    const delivered = await deliver(tenantId, leases);
    if (callerLeft.aborted) {
      await Promise.all(leases.map((lease) => executors.assignment.release(tenantId, lease).catch(() => undefined)));
      return undefined;
    }
    // Every run claimed was undeliverable (and is failed now): claim again within the same wait.
    if (delivered.length > 0 || leases.length === 0) return delivered.map(({ message }) => message);
  }
}

/** StreamAssignments: batches of lease messages until `signal` aborts. */
export async function* assignDelivered<M>(
  executors: ExecutorWrites,
  deliver: LeaseDelivery<M>,
  tenantId: string,
  claim: ClaimRequest,
  signal: AbortSignal,
): AsyncGenerator<M[]> {
  for await (const leases of assignments(executors.assignment, tenantId, claim, signal)) {
    const delivered = await deliver(tenantId, leases);
    // The caller left while the messages were built: hand the leases back (see work-session.ts).
    if (signal.aborted) return void (await handBackDelivered(executors, tenantId, delivered));
    if (delivered.length > 0) yield delivered.map(({ message }) => message);
  }
}
