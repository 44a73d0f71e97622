/**
 * Waiting callers are woken by notifications, not found by polling: a long-polling
 * claimer gets a run soon after it is queued, on its own server and on another replica
 * (through NOTIFY), and a blocking GetRunOutput answers soon after the run completes.
 * Both fallbacks poll every 2 s; a p99 well under 1 s over 30 samples cannot come from
 * polling. The figures are printed for the record.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { RunStatus } from "../../gen/runline/v1/run_pb.js";
import { RunsService } from "../../gen/runline/v1/runs_service_pb.js";
import { clientFor, createTenant, json, type TenantFixture } from "../support/clients.js";
import { startTestServer } from "../support/test-server.js";
import { createWorkflowWith, millis, percentile, plain, sleep, workerClient } from "./worker-fixtures.js";

const samples = 30;
/** Time for a request just sent to reach its wait on the server. */
const settleMs = 50;
const promptMs = 1000;

let servers: { name: string; url: string }[];
let tenant: TenantFixture;

beforeAll(async () => {
  const first = await startTestServer();
  const second = await startTestServer(first.databaseUrl);
  servers = [
    { name: "A", url: first.url },
    { name: "B", url: second.url },
  ];
  tenant = await createTenant(first.url);
  await createWorkflowWith(tenant, "wake");
});

/** Prints and returns p50/p99 of `latencies`. */
function summarise(what: string, latencies: number[]): { p50: number; p99: number } {
  const p50 = percentile(latencies, 50);
  const p99 = percentile(latencies, 99);
  console.log(
    `${what}: p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${Math.max(...latencies).toFixed(1)} ms over ${latencies.length} samples`,
  );
  return { p50, p99 };
}

describe.each([
  ["the same server", 0, 0],
  ["another server (NOTIFY)", 1, 0],
])("a claimer long-polling on %s", (_, claimOn, createOn) => {
  it("is woken by CreateRun well before the 2 s fallback poll", { timeout: 60_000 }, async () => {
    const worker = workerClient(tenant, servers[claimOn]!.url, "grpc");
    const creator = clientFor(RunsService, "grpc", servers[createOn]!.url, tenant.key);
    const sample = async (): Promise<number> => {
      const claiming = worker.claimRuns({ workerId: "waiter", workflows: ["wake"], waitTimeout: millis(10_000) });
      await sleep(settleMs);
      const { run } = await creator.createRun({ workflow: "wake", input: json({ n: 1 }) });
      const created = performance.now();
      const { leases } = await claiming;
      // The claim may answer before CreateRun's own answer arrives: that counts as 0.
      const latency = Math.max(0, performance.now() - created);
      expect(leases.map((lease) => lease.run!.id)).toEqual([run!.id]);
      await worker.completeRun({ runId: run!.id, leaseId: leases[0]!.leaseId });
      return latency;
    };
    await sample(); // warm-up: connections, prepared statements
    const latencies: number[] = [];
    for (let index = 0; index < samples; index++) latencies.push(await sample());
    const { p99 } = summarise(`claim wake-up, run created on ${servers[createOn]!.name}, claimer on ${servers[claimOn]!.name}`, latencies);
    expect(p99).toBeLessThan(promptMs);
  });
});

describe.each([
  ["the same server", 0],
  ["another server (NOTIFY)", 1],
])("GetRunOutput blocking on %s", (_, waitOn) => {
  it("answers soon after CompleteRun, well before the 2 s fallback poll", { timeout: 60_000 }, async () => {
    const worker = workerClient(tenant, servers[0]!.url, "grpc");
    const reader = clientFor(RunsService, "connect-json", servers[waitOn]!.url, tenant.key);
    const sample = async (): Promise<number> => {
      const { run } = await tenant.runs().createRun({ workflow: "wake", input: json({ n: 2 }) });
      const { leases } = await worker.claimRuns({ workerId: "finisher", workflows: ["wake"], waitTimeout: millis(2000) });
      const waiting = reader.getRunOutput({ runId: run!.id, blockTimeout: millis(10_000) });
      await sleep(settleMs);
      await worker.completeRun({ runId: run!.id, leaseId: leases[0]!.leaseId, output: json({ answer: 42 }) });
      const completed = performance.now();
      const { output } = await waiting;
      const latency = Math.max(0, performance.now() - completed);
      expect([output!.status, output!.done]).toEqual([RunStatus.SUCCEEDED, true]);
      expect(output!.outcome.case === "result" ? plain(output!.outcome.value) : undefined).toEqual({ answer: 42 });
      return latency;
    };
    await sample();
    const latencies: number[] = [];
    for (let index = 0; index < samples; index++) latencies.push(await sample());
    const { p99 } = summarise(`GetRunOutput wake-up, completed on A, waiting on ${servers[waitOn]!.name}`, latencies);
    expect(p99).toBeLessThan(promptMs);
  });
});
