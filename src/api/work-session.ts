/**
 * WorkerService.Work: one executor's two-way session. Two tasks feed one outgoing queue:
 * the assigner pushes leases (assignment-stream.ts, as StreamAssignments does) and the
 * reader answers each `complete` / `fail` with an `outcome` and each `report` with a
 * `reported` as soon as its statement returns (completions of many sessions share
 * statements, see lease-writes.ts). The reader does not wait for one answer before
 * reading the next, except to bound what the executor makes the server hold (answers
 * being prepared or waiting to be sent, in messages and in bytes); but the messages
 * about one run are applied in the order sent (`afterEarlier`), so its events keep
 * their order and land before its outcome closes the log.
 *
 * Ending: when the executor closes its side, assigning stops, pending outcomes are
 * answered, and the stream ends. When the call is cancelled (or the server shuts
 * down), both tasks stop; leases claimed but not yet pushed are handed back.
 */
import { create } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { RunStatus, type RunEvent } from "../../gen/runline/v1/run_pb.js";
import { WorkResponseSchema, type Lease, type ReportRunEventsRequest, type WorkRequest, type WorkResponse, type WorkOutcome } from "../../gen/runline/v1/worker_service_pb.js";
import { invalidArgument, RunlineError } from "../errors.js";
import type { Logger } from "../logger.js";
import type { RunOutcome } from "../workers/lease-writes.js";
import { Assignments, type AssignmentDeps } from "../workers/assignment-stream.js";
import type { Reported } from "../workers/complete-and-claim.js";
import type { ClaimRequest } from "../workers/claim-runs.js";
import type { LeaseRecord } from "../workers/lease-record.js";
import { toConnectError } from "./error-mapping.js";
import { Outbox } from "../outbox.js";
import { deliverableLeases } from "./lease-delivery.js";
import { workRequestWeight } from "./work-request-weight.js";

/** What a session needs from WorkerService. */
export interface WorkSessionDeps {
  readonly assignment: AssignmentDeps;
  readonly logger: Logger;
  /**
   * The messages of a claimed batch, the deliverable leases only: the others are failed
   * or handed back before it resolves or rejects (lease-delivery.ts).
   */
  readonly leaseMessages: (tenantId: string, leases: readonly LeaseRecord[]) => Promise<Lease[]>;
  /**
   * CompleteRun as the unary call does it (checks, fencing), and when `next` is given
   * a replacement claimed in the same statement. Rejects only for bad input; a stale
   * lease is `outcome: undefined`, explained by `refusal`.
   */
  readonly complete: (tenantId: string, request: Extract<WorkRequest["kind"], { case: "complete" }>["value"], next: ClaimRequest | undefined) => Promise<Reported>;
  /** Why a completion matched nothing (always rejects). */
  readonly refusal: (tenantId: string, runId: string) => Promise<never>;
  /** FailRun as the unary call does it. */
  readonly fail: (tenantId: string, request: Extract<WorkRequest["kind"], { case: "fail" }>["value"]) => Promise<RunOutcome>;
  /** ReportRunEvents as the unary call does it (fenced by the lease): the events as stored. */
  readonly report: (tenantId: string, request: ReportRunEventsRequest) => Promise<RunEvent[]>;
}

/**
 * Answers not yet sent on one session at most. Beyond it the reader stops reading, so
 * HTTP/2 flow control holds back an executor that sends faster than its statements
 * finish instead of the server queueing its messages without bound.
 */
const maxPendingAnswers = 256;

/**
 * The same bound in bytes: requests read whose answers the transport has not taken yet
 * (being applied, or queued for an executor that does not read), by their weight
 * (work-request-weight.ts). Counting messages alone let one executor that stopped
 * reading hold ~390 MB of the server with 265 reports of 1 MB (measured), and 512 of
 * 8 MB were allowed. A request is read whenever less is held, so one larger than the
 * bound still goes through.
 */
const maxHeldBytes = 4 * 1024 * 1024;

const codeName = (code: Code) => Code[code].replace(/[A-Z]/g, (letter, offset: number) => (offset === 0 ? "" : "_") + letter.toLowerCase());

function refusal(error: unknown): WorkOutcome["error"] {
  const connectError = toConnectError(error);
  return { $typeName: "runline.v1.WorkOutcomeError", code: codeName(connectError.code), message: connectError.rawMessage, reason: error instanceof RunlineError ? error.reason : "" };
}

const statusOf = (run: RunOutcome) => RunStatus[run.status as keyof typeof RunStatus];

