/**
 * The worker SDK: a small typed loop around WorkerService for executors written in
 * TypeScript. It takes runs from a Work session (HTTP/2), calls the handler with an AbortSignal,
 * heartbeats automatically (cancellation arrives as an abort), reports the handler's
 * events and outcome under the run's lease (so a worker that lost a run can no longer
 * write to it), and on stop() lets running handlers finish or gives their leases back.
 *
 *   const worker = createWorker({ server, apiKey, workflows: ["echo"], handler: async (job) => job.input });
 *   await worker.stop();
 */
import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { fromJson, toJson, type JsonValue } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import type { Run, RunEvent } from "../../gen/runline/v1/run_pb.js";
import { WorkerService, type Lease } from "../../gen/runline/v1/worker_service_pb.js";
import { withRefusedStreamRetries } from "./refused-streams.js";
import { openWorkSession, SessionEnded, type OutcomeKind, type ReportInit, type Session } from "./work-session-client.js";

/** What a handler gets for one run. */
export interface Job {
  readonly run: Run;
  /** The run's input as plain JSON. */
  readonly input: unknown;
  /** 1 on the first attempt. */
  readonly attempt: number;
  /** After an interrupt: the input ResumeRun supplied (else undefined). */
  readonly resumeInput: unknown;
  /** After an interrupt: the run's event log so far. */
  readonly history: readonly RunEvent[];
  /** Aborted when the run is cancelled, the lease is lost, or the worker stops. */
  readonly signal: AbortSignal;
  /**
   * Appends an event to the run's log, under the run's lease (ReportRunEvents, on the
   * Work session when one is open). Rejects with FAILED_PRECONDITION when the lease is
   * lost (the run expired or was claimed again), and aborts `signal`. Each event carries
   * the id `<lease id>:<n>`, so one resent after a broken session is stored once.
   */
  emit(type: string, data?: unknown): Promise<void>;
  /** Appends a `progress` event: `fraction` from 0 to 1, with an optional message. */
  progress(fraction: number, message?: string): Promise<void>;
  /** Pauses the run until ResumeRun; call as `throw job.interrupt(…)` or `return job.interrupt(…)`. */
  interrupt(reason: string, payload?: unknown, resumeSchema?: unknown): InterruptRequest;
}

/** Returned by job.interrupt: the SDK turns it into InterruptRun. */
export class InterruptRequest extends Error {
  constructor(
    readonly reason: string,
    readonly payload: unknown,
    readonly resumeSchema: unknown,
  ) {
    super(`interrupt: ${reason}`);
    this.name = "InterruptRequest";
  }
}

/** Throw from a handler to fail the run without retries. */
export class PermanentError extends Error {
  constructor(
    message: string,
    readonly code = "PERMANENT",
  ) {
    super(message);
    this.name = "PermanentError";
  }
}

/** Options for createWorker; every field documented with its default. */
export interface WorkerOptions {
  /** Base URL of a Runline server, e.g. http://localhost:8080. */
  readonly server: string;
  /** An API key with the `worker` scope. */
  readonly apiKey: string;
  /** Workflow ids or slugs to claim; empty claims every workflow of the key's tenant. */
  readonly workflows: readonly string[];
  /** Performs a run; its resolved value is the run's result. */
  readonly handler: (job: Job) => Promise<unknown>;
  /** Runs performed at once (default 1). */
  readonly concurrency?: number;
  /** Identifies this worker in the run log (default `worker-<pid>-<random>`). */
  readonly workerId?: string;
  /** Lease length; heartbeats go every third of it (default 30000 ms). */
  readonly leaseMs?: number;
  /** A ready transport instead of `server` (default: Connect binary over h2c to `server`); it must speak HTTP/2, which the Work session needs. */
  readonly transport?: Transport;
  /** Called with errors the loop survives (default: ignored). */
  readonly onError?: (error: unknown) => void;
}

/** A running worker. */
export interface Worker {
  /** Runs in progress now. */
  readonly active: number;
  /** Stops claiming, waits up to `graceMs` (default 10000) for handlers, then releases the rest. */
  stop(options?: { graceMs?: number }): Promise<void>;
}

/**
 * HTTP/2 session options for `server`: over plain TCP (h2c), a socket with Nagle's
 * algorithm off, so a worker's small frames (an outcome, a heartbeat) leave at once
 * instead of waiting for the acknowledgement of the previous ones. Node's HTTP/2 client
 * leaves it on.
 */
