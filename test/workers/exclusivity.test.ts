/**
 * A run is never leased to two executors at once: 8 claimers on 2 server processes
 * sharing one database (4 each, gRPC and Connect JSON) drain 5,000 queued runs, and
 * every run is leased once and completed once, with a clean event log.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { beforeAll, expect, it } from "vitest";
import { RunStatus } from "../../gen/runline/v1/run_pb.js";
import { RunsService } from "../../gen/runline/v1/runs_service_pb.js";
import { clientFor, createCounterWorkflow, createTenant, json, type Protocol, type TenantFixture } from "../support/clients.js";
import { startTestServer } from "../support/test-server.js";
import { millis, workerClient } from "./worker-fixtures.js";

const runCount = 5000;
const batchSize = 500;
const claimersPerServer = 4;
const maxRuns = 10;

let servers: string[];
let tenant: TenantFixture;

beforeAll(async () => {
  const first = await startTestServer();
  const second = await startTestServer(first.databaseUrl);
  servers = [first.url, second.url];
  tenant = await createTenant(first.url);
  await createCounterWorkflow(tenant);
});

/** What the claimers saw, for the assertions. */
interface Ledger {
  /** Every lease id handed out for each run. */
  readonly leasesByRun: Map<string, string[]>;
  /** Successful CompleteRun calls per run. */
  readonly completionsByRun: Map<string, number>;
  /** Refused CompleteRun calls, with the code. */
  readonly refusals: { runId: string; code: Code }[];
}

/** Claims and completes until `runCount` runs were completed (by anyone) or `signal` aborts. */
async function drain(baseUrl: string, protocol: Protocol, workerId: string, ledger: Ledger, signal: AbortSignal): Promise<void> {
  const worker = workerClient(tenant, baseUrl, protocol);
  while (ledger.completionsByRun.size < runCount && !signal.aborted) {
    // Aborted (the time limit): stop quietly; the counts below tell what was left.
    const claimed = await worker
      .claimRuns({ workerId, workflows: ["counter"], maxRuns, waitTimeout: millis(500) }, { signal })
      .catch((error: unknown) => {
        if (signal.aborted) return { leases: [] };
        throw error;
      });
    const leases = claimed.leases;
    for (const lease of leases) {
      const runId = lease.run!.id;
      ledger.leasesByRun.set(runId, [...(ledger.leasesByRun.get(runId) ?? []), lease.leaseId]);
    }
    await Promise.all(
      leases.map(async (lease) => {
        const runId = lease.run!.id;
        try {
          await worker.completeRun({ runId, leaseId: lease.leaseId, output: json({ by: workerId }) }, { signal });
          ledger.completionsByRun.set(runId, (ledger.completionsByRun.get(runId) ?? 0) + 1);
        } catch (error) {
          ledger.refusals.push({ runId, code: ConnectError.from(error).code });
        }
      }),
    );
  }
}

it(
  "leases each of 5,000 runs to exactly one of 8 claimers on 2 servers, and completes each exactly once",
  { timeout: 200_000 },
  async () => {
    const runs = tenant.runs("grpc");
    const createdIds = new Set<string>();
    const creating = Date.now();
    // Batches of 500, two at a time on each server.
    const offsets = Array.from({ length: runCount / batchSize }, (_, index) => index * batchSize);
    await Promise.all(
      Array.from({ length: 4 }, async (_, lane) => {
        const creator = clientFor(RunsService, "grpc", servers[lane % 2]!, tenant.key);
        for (const offset of offsets.filter((_, index) => index % 4 === lane)) {
          const inputs = Array.from({ length: batchSize }, (_, index) => json({ n: offset + index }));
          const created = await creator.batchCreateRuns({ template: { workflow: "counter" }, inputs });
          for (const run of created.runs) createdIds.add(run.id);
        }
      }),
    );
    console.log(`created ${runCount} runs in ${Date.now() - creating} ms`);
    expect(createdIds.size).toBe(runCount);

    const ledger: Ledger = { leasesByRun: new Map(), completionsByRun: new Map(), refusals: [] };
    const stop = AbortSignal.timeout(120_000);
    const started = Date.now();
    await Promise.all(
      servers.flatMap((baseUrl, server) =>
        Array.from({ length: claimersPerServer }, (_, index) =>
          drain(baseUrl, index % 2 === 0 ? "grpc" : "connect-json", `claimer-${server}-${index}`, ledger, stop),
        ),
      ),
    );
    const seconds = (Date.now() - started) / 1000;
    console.log(
      `claimed and completed ${ledger.completionsByRun.size} runs in ${seconds.toFixed(1)} s: ${Math.round(ledger.completionsByRun.size / seconds)} runs/s`,
    );

    expect(ledger.refusals).toEqual([]);
    expect(ledger.completionsByRun.size).toBe(runCount);
    expect([...ledger.completionsByRun.values()].every((count) => count === 1)).toBe(true);
    expect(ledger.leasesByRun.size).toBe(runCount);
    const doublyLeased = [...ledger.leasesByRun].filter(([, leaseIds]) => leaseIds.length !== 1);
    expect(doublyLeased).toEqual([]);
    expect(new Set([...ledger.leasesByRun.values()].flat()).size).toBe(runCount);
    expect([...ledger.leasesByRun.keys()].every((runId) => createdIds.has(runId))).toBe(true);

    // The server agrees: nothing left live, everything SUCCEEDED.
    const live = await runs.listRuns({ workflow: "counter", status: [RunStatus.QUEUED, RunStatus.RUNNING], pageSize: 10 });
    expect(live.runs).toEqual([]);
    let succeeded = 0;
    let pageToken = "";
    do {
      const page = await runs.listRuns({ workflow: "counter", status: [RunStatus.SUCCEEDED], pageSize: 1000, pageToken });
      succeeded += page.runs.length;
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    expect(succeeded).toBe(runCount);

    // A sample of logs: queued, leased once, succeeded — no second RUNNING, no gaps.
    const sample = [...createdIds].filter((_, index) => index % 250 === 0);
    for (const runId of sample) {
      const { events } = await runs.listRunEvents({ runId });
      expect(events.map((event) => [event.sequence, event.type, event.status])).toEqual([
        [1n, "status", RunStatus.QUEUED],
        [2n, "status", RunStatus.RUNNING],
        [3n, "status", RunStatus.SUCCEEDED],
      ]);
    }
  },
);