/** Runs one session: `open` is its first message, `requests` the rest. */
export async function* workSession(deps: WorkSessionDeps, tenantId: string, claim: ClaimRequest, requests: AsyncIterator<WorkRequest>, signal: AbortSignal): AsyncGenerator<WorkResponse> {
  const outbox = new Outbox<WorkResponse>();
  const stopAssigning = new AbortController();
  const assigning = AbortSignal.any([signal, stopAssigning.signal]);
  const pending = new Set<Promise<void>>();

  const track = (answering: Promise<void>) => {
    const answered = answering.finally(() => pending.delete(answered));
    pending.add(answered);
  };
  const refused = (runId: string, error: unknown) => {
    const explained = refusal(error);
    if (explained?.code === "internal" || explained?.code === "unknown") deps.logger.error({ err: error, runId }, "work session message failed");
    return explained;
  };
  // Weight of the requests being applied: with its answer, a request's weight moves to the outbox.
  let applyingBytes = 0;
  const reply = (weight: number, response: WorkResponse) => {
    applyingBytes -= weight;
    outbox.push(response, weight);
  };
  const answer = (runId: string, weight: number, work: Promise<RunOutcome>) => track(work.then(
    (run) => reply(weight, create(WorkResponseSchema, { kind: { case: "outcome", value: { runId, status: statusOf(run) } } })),
    (error: unknown) => reply(weight, create(WorkResponseSchema, { kind: { case: "outcome", value: { runId, error: refused(runId, error) } } })),
  ));
  const answerReport = (runId: string, weight: number, work: Promise<RunEvent[]>) => track(work.then(
    (events) => reply(weight, create(WorkResponseSchema, { kind: { case: "reported", value: { runId, events } } })),
    (error: unknown) => reply(weight, create(WorkResponseSchema, { kind: { case: "reported", value: { runId, error: refused(runId, error) } } })),
  ));

  // Per run, the last message still being applied: the next one about the run starts
  // when it has settled (whether or not it succeeded). A run with nothing pending starts
  // at once, so completions still share statements with other sessions'.
  const tails = new Map<string, Promise<void>>();
  const afterEarlier = <T>(runId: string, work: () => Promise<T>): Promise<T> => {
    const previous = tails.get(runId);
    const result = previous === undefined ? work() : previous.then(work);
    const tail = result.then(() => undefined, () => undefined);
    tails.set(runId, tail);
    void tail.then(() => tails.get(runId) === tail && tails.delete(runId));
    return result;
  };

  /** Pushes the batch's deliverable leases; how many there were. */
  const assign = async (leases: readonly LeaseRecord[]) => {
    const messages = await deps.leaseMessages(tenantId, leases);
    // The session stopped assigning while the messages were built (a resumed run's
    // history is read first): its executor left or is stopping and will never see these
    // leases, so they are handed back now instead of expiring, which would cost each run
    // an attempt. Checked right after the await, so no abort slips in before the push.
    if (assigning.aborted) {
      await Promise.all(deliverableLeases(leases, messages).map((lease) => deps.assignment.release(tenantId, lease)));
      return 0;
    }
    if (messages.length > 0) outbox.push(create(WorkResponseSchema, { kind: { case: "assigned", value: { leases: messages } } }));
    return messages.length;
  };
  const assignments = new Assignments(deps.assignment, tenantId, claim, assigning);
  const assigner = (async () => {
    for await (const leases of assignments.leases()) await assign(leases);
  })();

  // A completion of one of this session's runs claims its replacement in the same
  // statement while the session is still assigning; otherwise it only completes.
  const complete = async (request: Extract<WorkRequest["kind"], { case: "complete" }>["value"]): Promise<RunOutcome> => {
    const wantsNext = !assigning.aborted && assignments.holds(request.runId);
    const { outcome, lease } = await deps.complete(tenantId, request, wantsNext ? claim : undefined);
    // A refused completion changed nothing: the run stays counted (a recount corrects
    // the count when the run is in fact no longer this session's).
    if (outcome !== undefined && wantsNext) {
      let delivered = 0;
      if (lease !== undefined && assigning.aborted) await deps.assignment.release(tenantId, lease);
      // The completion took effect whatever becomes of its replacement (failed or handed back).
      else if (lease !== undefined) delivered = await assign([lease]).catch((error: unknown) => (deps.logger.warn({ err: error, runId: lease.id }, "replacement lease not delivered"), 0));
      assignments.swap(request.runId, delivered === 0 ? undefined : lease);
    } else if (outcome !== undefined) {
      deps.assignment.board.finished(request.runId);
    }
    return outcome ?? deps.refusal(tenantId, request.runId);
  };

  // Whether the next request may be read: few answers in flight, few waiting for an
  // executor that does not read them (outbox.ts), and little held by either.
  const mayRead = () => outbox.ended || (pending.size < maxPendingAnswers && outbox.length < maxPendingAnswers && applyingBytes + outbox.bytes < maxHeldBytes);
  const reader = (async () => {
    for (;;) {
      while (!mayRead()) await Promise.race([...pending, outbox.taken()]);
      const next = await requests.next();
      if (next.done === true) break;
      const kind = next.value.kind;
      const weight = workRequestWeight(next.value);
      applyingBytes += weight;
      if (kind.case === "complete") answer(kind.value.runId, weight, afterEarlier(kind.value.runId, () => complete(kind.value)));
      else if (kind.case === "fail") answer(kind.value.runId, weight, afterEarlier(kind.value.runId, () => deps.fail(tenantId, kind.value)));
      else if (kind.case === "report") answerReport(kind.value.runId, weight, afterEarlier(kind.value.runId, () => deps.report(tenantId, kind.value)));
      else throw invalidArgument("kind", kind.case === "open" ? "the session is already open" : "must be complete, fail or report");
    }
  })();

  // Once, whichever comes first: the executor closed its side (or the call ended, or the
  // server is stopping): stop assigning, answer what is pending, end. A bad message ends
  // the session with its error at once.
  let ending: Promise<void> | undefined;
  const finish = (error?: unknown) => {
    stopAssigning.abort();
    if (error !== undefined) return outbox.end(error);
    ending ??= (async () => {
      await assigner.catch(() => undefined);
      while (pending.size > 0) await Promise.all([...pending]);
      outbox.end();
    })();
  };
  void reader.then(() => finish(), (error: unknown) => finish(signal.aborted ? undefined : error));
  void assigner.catch((error: unknown) => assigning.aborted || finish(error));
  const onAbort = () => finish();
  signal.addEventListener("abort", onAbort, { once: true });

  try {
    yield* outbox.drain();
  } finally {
    signal.removeEventListener("abort", onAbort);
    stopAssigning.abort();
  }
}
