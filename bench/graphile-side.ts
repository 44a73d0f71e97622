/**
 * The graphile-worker baseline of the `executors` group, on a database of its own in
 * the same cluster (`bench_graphile`, schema installed by graphile-worker's own
 * `runMigrations`). Jobs are queued with `addJobs`, 500 per call, before the clock
 * starts; then one runner in the bench process, `concurrency` workers and a no-op task,
 * drains them. Each worker fetches one job (get_job), runs it and completes it
 * (complete_job); graphile-worker does not await that write before fetching the next
 * job, so the drain ends only once the jobs table is empty, not at the last
 * `job:success` event.
 *
 * Options not named here are graphile-worker's defaults (no completion batching; no
 * local queue unless `localQueueSize` is set). Its logger drops info and debug, where
 * the default would print a line per job to the console.
 */
import { EventEmitter } from "node:events";
import { Logger, makeWorkerUtils, run, runMigrations, type RunnerOptions, type WorkerEvents } from "graphile-worker";
import pg from "pg";
import { createTally, finish, type Drained } from "./drain-tally.js";

/** Jobs per addJobs call, as many as Runline's side creates per BatchCreateRuns. */
const batchSize = 500;
/** Runline's server pool (RUNLINE_DB_POOL_SIZE default): the same number of connections. */
const poolSize = 20;
const task = "noop";

/** Warnings and errors graphile-worker logged, for the bench to print. */
export const graphileProblems: string[] = [];

const logger = new Logger(() => (level, message) => {
  if ((level === "error" || level === "warning") && graphileProblems.length < 20) graphileProblems.push(`${level}: ${message}`);
});

/** Installs graphile-worker's schema in the empty database at `url`. */
export async function installGraphile(url: string): Promise<void> {
  await runMigrations({ connectionString: url, logger });
}

/** Queues `count` no-op jobs, `batchSize` per call. */
export async function queueJobs(url: string, count: number): Promise<void> {
  const utils = await makeWorkerUtils({ connectionString: url, logger });
  try {
    for (let offset = 0; offset < count; offset += batchSize) {
      const specs = Array.from({ length: Math.min(batchSize, count - offset) }, (_, index) => ({
        identifier: task,
        payload: { n: offset + index },
      }));
      await utils.addJobs(specs);
    }
  } finally {
    await utils.release();
  }
}

/** Polls until no job is left: completed jobs are deleted. */
async function waitUntilEmpty(client: pg.Client): Promise<void> {
  for (;;) {
    const { rows } = await client.query<{ left: boolean }>("select exists (select 1 from graphile_worker._private_jobs) as left");
    if (!rows[0]!.left) return;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** A runner with `concurrency` workers drains `count` queued jobs. */
export async function drainWithGraphile(url: string, concurrency: number, count: number, localQueueSize?: number): Promise<Drained> {
  const watcher = new pg.Client({ connectionString: url });
  await watcher.connect();
  const events = new EventEmitter() as WorkerEvents;
  const options: RunnerOptions = {
    connectionString: url,
    concurrency,
    maxPoolSize: poolSize,
    pollInterval: 1000,
    noHandleSignals: true,
    logger,
    events,
    taskList: { [task]: async () => {} },
    ...(localQueueSize === undefined ? {} : { preset: { worker: { localQueue: { size: localQueueSize } } } }),
  };
  const tally = createTally(count);
  events.on("job:success", () => tally.complete());
  events.on("job:failed", ({ error }) => tally.fail(error));
  events.on("job:error", ({ error }) => tally.fail(error));
  try {
    const runner = await run(options);
    const drain = await finish(tally, count, () => waitUntilEmpty(watcher));
    return {
      drain,
      stop: async () => {
        await runner.stop();
        await watcher.end();
      },
    };
  } catch (error) {
    await watcher.end();
    throw error;
  }
}
