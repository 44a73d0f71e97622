/**
 * What a claim returns and who may make one: queued runs by priority, then age; only
 * the named workflows; StreamAssignments pushing leases as runs are queued while
 * keeping at most `max_runs` leased; and the `worker` scope required throughout.
 * Every test has a tenant of its own, so its queue holds only its runs.
 */
import { Code } from "@connectrpc/connect";
import { beforeAll, describe, expect, it } from "vitest";
import { AdminService, Scope } from "../../gen/runline/v1/admin_service_pb.js";
import { RunStatus } from "../../gen/runline/v1/run_pb.js";
import { WorkerService, type Lease } from "../../gen/runline/v1/worker_service_pb.js";
import { clientFor, createTenant, json, type TenantFixture } from "../support/clients.js";
import { startTestServer, testRootKey } from "../support/test-server.js";
import { createWorkflowWith, eventually, millis, rejection, sleep, workerClient } from "./worker-fixtures.js";

let baseUrl: string;

beforeAll(async () => {
  const server = await startTestServer();
  baseUrl = server.url;
});

async function tenantWith(...workflows: string[]): Promise<{ tenant: TenantFixture; ids: string[] }> {
  const tenant = await createTenant(baseUrl);
  const ids: string[] = [];
  for (const slug of workflows) ids.push(await createWorkflowWith(tenant, slug));
  return { tenant, ids };
}

