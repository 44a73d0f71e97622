/**
 * WorkerService over REST (API.md "WorkerService"; paths in worker_service.proto), with
 * a worker-scoped key as an executor would hold: `POST /api/v1/workers/{worker_id}:claim`
 * (long-poll with waitTimeout), `…/{worker_id}:stream` (assignments as SSE),
 * `POST /api/v1/workers/runs/{run_id}:heartbeat|:complete|:fail|:release|:interrupt`, and
 * `POST /api/v1/workers/runs/{run_id}/events` (ReportRunEvents, fenced by the lease).
 * Every test claims only its own workflow, so tests never take each other's runs.
 */
import { beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { startTestServer } from "../support/test-server.js";
import {
  createRestKey,
  createRestRun,
  createRestTenant,
  createRestWorkflow,
  expectStatus,
  type LeaseJson,
  type RestClient,
  type RestTenant,
  type RunEventJson,
  type RunJson,
} from "./rest-client.js";
import { readSse } from "./rest-streams.js";

let baseUrl: string;
let tenant: RestTenant;
let worker: RestClient;
let workerKey: string;

beforeAll(async () => {
  baseUrl = (await startTestServer()).url;
  tenant = await createRestTenant(baseUrl);
  const created = await createRestKey(baseUrl, tenant.slug, ["SCOPE_WORKER"]);
  worker = created.rest;
  workerKey = created.key;
});

let workflowCounter = 0;

/** A workflow of the test's own and a run of it; `create` adds CreateRun fields. */
async function queuedRun(create: Record<string, unknown> = {}): Promise<{ slug: string; run: RunJson }> {
  const slug = `work-${workflowCounter++}`;
  await createRestWorkflow(tenant.rest, slug);
  return { slug, run: await createRestRun(tenant.rest, { workflow: slug, input: { n: 1 }, ...create }) };
}

/** Claims the one run of `slug` with the worker key. */
async function claimOne(slug: string, leaseDuration = "30s"): Promise<LeaseJson> {
  const claimed = await worker.post<{ leases: LeaseJson[] }>("/api/v1/workers/rest-worker:claim", {
    workflows: [slug],
    waitTimeout: "10s",
    leaseDuration,
  });
  expect(claimed.status, claimed.text).toBe(200);
  expect(claimed.body.leases).toHaveLength(1);
  return claimed.body.leases[0]!;
}

describe("POST /api/v1/workers/{worker_id}:claim", () => {
  it("waits up to waitTimeout and returns no leases when nothing is queued", async () => {
    const slug = `idle-${workflowCounter++}`;
    await createRestWorkflow(tenant.rest, slug);
    const started = performance.now();
    const claimed = await worker.post<{ leases?: LeaseJson[] }>("/api/v1/workers/idle-worker:claim", {
      workflows: [slug],
      waitTimeout: "0.5s",
    });
    const elapsed = performance.now() - started;
    expect(claimed.status).toBe(200);
    // proto3 JSON leaves the empty list out.
    expect(claimed.body.leases ?? []).toEqual([]);
    expect(elapsed).toBeGreaterThanOrEqual(450);
    expect(elapsed).toBeLessThan(3000);
  });

  it("is woken by a run created while it waits, and leases it RUNNING on attempt 1", async () => {
    const slug = `wake-${workflowCounter++}`;
    await createRestWorkflow(tenant.rest, slug);
    const started = performance.now();
    const claiming = worker.post<{ leases: LeaseJson[] }>("/api/v1/workers/waiting-worker:claim", {
      workflows: [slug],
      waitTimeout: "10s",
    });
    const run = await createRestRun(tenant.rest, { workflow: slug, input: { n: 2 } });
    const claimed = await claiming;
    expect(performance.now() - started).toBeLessThan(5000);
    expect(claimed.body.leases).toEqual([
      {
        run: expect.objectContaining({ id: run.id, status: "RUN_STATUS_RUNNING", attempt: 1, startTime: expect.any(String) }),
        leaseId: expect.any(String),
        leaseExpireTime: expect.any(String),
      },
    ]);
  });
});

describe("a run's life with a worker key", () => {
  it("claims, heartbeats, reports events and completes a run, whose output is then the result", async () => {
    const { slug, run } = await queuedRun();
    const lease = await claimOne(slug);
    const path = `/api/v1/workers/runs/${run.id}`;

    const beat = await worker.post<{ leaseExpireTime: string; cancelRequested?: boolean }>(`${path}:heartbeat`, { leaseId: lease.leaseId });
    expect(beat.status).toBe(200);
    expect(Date.parse(beat.body.leaseExpireTime)).toBeGreaterThanOrEqual(Date.parse(lease.leaseExpireTime));
    expect(beat.body.cancelRequested ?? false).toBe(false);

    const reported = await worker.post<{ events: RunEventJson[] }>(`${path}/events`, {
      leaseId: lease.leaseId,
      events: [{ type: "progress", data: { fraction: 0.5 } }],
    });
    expect(reported.status, reported.text).toBe(200);
    expect(reported.body.events.map((event) => [event.sequence, event.type])).toEqual([["3", "progress"]]);

    const completed = await worker.post<{ run: RunJson }>(`${path}:complete`, { leaseId: lease.leaseId, output: { total: 3 } });
    expect(completed.status).toBe(200);
    expect(completed.body.run).toMatchObject({ id: run.id, status: "RUN_STATUS_SUCCEEDED", endTime: expect.any(String) });
    const output = await tenant.rest.get<{ output: unknown }>(`/api/v1/runs/${run.id}/output`);
    expect(output.body.output).toEqual({ status: "RUN_STATUS_SUCCEEDED", done: true, result: { total: 3 } });
    const events = await tenant.rest.get<{ events: RunEventJson[] }>(`/api/v1/runs/${run.id}/events`);
    expect(events.body.events.map((event) => event.status ?? event.type)).toEqual([
      "RUN_STATUS_QUEUED",
      "RUN_STATUS_RUNNING",
      "progress",
      "RUN_STATUS_SUCCEEDED",
    ]);

    // The lease is spent: further writes with it are FAILED_PRECONDITION and change nothing.
    expectStatus(await worker.post(`${path}:heartbeat`, { leaseId: lease.leaseId }), 400, 9);
    expectStatus(await worker.post(`${path}:complete`, { leaseId: lease.leaseId, output: { total: 4 } }), 400, 9);
    expectStatus(await worker.post(`${path}/events`, { leaseId: lease.leaseId, events: [{ type: "late" }] }), 400, 9);
  });

  it(
    "refuses events at /events under a lease that expired and whose run was claimed again (400 FAILED_PRECONDITION), appending nothing",
    { timeout: 20_000 },
    async () => {
      const { slug, run } = await queuedRun({ maxAttempts: 2 });
      const old = await claimOne(slug, "0.5s");
      // No heartbeat: the sweeper (every second) queues the run again; after the backoff it is claimed again.
      const current = await claimOne(slug);
      expect(current.run).toMatchObject({ id: run.id, attempt: 2 });
      const path = `/api/v1/workers/runs/${run.id}/events`;
      const refused = expectStatus(await worker.post(path, { leaseId: old.leaseId, events: [{ type: "zombie" }] }), 400, 9);
      expect(JSON.stringify(refused.details)).toContain("LEASE_NOT_CURRENT");
      const accepted = await worker.post<{ events: RunEventJson[] }>(path, {
        leaseId: current.leaseId,
        events: [{ type: "progress", eventId: "p-1" }],
      });
      expect(accepted.status, accepted.text).toBe(200);
      const events = await tenant.rest.get<{ events: RunEventJson[] }>(`/api/v1/runs/${run.id}/events`);
      expect(events.body.events.map((event) => event.status ?? event.type)).toEqual([
        "RUN_STATUS_QUEUED",
        "RUN_STATUS_RUNNING",
        "RUN_STATUS_QUEUED",
        "RUN_STATUS_RUNNING",
        "progress",
      ]);
    },
  );

  it("fails a run for good at :fail when not retryable; its output is the error", async () => {
    const { slug, run } = await queuedRun();
    const lease = await claimOne(slug);
    const failed = await worker.post<{ run: RunJson }>(`/api/v1/workers/runs/${run.id}:fail`, {
      leaseId: lease.leaseId,
      error: { message: "disk full", code: "DISK_FULL" },
      retryable: false,
    });
    expect(failed.status).toBe(200);
    expect(failed.body.run.status).toBe("RUN_STATUS_FAILED");
    const output = await tenant.rest.get<{ output: unknown }>(`/api/v1/runs/${run.id}/output`);
    expect(output.body.output).toEqual({ status: "RUN_STATUS_FAILED", done: true, error: { message: "disk full", code: "DISK_FULL" } });
  });

  it("queues a run again at :fail when retryable with attempts left, and the next claim is attempt 2", async () => {
    const { slug, run } = await queuedRun({ maxAttempts: 2 });
    const first = await claimOne(slug);
    const failed = await worker.post<{ run: RunJson }>(`/api/v1/workers/runs/${run.id}:fail`, {
      leaseId: first.leaseId,
      error: { message: "flaky" },
      retryable: true,
    });
    expect(failed.body.run.status).toBe("RUN_STATUS_QUEUED");
    const second = await claimOne(slug);
    expect(second.run).toMatchObject({ id: run.id, attempt: 2 });
    expect(second.leaseId).not.toBe(first.leaseId);
  });

  it("gives a lease back at :release: the run is queued again and the attempt does not count", async () => {
    const { slug, run } = await queuedRun();
    const first = await claimOne(slug);
    const released = await worker.post<{ run: RunJson }>(`/api/v1/workers/runs/${run.id}:release`, { leaseId: first.leaseId });
    expect(released.status).toBe(200);
    expect(released.body.run.status).toBe("RUN_STATUS_QUEUED");
    const again = await claimOne(slug);
    expect(again.run).toMatchObject({ id: run.id, attempt: 1 });
  });

  it("pauses a run at :interrupt; once resumed, the next lease carries the resume input and the history", async () => {
    const { slug, run } = await queuedRun();
    const lease = await claimOne(slug);
    const resumeSchema = { type: "object", properties: { ok: { type: "boolean" } }, required: ["ok"] };
    const interrupted = await worker.post<{ run: RunJson; interrupt: { id: string; reason: string } }>(
      `/api/v1/workers/runs/${run.id}:interrupt`,
      {
        leaseId: lease.leaseId,
        reason: "need a human",
        payload: { question: "ok?" },
        resumeSchema,
      },
    );
    expect(interrupted.status).toBe(200);
    expect(interrupted.body.run.status).toBe("RUN_STATUS_INTERRUPTED");
    expect(interrupted.body.interrupt).toMatchObject({ id: expect.any(String), reason: "need a human" });

    const resumed = await tenant.rest.post<{ run: RunJson }>(`/api/v1/runs/${run.id}/resume`, {
      input: { ok: true },
      interruptId: interrupted.body.interrupt.id,
    });
    expect(resumed.body.run.status).toBe("RUN_STATUS_QUEUED");
    const next = await worker.post<{ leases: (LeaseJson & { resumeInput: unknown; history: RunEventJson[] })[] }>(
      "/api/v1/workers/rest-worker:claim",
      { workflows: [slug], waitTimeout: "5s" },
    );
    expect(next.body.leases[0]!.resumeInput).toEqual({ ok: true });
    expect(next.body.leases[0]!.history.map((event) => event.status)).toEqual(expect.arrayContaining(["RUN_STATUS_INTERRUPTED"]));
  });

  it("learns of a cancel at :heartbeat (cancelRequested) and completing then ends the run CANCELLED", async () => {
    const { slug, run } = await queuedRun();
    const lease = await claimOne(slug);
    const cancelling = await tenant.rest.post<{ run: RunJson }>(`/api/v1/runs/${run.id}/cancel`, { reason: "stop" });
    expect(cancelling.body.run.status).toBe("RUN_STATUS_CANCELLING");
    const beat = await worker.post<{ cancelRequested: boolean }>(`/api/v1/workers/runs/${run.id}:heartbeat`, { leaseId: lease.leaseId });
    expect(beat.body.cancelRequested).toBe(true);
    const completed = await worker.post<{ run: RunJson }>(`/api/v1/workers/runs/${run.id}:complete`, {
      leaseId: lease.leaseId,
      output: null,
    });
    expect(completed.body.run.status).toBe("RUN_STATUS_CANCELLED");
  });

  it("refuses WorkerService to a key without the worker scope (403), and run creation to a worker key", async () => {
    const reader = await createRestKey(baseUrl, tenant.slug, ["SCOPE_READ"]);
    expectStatus(await reader.rest.post("/api/v1/workers/reader:claim", { waitTimeout: "0s" }), 403, 7);
    expectStatus(await worker.post("/api/v1/runs", { workflow: "anything", input: {} }), 403, 7);
  });

  it("refuses the unfenced POST /api/v1/runs/{run_id}/events to a worker key (403); a write key still appends", async () => {
    const { run } = await queuedRun();
    expectStatus(await worker.post(`/api/v1/runs/${run.id}/events`, { events: [{ type: "progress" }] }), 403, 7);
    const writer = await createRestKey(baseUrl, tenant.slug, ["SCOPE_WRITE"]);
    const ingested = await writer.rest.post<{ events: RunEventJson[] }>(`/api/v1/runs/${run.id}/events`, {
      events: [{ type: "progress" }],
    });
    expect(ingested.status, ingested.text).toBe(200);
    expect(ingested.body.events.map((event) => event.sequence)).toEqual(["2"]);
  });
});

describe("POST /api/v1/workers/{worker_id}:stream", () => {
  it("pushes each claimed lease as an SSE frame as runs become available", async () => {
    const slug = `pushed-${workflowCounter++}`;
    await createRestWorkflow(tenant.rest, slug);
    const controller = new AbortController();
    onTestFinished(() => controller.abort());
    // Not awaited yet: the response's headers go out with its first frame, a lease here.
    const pending = fetch(`${baseUrl}/api/v1/workers/stream-worker:stream`, {
      method: "POST",
      headers: { authorization: `Bearer ${workerKey}`, "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify({ workflows: [slug], maxRuns: 2 }),
      signal: controller.signal,
    });
    const runs = [
      await createRestRun(tenant.rest, { workflow: slug, input: { n: 1 } }),
      await createRestRun(tenant.rest, { workflow: slug, input: { n: 2 } }),
    ];
    const sse = readSse(await pending);
    const leased = () => sse.frames.flatMap((frame) => (JSON.parse(frame.data) as { leases?: LeaseJson[] }).leases ?? []);
    await sse.until("both leases", () => leased().length === 2);
    expect(
      leased()
        .map((lease) => lease.run.id)
        .sort(),
    ).toEqual(runs.map((run) => run.id).sort());
    expect(leased().every((lease) => lease.run.status === "RUN_STATUS_RUNNING")).toBe(true);
    // Assignments are not run events: their frames carry no SSE id.
    expect(sse.frames.every((frame) => frame.id === undefined)).toBe(true);
  });
});
