/**
 * Claimed leases → Lease messages, without ever leaving a committed lease that no
 * executor receives. A claim commits before its answer is built, so two things could
 * strand its runs RUNNING under a lease nobody holds until it expires, after which the
 * next claim takes them first and fails again, blocking their queue for good:
 *
 * - a stored run the API cannot express: a timeout beyond protobuf's ±10,000-year
 *   Duration, a time outside the Timestamp range (0001–9999), a JSON number beyond a
 *   double, written before the boundary checked them or by hand. Each lease is encoded
 *   as JSON once here (the strictest of our encodings; about 6.5 µs a lease measured
 *   against 8 µs to build it) and one that cannot be is failed under its own lease
 *   (FAILED, not retried, error code RUN_NOT_DELIVERABLE naming the field) and left out
 *   of the answer. Failing rather than clamping, as reads do (OutOfRange in
 *   proto-convert.ts): a read only shows the run, but an executor would perform it on
 *   terms other than the stored ones, and the run's own error tells its creator what
 *   to fix.
 * - a failure to read what the messages need (a resumed run's history): every lease of
 *   the batch is handed back (ReleaseRun's statement, the attempt not counted) and the
 *   error goes on to the caller.
 */
import { toJson } from "@bufbuild/protobuf";
import { LeaseSchema, type Lease } from "../../gen/runline/v1/worker_service_pb.js";
import type { EventRecord } from "../events/event-store.js";
import type { Logger } from "../logger.js";
import type { LeaseRecord } from "../workers/lease-record.js";
import { findRequestViolations } from "./request-validation.js";

/** What delivery needs from WorkerService. */
export interface LeaseDeliveryDeps {
  readonly logger: Logger;
  /** Reads what a lease's message carries besides the row (a resumed run's history). */
  readonly history: (tenantId: string, lease: LeaseRecord) => Promise<EventRecord[]>;
  /** Builds a lease's message from the row and its history (no I/O; throws when a value has no proto form). */
  readonly build: (lease: LeaseRecord, history: readonly EventRecord[]) => Lease;
  /** Fails the run under its lease, for good, with `error`. */
  readonly fail: (tenantId: string, lease: LeaseRecord, error: { message: string; code: string }) => Promise<void>;
  /** Hands the lease back without counting the attempt. */
  readonly release: (tenantId: string, lease: LeaseRecord) => Promise<void>;
}

/** The message for `lease`, or why the run cannot be expressed in the API. */
function encodable(deps: LeaseDeliveryDeps, lease: LeaseRecord, history: readonly EventRecord[]): { message: Lease } | { problem: string } {
  let message: Lease | undefined;
  try {
    message = deps.build(lease, history);
    toJson(LeaseSchema, message);
    return { message };
  } catch (error) {
    const violation = message === undefined ? undefined : findRequestViolations(LeaseSchema, message)[0];
    return { problem: violation === undefined ? (error as Error).message : `${violation.field}: ${violation.description}` };
  }
}

/** Builds the messages for a batch of claimed leases: the deliverable ones, in order. */
export function createLeaseDelivery(deps: LeaseDeliveryDeps): (tenantId: string, leases: readonly LeaseRecord[]) => Promise<Lease[]> {
  const failUndeliverable = async (tenantId: string, lease: LeaseRecord, problem: string) => {
    deps.logger.warn({ runId: lease.id, problem }, "claimed run cannot be expressed in the API; failing it");
    const message = `the stored run cannot be expressed in the API, so no executor can receive it (${problem})`;
    await deps.fail(tenantId, lease, { message, code: "RUN_NOT_DELIVERABLE" }).catch((error: unknown) =>
      deps.logger.error({ err: error, runId: lease.id }, "failing an undeliverable run failed; its lease will expire"));
  };
  return async (tenantId, leases) => {
    let histories: EventRecord[][];
    try {
      histories = await Promise.all(leases.map((lease) => deps.history(tenantId, lease)));
    } catch (error) {
      await Promise.all(leases.map((lease) => deps.release(tenantId, lease).catch(() => undefined)));
      throw error;
    }
    const messages: Lease[] = [];
    for (const [index, lease] of leases.entries()) {
      const result = encodable(deps, lease, histories[index]!);
      if ("message" in result) messages.push(result.message);
      else await failUndeliverable(tenantId, lease, result.problem);
    }
    return messages;
  };
}

/**
 * The leases of a batch whose messages `createLeaseDelivery` built: the ones to hand back
 * when nobody will receive them after all (the undeliverable ones are failed already).
 */
export function deliverableLeases(leases: readonly LeaseRecord[], messages: readonly Lease[]): LeaseRecord[] {
  const built = new Set(messages.map((message) => message.leaseId));
  return leases.filter((lease) => built.has(lease.lease_id));
}
