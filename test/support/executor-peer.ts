/**
 * An executor process for kill tests: the worker SDK (createWorker) with handlers that
 * never finish, so it holds every lease it gets until it is killed or frozen. Run as
 *
 *   node --import tsx test/support/executor-peer.ts <baseUrl> <apiKey> <workflow> <workerId> <concurrency> <leaseMs>
 *
 * It prints `ready` once the worker is started, then `holding <runId> <attempt>` for
 * each run it is given.
 */
import { createWorker } from "../../src/sdk/create-worker.js";

const [server, apiKey, workflow, workerId, concurrency, leaseMs] = process.argv.slice(2);

createWorker({
  server: server!,
  apiKey: apiKey!,
  workflows: [workflow!],
  workerId: workerId!,
  concurrency: Number(concurrency),
  leaseMs: Number(leaseMs),
  handler: (job) => {
    process.stdout.write(`holding ${job.run.id} ${job.attempt}\n`);
    return new Promise(() => {});
  },
});
process.stdout.write("ready\n");