describe("ClaimRuns", () => {
  it("hands out queued runs by priority, highest first, then oldest first", async () => {
    const { tenant } = await tenantWith("ordered");
    const runs = tenant.runs();
    const created: { name: string; priority: number }[] = [
      { name: "old-normal", priority: 0 },
      { name: "old-urgent", priority: 5 },
      { name: "new-normal", priority: 0 },
      { name: "new-urgent", priority: 5 },
      { name: "background", priority: -1 },
    ];
    const names = new Map<string, string>();
    for (const { name, priority } of created) {
      const { run } = await runs.createRun({ workflow: "ordered", input: json({ n: 1 }), priority });
      names.set(run!.id, name);
    }
    const worker = workerClient(tenant, baseUrl);
    const order: string[] = [];
    for (let index = 0; index < created.length; index++) {
      const { leases } = await worker.claimRuns({ workerId: "one-at-a-time", maxRuns: 1 });
      expect(leases).toHaveLength(1);
      order.push(names.get(leases[0]!.run!.id)!);
      await worker.completeRun({ runId: leases[0]!.run!.id, leaseId: leases[0]!.leaseId });
    }
    expect(order).toEqual(["old-urgent", "new-urgent", "old-normal", "new-normal", "background"]);
  });

  it("claims at most max_runs at once, and returns no leases when the queue is empty", async () => {
    const { tenant } = await tenantWith("bulk");
    await tenant.runs().batchCreateRuns({ template: { workflow: "bulk" }, inputs: [1, 2, 3, 4, 5].map((n) => json({ n })) });
    const worker = workerClient(tenant, baseUrl, "grpc");
    const first = await worker.claimRuns({ workerId: "bulk", maxRuns: 3 });
    const second = await worker.claimRuns({ workerId: "bulk", maxRuns: 3 });
    expect([first.leases.length, second.leases.length]).toEqual([3, 2]);
    const started = Date.now();
    expect((await worker.claimRuns({ workerId: "bulk", maxRuns: 3, waitTimeout: millis(300) })).leases).toEqual([]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    for (const lease of [...first.leases, ...second.leases]) await worker.completeRun({ runId: lease.run!.id, leaseId: lease.leaseId });
  });

  it("claims only runs of the named workflows, by id or slug, and refuses an unknown one with NOT_FOUND", async () => {
    const { tenant, ids } = await tenantWith("alpha", "beta");
    const runs = tenant.runs();
    const alpha = (await runs.createRun({ workflow: "alpha", input: json({ n: 1 }) })).run!;
    const beta = (await runs.createRun({ workflow: "beta", input: json({ n: 2 }) })).run!;
    const worker = workerClient(tenant, baseUrl);

    const bySlug = await worker.claimRuns({ workerId: "beta-only", workflows: ["beta"], maxRuns: 10 });
    expect(bySlug.leases.map((lease) => lease.run!.id)).toEqual([beta.id]);
    const byId = await worker.claimRuns({ workerId: "alpha-only", workflows: [ids[0]!.toUpperCase()], maxRuns: 10 });
    expect(byId.leases.map((lease) => lease.run!.id)).toEqual([alpha.id]);

    for (const workflows of [["nope"], ["beta", "nope"], [crypto.randomUUID()]]) {
      const error = await rejection(worker.claimRuns({ workerId: "lost", workflows }));
      expect(error.code).toBe(Code.NotFound);
    }
    // Another tenant's workflow is unknown here too.
    const { tenant: other } = await tenantWith("gamma");
    expect((await rejection(workerClient(other, baseUrl).claimRuns({ workerId: "nosy", workflows: [ids[0]!] }))).code).toBe(Code.NotFound);

    for (const lease of [...bySlug.leases, ...byId.leases]) await worker.completeRun({ runId: lease.run!.id, leaseId: lease.leaseId });
  });

  it("refuses bad arguments with INVALID_ARGUMENT", async () => {
    const { tenant } = await tenantWith("strict");
    const worker = workerClient(tenant, baseUrl);
    for (const request of [
      { workerId: "" },
      { workerId: "x".repeat(129) },
      { workerId: "w", maxRuns: 101 },
      { workerId: "w", maxRuns: -1 },
      { workerId: "w", leaseDuration: millis(100) },
    ]) {
      expect((await rejection(worker.claimRuns(request))).code).toBe(Code.InvalidArgument);
    }
  });
});

describe("StreamAssignments", () => {
  it("pushes leases as runs are queued and keeps at most max_runs leased through the stream", { timeout: 30_000 }, async () => {
    const { tenant } = await tenantWith("streamed");
    const runs = tenant.runs();
    const worker = workerClient(tenant, baseUrl, "grpc");
    const received: Lease[] = [];
    const stream = new AbortController();
    const reading = (async () => {
      const messages = worker.streamAssignments(
        { workerId: "streamer", workflows: ["streamed"], maxRuns: 2 },
        { signal: AbortSignal.any([stream.signal, AbortSignal.timeout(25_000)]) },
      );
      for await (const message of messages) received.push(...message.leases);
    })().catch((error: unknown) => {
      if (!stream.signal.aborted) throw error;
    });
    try {
      await sleep(100);
      const first = (await runs.createRun({ workflow: "streamed", input: json({ n: 1 }) })).run!;
      await eventually(3000, "first assignment", async () => (received.length >= 1 ? true : undefined));
      expect(received.map((lease) => lease.run!.id)).toEqual([first.id]);

      const more = await runs.batchCreateRuns({ template: { workflow: "streamed" }, inputs: [2, 3, 4].map((n) => json({ n })) });
      await eventually(3000, "second assignment", async () => (received.length >= 2 ? true : undefined));
      // Two leased through the stream: no third while neither finishes.
      await sleep(1500);
      expect(received).toHaveLength(2);
      const statuses = await Promise.all(more.runs.map(async (run) => (await runs.getRun({ runId: run.id })).run!.status));
      expect(statuses.filter((status) => status === RunStatus.QUEUED)).toHaveLength(2);

      await worker.completeRun({ runId: received[0]!.run!.id, leaseId: received[0]!.leaseId });
      await eventually(3000, "assignment after a completion", async () => (received.length >= 3 ? true : undefined));
      await sleep(500);
      expect(received).toHaveLength(3);
      expect(new Set(received.map((lease) => lease.run!.id)).size).toBe(3);
      expect(received.every((lease) => lease.run!.status === RunStatus.RUNNING)).toBe(true);
    } finally {
      stream.abort();
      await reading;
      for (const lease of received) await worker.completeRun({ runId: lease.run!.id, leaseId: lease.leaseId }).catch(() => undefined);
    }
    // What the stream did not take is still queued for someone else.
    const { leases } = await worker.claimRuns({ workerId: "other", workflows: ["streamed"], maxRuns: 10 });
    expect(leases).toHaveLength(1);
    await worker.completeRun({ runId: leases[0]!.run!.id, leaseId: leases[0]!.leaseId });
  });
});

describe("access", () => {
  it("needs a key with the worker scope: a read-only key is PERMISSION_DENIED, a worker key may claim and finish", async () => {
    const { tenant } = await tenantWith("guarded");
    const admin = clientFor(AdminService, "connect-json", baseUrl, testRootKey);
    const readKey = (await admin.createApiKey({ tenant: tenant.tenantId, scopes: [Scope.READ] })).secret;
    const writeKey = (await admin.createApiKey({ tenant: tenant.tenantId, scopes: [Scope.WRITE] })).secret;
    const workerKey = (await admin.createApiKey({ tenant: tenant.tenantId, scopes: [Scope.WORKER] })).secret;
    const { run } = await tenant.runs().createRun({ workflow: "guarded", input: json({ n: 1 }) });

    for (const key of [readKey, writeKey]) {
      for (const protocol of ["grpc", "connect-json"] as const) {
        const denied = clientFor(WorkerService, protocol, baseUrl, key);
        expect((await rejection(denied.claimRuns({ workerId: "intruder" }))).code).toBe(Code.PermissionDenied);
        expect((await rejection(denied.heartbeat({ runId: run!.id, leaseId: crypto.randomUUID() }))).code).toBe(Code.PermissionDenied);
      }
    }
    expect((await rejection(clientFor(WorkerService, "grpc", baseUrl, undefined).claimRuns({ workerId: "anonymous" }))).code).toBe(
      Code.Unauthenticated,
    );
    expect((await tenant.runs().getRun({ runId: run!.id })).run!.status).toBe(RunStatus.QUEUED);

    const worker = clientFor(WorkerService, "grpc", baseUrl, workerKey);
    const { leases } = await worker.claimRuns({ workerId: "trusted" });
    expect(leases.map((lease) => lease.run!.id)).toEqual([run!.id]);
    const done = await worker.completeRun({ runId: run!.id, leaseId: leases[0]!.leaseId, output: json("ok") });
    expect(done.run!.status).toBe(RunStatus.SUCCEEDED);
  });
});
