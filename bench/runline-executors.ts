/**
 * The Runline side of the `executors` group: queue N runs with BatchCreateRuns, then
 * time 8 executors in the bench process draining them through the server. Each executor
 * has its own Connect binary h2c connection, as 8 executor processes would. Two shapes:
 *
 * - `drainWithSdk`: 8 SDK workers (`createWorker`, src/sdk/create-worker.ts), concurrency
 *   1, a no-op handler. Each holds one Work session (maxRuns 1): the server pushes a lease,
 *   the worker runs the handler and sends its outcome on the session, and the server
 *   pushes the next lease once that outcome has landed.
 * - `drainWithClaimLoops`: 8 plain loops of ClaimRuns(maxRuns, wait 1 s), then CompleteRun
 *   for each lease in turn: one job at a time per executor, `maxRuns` claimed at once.
 *
 * Both name the workflow they serve, as real executors do.
 */
import type { Interceptor } from "@connectrpc/connect";
import { RunsService } from "../gen/runline/v1/runs_service_pb.js";
import { WorkerService, type WorkResponse } from "../gen/runline/v1/worker_service_pb.js";
import { createWorker } from "../src/sdk/create-worker.js";
import { createTally, finish, type Drained, type Tally } from "./drain-tally.js";
import { bearer, benchWorkflow, clientOf, h2Transport, jsonValue } from "./runline-side.js";

/** Runs per BatchCreateRuns call. */
const batchSize = 500;

/** Queues `count` runs of the bench workflow, `batchSize` per call. */
export async function queueRuns(baseUrl: string, key: string, count: number): Promise<void> {
  const runs = clientOf(RunsService, baseUrl, key);
  for (let offset = 0; offset < count; offset += batchSize) {
    const inputs = Array.from({ length: Math.min(batchSize, count - offset) }, (_, index) => jsonValue({ n: offset + index }));
    await runs.batchCreateRuns({ template: { workflow: benchWorkflow }, inputs });
  }
}

/**
 * Counts each completion the server confirmed: a successful CompleteRun, or an outcome
 * without error on a Work session. Either comes only once the run is SUCCEEDED in the
 * database.
 */
function countCompletions(tally: Tally): Interceptor {
  async function* counted(messages: AsyncIterable<unknown>) {
    for await (const message of messages) {
      const kind = (message as WorkResponse).kind;
      if (kind.case === "outcome" && kind.value.error === undefined) tally.complete();
      yield message;
    }
  }
  return (next) => async (request) => {
    const response = await next(request);
    if (request.method.name === "CompleteRun") tally.complete();
    if (request.method.name === "Work" && response.stream) return { ...response, message: counted(response.message) } as typeof response;
    return response;
  };
}

/**
 * `workers` SDK workers of concurrency `concurrency` with a no-op handler drain `count`
 * queued runs. A caller that watches progress during the drain (held-vacuum.ts) passes
 * its own `tally`.
 */
export async function drainWithSdk(
  baseUrl: string,
  key: string,
  workers: number,
  concurrency: number,
  count: number,
  tally: Tally = createTally(count),
): Promise<Drained> {
  const running = Array.from({ length: workers }, (_, index) =>
    createWorker({
      server: baseUrl,
      apiKey: key,
      workflows: [benchWorkflow],
      handler: async () => null,
      concurrency,
      workerId: `bench-sdk-${index}`,
      transport: h2Transport(baseUrl, [bearer(key), countCompletions(tally)]),
      onError: (error) => tally.fail(error),
    }),
  );
  const drain = await finish(tally, count);
  return { drain, stop: async () => void (await Promise.all(running.map((worker) => worker.stop({ graceMs: 1000 })))) };
}

/** `workers` loops claiming up to `maxRuns` at once and completing them one by one. */
export async function drainWithClaimLoops(baseUrl: string, key: string, workers: number, maxRuns: number, count: number): Promise<Drained> {
  const tally = createTally(count);
  const stop = new AbortController();
  const loop = async (index: number) => {
    const client = clientOf(WorkerService, baseUrl, key);
    const workerId = `bench-loop-${index}`;
    while (tally.completed < count && !stop.signal.aborted) {
      const { leases } = await client.claimRuns(
        { workerId, workflows: [benchWorkflow], maxRuns, waitTimeout: { seconds: 1n, nanos: 0 } },
        { signal: stop.signal },
      );
      for (const lease of leases) {
        await client.completeRun({ runId: lease.run!.id, leaseId: lease.leaseId, output: jsonValue(null) });
        tally.complete();
      }
    }
  };
  // A loop that fails ends; once every loop has ended short of the target, so does the wait.
  const loops = Array.from({ length: workers }, (_, index) =>
    loop(index).catch((error: unknown) => stop.signal.aborted || tally.fail(error)),
  );
  void Promise.all(loops).then(() => tally.abandon());
  const drain = await finish(tally, count);
  return {
    drain,
    stop: async () => {
      stop.abort();
      await Promise.all(loops);
    },
  };
}
