/**
 * A Work session: one executor's two-way session. Two tasks feed one outgoing queue:
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
 *
 * Messages and answers are the domain's (`SessionMessage`, `SessionAnswer`);
 * api/worker-service.ts translates them to and from the WorkerService.Work stream.
 */
import type { EventRecord, NewEvent } from "../runs/event-append.js";
import type { Logger } from "../logger.js";
import { Outbox } from "../outbox.js";
import { Assignments } from "./assignment-stream.js";
import type { ClaimRequest } from "./claim-runs.js";
import type { ExecutorWrites } from "./executor-writes.js";
import { handBackDelivered, type LeaseDelivery } from "./lease-delivery.js";
import type { LeaseRecord } from "./lease-record.js";
import type { RunOutcome } from "./lease-writes.js";

/** What an executor's message is about: a run under its lease, and what it holds in memory. */
interface AboutRun {
  readonly runId: string;
  readonly leaseId: string;
  /** Bytes the message holds until its answer is taken, about (it bounds what a session holds). */
  readonly weight: number;
}

/**
 * One message of an executor after `open`. Payloads are read when the message is
 * applied, in its turn after the run's earlier messages, so a payload with no JSON form
 * fails that message alone.
 */
export type SessionMessage =
  | (AboutRun & { readonly kind: "complete"; readonly output: () => unknown })
  | (AboutRun & { readonly kind: "fail"; readonly error: { message: string; code: string }; readonly retryable: boolean })
  | (AboutRun & { readonly kind: "report"; readonly events: () => NewEvent[] });

/** One answer of a session: leases assigned, or a message's result (`error` when it was refused). */
export type SessionAnswer<M> =
  | { readonly kind: "assigned"; readonly leases: M[] }
  | { readonly kind: "outcome"; readonly runId: string; readonly outcome: { status: string } | { error: unknown } }
  | { readonly kind: "reported"; readonly runId: string; readonly outcome: { events: EventRecord[] } | { error: unknown } };

/** What one process's sessions share. */
export interface WorkSessionDeps<M> {
  readonly executors: ExecutorWrites;
  readonly deliver: LeaseDelivery<M>;
  readonly logger: Logger;
}

/**
 * Answers not yet sent on one session at most. Beyond it the reader stops reading, so
 * HTTP/2 flow control holds back an executor that sends faster than its statements
 * finish instead of the server queueing its messages without bound.
 */
const maxPendingAnswers = 256;

/**
 * The same bound in bytes: messages read whose answers the transport has not taken yet
 * (being applied, or queued for an executor that does not read), by their weight.
 * Counting messages alone let one executor that stopped reading hold ~390 MB of the
 * server with 265 reports of 1 MB (measured), and 512 of 8 MB were allowed. A message
 * is read whenever less is held, so one larger than the bound still goes through.
 */
const maxHeldBytes = 4 * 1024 * 1024;