export function workerSessionOptions(server: string): { createConnection?: () => net.Socket } {
  const url = new URL(server);
  if (url.protocol !== "http:") return {};
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  return { createConnection: () => net.connect({ host, port: Number(url.port || 80), noDelay: true }) };
}

/**
 * The transport createWorker calls with: `transport` when given, else Connect binary over
 * h2c to `server` with the key. Either way, calls a draining server refused are
 * UNAVAILABLE, and refused unary calls (heartbeats, outcomes sent outside a session) are
 * resent (refused-streams.ts), so a deploy of the server costs the worker no outcome.
 */
export function createWorkerTransport(options: Pick<WorkerOptions, "server" | "apiKey" | "transport">): Transport {
  return withRefusedStreamRetries(
    options.transport ??
      createConnectTransport({
        baseUrl: options.server,
        httpVersion: "2",
        useBinaryFormat: true,
        nodeOptions: workerSessionOptions(options.server),
        interceptors: [
          (next) => (request) => {
            request.header.set("authorization", `Bearer ${options.apiKey}`);
            return next(request);
          },
        ],
      }),
  );
}

/** Resolves after `ms`, or at once when `signal` aborts. */
const delay = (ms: number, signal: AbortSignal) => sleep(ms, undefined, { signal }).catch(() => undefined);

const json = (value: unknown) => fromJson(ValueSchema, (value ?? null) as JsonValue);

