/**
 * A workflow's concurrency limit holds across claimers and server processes: with a
 * limit of 3, never more than 3 of its runs are RUNNING, seen both from the server
 * (frequent ListRuns) and from the claimers (leases held at once), and all runs finish.
 */
import { beforeAll, expect, it } from "vitest";
import { RunStatus } from "../../gen/runline/v1/run_pb.js";
import { RunsService } from "../../gen/runline/v1/runs_service_pb.js";
import { clientFor, createTenant, json, type TenantFixture } from "../support/clients.js";
import { startTestServer } from "../support/test-server.js";
import { createWorkflowWith, millis, sleep, workerClient } from "./worker-fixtures.js";

const limit = 3;
const runCount = 30;
let servers: string[];
let tenant: TenantFixture;

beforeAll(async () => {
  const first = await startTestServer();
  const second = await startTestServer(first.databaseUrl);
  servers = [first.url, second.url];
  tenant = await createTenant(first.url);
  await createWorkflowWith(tenant, "limited", { concurrencyLimit: limit });
  // An unlimited neighbour: claimers that name no workflow must still respect the limit.
  await createWorkflowWith(tenant, "unlimited");
});

it(
  "never runs more than 3 runs of a workflow limited to 3, with 8 claimers on 2 servers taking 5 at a time",
  { timeout: 60_000 },
  async () => {
    const runs = tenant.runs();
    await runs.batchCreateRuns({ template: { workflow: "limited" }, inputs: Array.from({ length: runCount }, (_, n) => json({ n })) });
    await runs.batchCreateRuns({ template: { workflow: "unlimited" }, inputs: Array.from({ length: 10 }, (_, n) => json({ n })) });

    const done = new AbortController();
    const stop = AbortSignal.any([done.signal, AbortSignal.timeout(45_000)]);
    const completed = { limited: 0, unlimited: 0 };
    // A lease counts as held from its claim's answer until its CompleteRun is sent: inside
    // the run's RUNNING interval on the server, so overlaps seen here happened there too.
    let held = 0;
    let maxHeld = 0;

    const claimer = async (baseUrl: string, index: number) => {
      const worker = workerClient(tenant, baseUrl, index % 2 === 0 ? "grpc" : "connect-json");
      // Half name the workflow, half claim anything of the tenant.
      const workflows = index % 2 === 0 ? ["limited"] : [];
      while (!stop.aborted) {
        const { leases } = await worker
          .claimRuns({ workerId: `claimer-${index}`, workflows, maxRuns: 5, waitTimeout: millis(300) }, { signal: stop })
          .catch((error: unknown) => {
            if (stop.aborted) return { leases: [] };
            throw error;
          });
        const limited = leases.filter((lease) => lease.run!.workflowSlug === "limited");
        held += limited.length;
        maxHeld = Math.max(maxHeld, held);
        await sleep(50);
        await Promise.all(
          leases.map(async (lease) => {
            const isLimited = lease.run!.workflowSlug === "limited";
            if (isLimited) held--;
            await worker.completeRun({ runId: lease.run!.id, leaseId: lease.leaseId });
            completed[isLimited ? "limited" : "unlimited"]++;
          }),
        );
        if (completed.limited === runCount && completed.unlimited === 10) done.abort();
      }
    };

    // The server's view: RUNNING runs of the workflow, sampled every few milliseconds
    // through each server.
    const samples: number[] = [];
    const sampler = async (baseUrl: string) => {
      const reader = clientFor(RunsService, "grpc", baseUrl, tenant.key);
      while (!stop.aborted) {
        const { runs: running } = await reader.listRuns({
          workflow: "limited",
          status: [RunStatus.RUNNING, RunStatus.CANCELLING],
          pageSize: 100,
        });
        samples.push(running.length);
        await sleep(5);
      }
    };

    await Promise.all([
      ...servers.map(sampler),
      ...servers.flatMap((baseUrl, server) => [0, 1, 2, 3].map((index) => claimer(baseUrl, server * 4 + index))),
    ]);
    console.log(
      `concurrency limit ${limit}: ${samples.length} samples, server-side max ${Math.max(...samples)}; claim-side max held ${maxHeld}`,
    );

    expect(completed).toEqual({ limited: runCount, unlimited: 10 });
    expect(Math.max(...samples)).toBeLessThanOrEqual(limit);
    expect(maxHeld).toBeLessThanOrEqual(limit);
    // Not vacuous: the claimers did run the workflow's runs side by side.
    expect(maxHeld).toBeGreaterThan(1);
    const { runs: succeeded } = await runs.listRuns({ workflow: "limited", status: [RunStatus.SUCCEEDED], pageSize: 100 });
    expect(succeeded).toHaveLength(runCount);
  },
);