/** Runs one session: `claim` is what its `open` asked for, `messages` the rest. */
export async function* workSession<M>(
  deps: WorkSessionDeps<M>,
  tenantId: string,
  claim: ClaimRequest,
  messages: AsyncIterator<SessionMessage>,
  signal: AbortSignal,
): AsyncGenerator<SessionAnswer<M>> {
  const { executors } = deps;
  const outbox = new Outbox<SessionAnswer<M>>();
  const stopAssigning = new AbortController();
  const assigning = AbortSignal.any([signal, stopAssigning.signal]);
  const pending = new Set<Promise<void>>();

  const track = (answering: Promise<void>) => {
    const answered = answering.finally(() => pending.delete(answered));
    pending.add(answered);
  };
  // Weight of the messages being applied: with its answer, a message's weight moves to the outbox.
  let applyingBytes = 0;
  const reply = (weight: number, answer: SessionAnswer<M>) => {
    applyingBytes -= weight;
    outbox.push(answer, weight);
  };
  const answer = (runId: string, weight: number, work: Promise<RunOutcome>) =>
    track(
      work.then(
        (run) => reply(weight, { kind: "outcome", runId, outcome: { status: run.status } }),
        (error: unknown) => reply(weight, { kind: "outcome", runId, outcome: { error } }),
      ),
    );
  const answerReport = (runId: string, weight: number, work: Promise<EventRecord[]>) =>
    track(
      work.then(
        (events) => reply(weight, { kind: "reported", runId, outcome: { events } }),
        (error: unknown) => reply(weight, { kind: "reported", runId, outcome: { error } }),
      ),
    );

  // Per run, the last message still being applied: the next one about the run starts
  // when it has settled (whether or not it succeeded). A run with nothing pending starts
  // at once, so completions still share statements with other sessions'.
  const tails = new Map<string, Promise<void>>();
  const afterEarlier = <T>(runId: string, work: () => Promise<T>): Promise<T> => {
    const previous = tails.get(runId);
    const result = previous === undefined ? work() : previous.then(work);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    tails.set(runId, tail);
    void tail.then(() => tails.get(runId) === tail && tails.delete(runId));
    return result;
  };

  /** Pushes the batch's deliverable leases; how many there were. */
  const assign = async (leases: readonly LeaseRecord[]) => {
    const delivered = await deps.deliver(tenantId, leases);
    // The session stopped assigning while the messages were built (a resumed run's
    // history is read first): its executor left or is stopping and will never see these
    // leases, so they are handed back now instead of expiring, which would cost each run
    // an attempt. Checked right after the await, so no abort slips in before the push.
    if (assigning.aborted) {
      await handBackDelivered(executors, tenantId, delivered);
      return 0;
    }
    if (delivered.length > 0) outbox.push({ kind: "assigned", leases: delivered.map(({ message }) => message) });
    return delivered.length;
  };
  const assignments = new Assignments(executors.assignment, tenantId, claim, assigning);
  const assigner = (async () => {
    for await (const leases of assignments.leases()) await assign(leases);
  })();

  // A completion of one of this session's runs claims its replacement in the same
  // statement while the session is still assigning; otherwise it only completes.
  const complete = async (message: Extract<SessionMessage, { kind: "complete" }>): Promise<RunOutcome> => {
    const wantsNext = !assigning.aborted && assignments.beginCompletion(message.runId);
    try {
      return await completeHeld(message, wantsNext);
    } finally {
      assignments.endCompletion(message.runId);
    }
  };
  const completeHeld = async (message: Extract<SessionMessage, { kind: "complete" }>, wantsNext: boolean): Promise<RunOutcome> => {
    const { outcome, lease } = await executors.completeAndClaim(
      tenantId,
      message.runId,
      message.leaseId,
      message.output,
      wantsNext ? claim : undefined,
    );
    // A refused completion changed nothing: the run stays counted (a recount corrects
    // the count when the run is in fact no longer this session's).
    if (outcome !== undefined && wantsNext) {
      let delivered = 0;
      if (lease !== undefined && assigning.aborted) await executors.assignment.release(tenantId, lease);
      // The completion took effect whatever becomes of its replacement (failed or handed back).
      else if (lease !== undefined)
        delivered = await assign([lease]).catch(
          (error: unknown) => (deps.logger.warn({ err: error, runId: lease.id }, "replacement lease not delivered"), 0),
        );
      assignments.swap(message.runId, delivered === 0 ? undefined : lease);
    } else if (outcome !== undefined) {
      executors.board.finished(message.runId);
    }
    return outcome ?? executors.refusal(tenantId, message.runId);
  };
  const apply = (message: SessionMessage): void => {
    const { runId, weight } = message;
    if (message.kind === "complete")
      answer(
        runId,
        weight,
        afterEarlier(runId, () => complete(message)),
      );
    else if (message.kind === "fail")
      answer(
        runId,
        weight,
        afterEarlier(runId, () => executors.fail(tenantId, runId, message.leaseId, message.error, message.retryable)),
      );
    else
      answerReport(
        runId,
        weight,
        afterEarlier(runId, () => executors.report(tenantId, runId, message.leaseId, message.events())),
      );
  };

  // Whether the next message may be read: few answers in flight, few waiting for an
  // executor that does not read them (outbox.ts), and little held by either.
  const mayRead = () =>
    outbox.ended || (pending.size < maxPendingAnswers && outbox.length < maxPendingAnswers && applyingBytes + outbox.bytes < maxHeldBytes);
  const reader = (async () => {
    for (;;) {
      while (!mayRead()) await Promise.race([...pending, outbox.taken()]);
      const next = await messages.next();
      if (next.done === true) break;
      applyingBytes += next.value.weight;
      apply(next.value);
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
  void reader.then(
    () => finish(),
    (error: unknown) => finish(signal.aborted ? undefined : error),
  );
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