/** Starts a worker; it runs until stop(). */
export function createWorker(options: WorkerOptions): Worker {
  const transport = createWorkerTransport(options);
  const workers = createClient(WorkerService, transport);
  const concurrency = Math.max(1, options.concurrency ?? 1);
  const leaseMs = options.leaseMs ?? 30_000;
  const workerId = options.workerId ?? `worker-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const stopping = new AbortController();
  const active = new Map<string, { done: Promise<void>; release: () => Promise<void> }>();
  const reports = new Set<Promise<void>>();
  const report = (error: unknown) => options.onError?.(error);

  const perform = (lease: Lease) => {
    const runId = lease.run!.id;
    const abort = new AbortController();
    let lost = false;
    // A lost lease means someone else owns the run now: stop, report nothing more.
    const isLeaseLost = (error: unknown) => {
      const code = ConnectError.from(error).code;
      if (code !== Code.FailedPrecondition && code !== Code.NotFound) return false;
      lost = true;
      abort.abort(new Error("lease lost"));
      return true;
    };
    const beat = setInterval(
      () => {
        workers.heartbeat({ runId, leaseId: lease.leaseId }).then(
          (answer) => answer.cancelRequested && abort.abort(new Error("run cancelled")),
          (error: unknown) => isLeaseLost(error) || report(error),
        );
      },
      Math.max(100, Math.floor(leaseMs / 3)),
    );
    let emitted = 0;
    const emit = async (type: string, data?: unknown) => {
      const request = { runId, leaseId: lease.leaseId, events: [{ type, data: json(data), eventId: `${lease.leaseId}:${++emitted}` }] };
      await sendReport(request).catch((error: unknown) => {
        isLeaseLost(error);
        throw error;
      });
    };
    const job = jobFor(lease, abort.signal, emit);
    // The outcome is reported after the slot is freed, so the next claim does not wait
    // for this run's CompleteRun round trip; stop() still waits for every report.
    const reportOutcome = async (outcome: { result: unknown } | { error: unknown }) => {
      if (lost) return;
      const error = "error" in outcome ? outcome.error : outcome.result instanceof InterruptRequest ? outcome.result : undefined;
      if (error === undefined) {
        const complete = { runId, leaseId: lease.leaseId, output: json("result" in outcome ? outcome.result : null) };
        await sendOutcome(runId, { case: "complete", value: complete }, () => workers.completeRun(complete));
      } else if (error instanceof InterruptRequest) {
        await workers.interruptRun({
          runId,
          leaseId: lease.leaseId,
          reason: error.reason,
          payload: json(error.payload),
          resumeSchema: error.resumeSchema === undefined ? undefined : json(error.resumeSchema),
        });
      } else if (abort.signal.aborted && stopping.signal.aborted) {
        await workers.releaseRun({ runId, leaseId: lease.leaseId });
      } else {
        const message = error instanceof Error ? error.message : String(error);
        const code = error instanceof PermanentError ? error.code : "HANDLER_ERROR";
        const fail = {
          runId,
          leaseId: lease.leaseId,
          error: { message: message || "handler failed", code },
          retryable: !(error instanceof PermanentError),
        };
        await sendOutcome(runId, { case: "fail", value: fail }, () => workers.failRun(fail));
      }
    };
    const handled = Promise.resolve()
      .then(() => options.handler(job))
      .then(
        (result) => ({ result }),
        (error: unknown) => ({ error }),
      );
    const done = handled.then((outcome) => {
      clearInterval(beat);
      active.delete(runId);
      const reported = reportOutcome(outcome)
        .catch(report)
        .finally(() => reports.delete(reported));
      reports.add(reported);
    });
    active.set(runId, {
      done,
      release: async () => {
        abort.abort(new Error("worker stopping"));
        await done;
      },
    });
  };

  // One Work session at a time: the server pushes leases on it (never more than
  // `concurrency` of this worker's runs unfinished) and answers the outcomes sent on it,
  // so a run costs two stream messages and no call of its own. Outcomes go as unary
  // calls when no session is open (stopping, reconnecting).
  const leaseDuration = { seconds: BigInt(Math.floor(leaseMs / 1000)), nanos: (leaseMs % 1000) * 1_000_000 };
  let session: Session | undefined;
  let closeSession: (() => void) | undefined;
  const cancelSession = new AbortController();

  /**
   * Sends events on the session, or as ReportRunEvents when there is none (or it broke
   * before answering: the events' ids make a resend of what did land a no-op).
   */
  const sendReport = async (request: ReportInit): Promise<void> => {
    const current = session;
    if (current !== undefined) {
      try {
        return await current.report(request);
      } catch (error) {
        if (!(error instanceof SessionEnded)) throw error;
      }
    }
    await workers.reportRunEvents(request);
  };

  /** Sends an outcome on the session, or as `unary` when there is none (or it broke first). */
  const sendOutcome = async (runId: string, kind: OutcomeKind, unary: () => Promise<unknown>): Promise<void> => {
    const current = session;
    if (current !== undefined) {
      try {
        return await current.send(runId, kind);
      } catch (error) {
        if (!(error instanceof SessionEnded)) throw error;
        // Unanswered: it may or may not have landed. The unary call settles it; a stale
        // lease there means it did land (or the lease was lost): nothing left to do.
        return void (await unary().catch((unaryError: unknown) => {
          if (ConnectError.from(unaryError).code !== Code.FailedPrecondition) throw unaryError;
        }));
      }
    }
    await unary();
  };

  const giveBack = (lease: Lease) => {
    const released = workers
      .releaseRun({ runId: lease.run!.id, leaseId: lease.leaseId })
      .then(() => undefined, report)
      .finally(() => reports.delete(released));
    reports.add(released);
  };

  const runSession = async () => {
    const open = { workerId, workflows: [...options.workflows], maxRuns: concurrency, leaseDuration };
    const opened = openWorkSession(workers, open, cancelSession.signal, (lease) => (stopping.signal.aborted ? giveBack : perform)(lease));
    session = opened.session;
    closeSession = () => {
      if (session === opened.session) session = undefined;
      opened.close();
    };
    try {
      await opened.done;
    } finally {
      if (session === opened.session) session = undefined;
    }
  };

  const loop = (async () => {
    while (!stopping.signal.aborted) {
      try {
        await runSession();
        // The server ended the session (it is shutting down): open another shortly.
        await delay(100, stopping.signal);
      } catch (error) {
        if (stopping.signal.aborted) break;
        report(error);
        await delay(1000, stopping.signal);
      }
    }
  })();

  return {
    get active() {
      return active.size;
    },
    async stop(stopOptions) {
      stopping.abort();
      // The server stops assigning, answers the outcomes sent so far and ends the
      // session; later outcomes go as unary calls.
      closeSession?.();
      const grace = new Promise((resolve) => setTimeout(resolve, stopOptions?.graceMs ?? 10_000).unref());
      await Promise.race([Promise.all([...active.values()].map((entry) => entry.done)), grace]);
      await Promise.all([...active.values()].map((entry) => entry.release()));
      await Promise.all([...reports]);
      cancelSession.abort();
      await loop;
    },
  };
}

function jobFor(lease: Lease, signal: AbortSignal, emit: Job["emit"]): Job {
  const run = lease.run!;
  return {
    run,
    input: run.input === undefined ? null : toJson(ValueSchema, run.input),
    attempt: run.attempt,
    resumeInput: lease.resumeInput === undefined ? undefined : toJson(ValueSchema, lease.resumeInput),
    history: lease.history,
    signal,
    emit,
    progress: (fraction, message) => emit("progress", { fraction, ...(message === undefined ? {} : { message }) }),
    interrupt: (reason, payload, resumeSchema) => new InterruptRequest(reason, payload, resumeSchema),
  };
}
