/**
 * The worker SDK: a small typed loop around WorkerService for executors written in
 * TypeScript. It claims runs (long-poll), calls the handler with an AbortSignal,
 * heartbeats automatically (cancellation arrives as an abort), reports the outcome,
 * and on stop() lets running handlers finish or gives their leases back.
 *
 *   const worker = createWorker({ server, apiKey, workflows: ["echo"], handler: async (job) => job.input });
 *   await worker.stop();
 */
import { fromJson, toJson, type JsonValue } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Client, type Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import type { Run, RunEvent } from "../../gen/runline/v1/run_pb.js";
import { RunsService } from "../../gen/runline/v1/runs_service_pb.js";
import { WorkerService, type Lease } from "../../gen/runline/v1/worker_service_pb.js";

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
  /** Appends an event to the run's log. */
  emit(type: string, data?: unknown): Promise<void>;
  /** Appends a `progress` event: `fraction` from 0 to 1, with an optional message. */
  progress(fraction: number, message?: string): Promise<void>;
  /** Pauses the run until ResumeRun; call as `throw job.interrupt(…)` or `return job.interrupt(…)`. */
  interrupt(reason: string, payload?: unknown, resumeSchema?: unknown): InterruptRequest;
}

/** Returned by job.interrupt: the SDK turns it into InterruptRun. */
export class InterruptRequest extends Error {
  constructor(readonly reason: string, readonly payload: unknown, readonly resumeSchema: unknown) {
    super(`interrupt: ${reason}`);
    this.name = "InterruptRequest";
  }
}

/** Throw from a handler to fail the run without retries. */
export class PermanentError extends Error {
  constructor(message: string, readonly code = "PERMANENT") {
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
  /** A ready transport instead of `server` (default: Connect binary over h2c to `server`). */
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

function authTransport(options: WorkerOptions): Transport {
  return options.transport ?? createConnectTransport({
    baseUrl: options.server,
    httpVersion: "2",
    useBinaryFormat: true,
    interceptors: [(next) => (request) => {
      request.header.set("authorization", `Bearer ${options.apiKey}`);
      return next(request);
    }],
  });
}

const json = (value: unknown) => fromJson(ValueSchema, (value ?? null) as JsonValue);

/** Starts a worker; it runs until stop(). */
export function createWorker(options: WorkerOptions): Worker {
  const transport = authTransport(options);
  const workers = createClient(WorkerService, transport);
  const runs = createClient(RunsService, transport);
  const concurrency = Math.max(1, options.concurrency ?? 1);
  const leaseMs = options.leaseMs ?? 30_000;
  const workerId = options.workerId ?? `worker-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const stopping = new AbortController();
  const active = new Map<string, { done: Promise<void>; release: () => Promise<void> }>();
  const reports = new Set<Promise<void>>();
  let slotFreed: (() => void) | undefined;
  const report = (error: unknown) => options.onError?.(error);

  const perform = (lease: Lease) => {
    const runId = lease.run!.id;
    const abort = new AbortController();
    let lost = false;
    const beat = setInterval(() => {
      workers.heartbeat({ runId, leaseId: lease.leaseId }).then(
        (answer) => answer.cancelRequested && abort.abort(new Error("run cancelled")),
        (error: unknown) => {
          // A lost lease means someone else owns the run now: stop, report nothing.
          if (ConnectError.from(error).code === Code.FailedPrecondition || ConnectError.from(error).code === Code.NotFound) {
            lost = true;
            abort.abort(new Error("lease lost"));
          } else report(error);
        },
      );
    }, Math.max(100, Math.floor(leaseMs / 3)));
    const job = jobFor(lease, abort.signal, runs);
    // The outcome is reported after the slot is freed, so the next claim does not wait
    // for this run's CompleteRun round trip; stop() still waits for every report.
    const reportOutcome = async (outcome: { result: unknown } | { error: unknown }) => {
      if (lost) return;
      const error = "error" in outcome ? outcome.error : outcome.result instanceof InterruptRequest ? outcome.result : undefined;
      if (error === undefined) {
        await workers.completeRun({ runId, leaseId: lease.leaseId, output: json("result" in outcome ? outcome.result : null) });
      } else if (error instanceof InterruptRequest) {
        await workers.interruptRun({ runId, leaseId: lease.leaseId, reason: error.reason, payload: json(error.payload), resumeSchema: error.resumeSchema === undefined ? undefined : json(error.resumeSchema) });
      } else if (abort.signal.aborted && stopping.signal.aborted) {
        await workers.releaseRun({ runId, leaseId: lease.leaseId });
      } else {
        const message = error instanceof Error ? error.message : String(error);
        const code = error instanceof PermanentError ? error.code : "HANDLER_ERROR";
        await workers.failRun({ runId, leaseId: lease.leaseId, error: { message: message || "handler failed", code }, retryable: !(error instanceof PermanentError) });
      }
    };
    const handled = Promise.resolve().then(() => options.handler(job)).then((result) => ({ result }), (error: unknown) => ({ error }));
    const done = handled.then((outcome) => {
      clearInterval(beat);
      active.delete(runId);
      slotFreed?.();
      const reported = reportOutcome(outcome).catch(report).finally(() => reports.delete(reported));
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

  const loop = (async () => {
    while (!stopping.signal.aborted) {
      const room = concurrency - active.size;
      if (room <= 0) {
        await new Promise<void>((resolve) => (slotFreed = resolve));
        continue;
      }
      try {
        const { leases } = await workers.claimRuns(
          { workerId, workflows: [...options.workflows], maxRuns: room, waitTimeout: { seconds: 10n, nanos: 0 }, leaseDuration: { seconds: BigInt(Math.floor(leaseMs / 1000)), nanos: (leaseMs % 1000) * 1_000_000 } },
          { signal: stopping.signal },
        );
        for (const lease of leases) perform(lease);
      } catch (error) {
        if (stopping.signal.aborted) break;
        report(error);
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  })();

  return {
    get active() {
      return active.size;
    },
    async stop(stopOptions) {
      stopping.abort();
      slotFreed?.();
      await loop;
      const grace = new Promise((resolve) => setTimeout(resolve, stopOptions?.graceMs ?? 10_000).unref());
      await Promise.race([Promise.all([...active.values()].map((entry) => entry.done)), grace]);
      await Promise.all([...active.values()].map((entry) => entry.release()));
      await Promise.all([...reports]);
    },
  };
}

function jobFor(lease: Lease, signal: AbortSignal, runs: Client<typeof RunsService>): Job {
  const run = lease.run!;
  const emit = async (type: string, data?: unknown) => {
    await runs.ingestRunEvents({ runId: run.id, events: [{ type, data: json(data) }] });
  };
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
