/**
 * ReportRunEvents: an executor's events are fenced by its lease (API.md, "Events written
 * by executors are fenced"). Once a lease has expired and the run was claimed again, the
 * old lease appends nothing, over every RPC protocol, on a Work session, and even while
 * the old executor keeps reporting through the expiry; the SDK reports through it; and
 * a worker-only key can no longer use the unfenced RunsService.IngestRunEvents. The
 * lease sweeper runs every 100 ms here.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminService, Scope } from "../../gen/runline/v1/admin_service_pb.js";
import { RunStatus, type RunEvent } from "../../gen/runline/v1/run_pb.js";
import { RunsService } from "../../gen/runline/v1/runs_service_pb.js";
import { WorkerService, type Lease, type WorkRequestSchema, type WorkResponse } from "../../gen/runline/v1/worker_service_pb.js";
import { createWorker } from "../../src/sdk/create-worker.js";
import { clientFor, createTenant, h2ConnectTransport, json, protocols, type TenantFixture } from "../support/clients.js";
import { codeOf } from "../support/expectations.js";
import { startTestServer, testRootKey } from "../support/test-server.js";
import { createWorkflowWith, eventually, millis, plain, reasonOf, rejection, within, workerClient } from "./worker-fixtures.js";

let baseUrl: string;
let database: pg.Client;

beforeAll(async () => {
  const server = await startTestServer(undefined, { RUNLINE_SWEEP_INTERVAL_MS: "100" });
  baseUrl = server.url;
  database = new pg.Client({ connectionString: server.databaseUrl });
  await database.connect();
});

afterAll(() => database.end());

/** A fresh tenant whose workflow `slug` retries at once (3 attempts, 1 ms backoff), and one queued run of it. */
async function queuedRun(slug: string): Promise<{ tenant: TenantFixture; runId: string }> {
  const tenant = await createTenant(baseUrl);
  await createWorkflowWith(tenant, slug, { maxAttempts: 3, backoffMs: 1 });
  const { run } = await tenant.runs().createRun({ workflow: slug, input: json({ n: 1 }) });
  return { tenant, runId: run!.id };
}

/** The run's whole log. */
async function logOf(tenant: TenantFixture, runId: string): Promise<RunEvent[]> {
  return (await tenant.runs().listRunEvents({ runId, pageSize: 1000 })).events;
}

/** Waits until the run is RUNNING on `attempt` (claimed again after its lease expired). */
async function waitForAttempt(tenant: TenantFixture, runId: string, attempt: number): Promise<void> {
  await eventually(
    10_000,
    `run on attempt ${attempt}`,
    async () => {
      const { run } = await tenant.runs().getRun({ runId });
      return run!.status === RunStatus.RUNNING && run!.attempt === attempt ? true : undefined;
    },
    20,
  );
}

describe("ReportRunEvents", () => {
  for (const protocol of protocols) {
    it(`over ${protocol}: appends under the current lease, and after expiry and a re-claim refuses the old lease with LEASE_NOT_CURRENT, appending nothing`, async () => {
      const { tenant, runId } = await queuedRun("fenced");
      const worker = workerClient(tenant, baseUrl, protocol);
      const [old] = (await worker.claimRuns({ workerId: "old", workflows: ["fenced"], leaseDuration: millis(1000) })).leases;
      const reported = await worker.reportRunEvents({
        runId,
        leaseId: old!.leaseId,
        events: [
          { type: "progress", data: json({ step: 1 }) },
          { type: "log", data: json("two"), eventId: "e-2" },
        ],
      });
      expect(reported.events.map((event) => [event.sequence, event.type, event.eventId])).toEqual([
        [3n, "progress", ""],
        [4n, "log", "e-2"],
      ]);

      // No heartbeat: the lease expires, the run goes back to the queue and is claimed again.
      const { leases } = await worker.claimRuns({
        workerId: "new",
        workflows: ["fenced"],
        waitTimeout: millis(5000),
        leaseDuration: millis(30_000),
      });
      expect(leases.map((lease) => [lease.run!.id, lease.run!.attempt])).toEqual([[runId, 2]]);
      const current = leases[0]!;

      const refused = await rejection(
        worker.reportRunEvents({ runId, leaseId: old!.leaseId, events: [{ type: "zombie", data: json("late") }] }),
      );
      expect([refused.code, reasonOf(refused)]).toEqual([Code.FailedPrecondition, "LEASE_NOT_CURRENT"]);
      // A lease id that was never handed out is refused the same way.
      expect(reasonOf(await rejection(worker.reportRunEvents({ runId, leaseId: crypto.randomUUID(), events: [{ type: "zombie" }] })))).toBe(
        "LEASE_NOT_CURRENT",
      );

      const fresh = await worker.reportRunEvents({
        runId,
        leaseId: current.leaseId,
        events: [{ type: "progress", data: json({ step: 1 }) }],
      });
      const log = await logOf(tenant, runId);
      expect(log.map((event) => (event.type === "status" ? RunStatus[event.status] : event.type))).toEqual([
        "QUEUED",
        "RUNNING",
        "progress",
        "log",
        "QUEUED",
        "RUNNING",
        "progress",
      ]);
      expect(fresh.events[0]!.sequence).toBe(7n);
      expect((await tenant.runs().getRun({ runId })).run!.lastSequence).toBe(7n);
    });
  }

  it("checks its arguments: unknown run NOT_FOUND, malformed lease id or no events INVALID_ARGUMENT", async () => {
    const { tenant, runId } = await queuedRun("arguments");
    const worker = workerClient(tenant, baseUrl, "grpc");
    const [lease] = (await worker.claimRuns({ workerId: "w", workflows: ["arguments"] })).leases;
    expect(await codeOf(worker.reportRunEvents({ runId: crypto.randomUUID(), leaseId: lease!.leaseId, events: [{ type: "x" }] }))).toBe(
      Code.NotFound,
    );
    expect(await codeOf(worker.reportRunEvents({ runId, leaseId: "not-a-lease", events: [{ type: "x" }] }))).toBe(Code.InvalidArgument);
    expect(await codeOf(worker.reportRunEvents({ runId, leaseId: lease!.leaseId, events: [] }))).toBe(Code.InvalidArgument);
    expect(await codeOf(worker.reportRunEvents({ runId, leaseId: lease!.leaseId, events: [{ type: "status" }] }))).toBe(
      Code.InvalidArgument,
    );
    // Another tenant's run does not exist for this caller.
    const other = await createTenant(baseUrl);
    expect(await codeOf(workerClient(other, baseUrl).reportRunEvents({ runId, leaseId: lease!.leaseId, events: [{ type: "x" }] }))).toBe(
      Code.NotFound,
    );
    expect((await logOf(tenant, runId)).map((event) => event.type)).toEqual(["status", "status"]);
  });

  it(
    "keeps an executor that reports through its lease's expiry out of the next attempt's log: every accepted event precedes the re-claim",
    { timeout: 20_000 },
    async () => {
      const { tenant, runId } = await queuedRun("racing");
      const worker = workerClient(tenant, baseUrl, "grpc");
      const [old] = (await worker.claimRuns({ workerId: "old", workflows: ["racing"], leaseDuration: millis(400) })).leases;
      const claiming = worker.claimRuns({
        workerId: "new",
        workflows: ["racing"],
        waitTimeout: millis(10_000),
        leaseDuration: millis(30_000),
      });
      // Four reporters keep appending with the old lease until it is refused.
      const accepted: string[] = [];
      const refusedIds: string[] = [];
      let counter = 0;
      const reporter = async () => {
        for (;;) {
          const eventId = `old-${counter++}`;
          try {
            await worker.reportRunEvents({ runId, leaseId: old!.leaseId, events: [{ type: "progress", eventId }] });
            accepted.push(eventId);
          } catch (error) {
            expect(ConnectError.from(error).code).toBe(Code.FailedPrecondition);
            refusedIds.push(eventId);
            return;
          }
        }
      };
      await Promise.all([reporter(), reporter(), reporter(), reporter()]);
      const [current] = (await claiming).leases;
      expect(current!.run!.attempt).toBe(2);
      // Reports after the re-claim, racing the new executor's own.
      const late = await Promise.all(
        Array.from({ length: 8 }, (_, index) =>
          codeOf(worker.reportRunEvents({ runId, leaseId: old!.leaseId, events: [{ type: "progress", eventId: `late-${index}` }] })),
        ),
      );
      expect(late.every((code) => code === Code.FailedPrecondition)).toBe(true);
      await worker.reportRunEvents({ runId, leaseId: current!.leaseId, events: [{ type: "progress", eventId: "new-1" }] });

      const log = await logOf(tenant, runId);
      const reclaimed = log.filter((event) => event.status === RunStatus.RUNNING)[1]!.sequence;
      const oldEvents = log.filter((event) => event.eventId.startsWith("old-") || event.eventId.startsWith("late-"));
      expect(accepted.length, "events the old lease got in before expiry").toBeGreaterThan(0);
      expect(oldEvents.map((event) => event.eventId).sort()).toEqual([...accepted].sort());
      expect(oldEvents.every((event) => event.sequence < reclaimed)).toBe(true);
      expect(log.filter((event) => event.sequence > reclaimed).map((event) => event.eventId)).toEqual(["new-1"]);
      // Gapless all the same.
      expect(log.map((event) => Number(event.sequence))).toEqual(log.map((_, index) => index + 1));
    },
  );
});

type WorkRequestInit = MessageInitShape<typeof WorkRequestSchema>;

/** A Work session over Connect binary on h2c: `send` what the executor says, `responses` what the server said. */
function workSession(tenant: TenantFixture) {
  const queued: WorkRequestInit[] = [];
  let wake: (() => void) | undefined;
  let ended = false;
  const requests = (async function* () {
    for (;;) {
      if (queued.length > 0) yield queued.shift()!;
      else if (ended) return;
      else await new Promise<void>((resolve) => (wake = resolve));
    }
  })();
  const transport = h2ConnectTransport(baseUrl, tenant.key);
  const responses: WorkResponse[] = [];
  const closed = (async () => {
    for await (const response of createClient(WorkerService, transport).work(requests, { signal: AbortSignal.timeout(20_000) }))
      responses.push(response);
  })();
  const push = (message: WorkRequestInit) => {
    queued.push(message);
    wake?.();
  };
  return {
    responses,
    closed,
    send: push,
    end: () => {
      ended = true;
      wake?.();
    },
    leases: () => responses.flatMap((response) => (response.kind.case === "assigned" ? response.kind.value.leases : [])),
    reported: () => responses.flatMap((response) => (response.kind.case === "reported" ? [response.kind.value] : [])),
  };
}

describe("ReportRunEvents on a Work session", () => {
  it("answers each `report` with `reported` in the order sent, and an outcome sent right after lands after them", async () => {
    const { tenant, runId } = await queuedRun("session-order");
    const session = workSession(tenant);
    session.send({ kind: { case: "open", value: { workerId: "ordered", workflows: ["session-order"], maxRuns: 1 } } });
    const [lease] = await eventually(5000, "a lease pushed", async () => (session.leases().length > 0 ? session.leases() : undefined));
    // Five reports and the completion, without waiting for any answer.
    for (let step = 1; step <= 5; step++)
      session.send({ kind: { case: "report", value: { runId, leaseId: lease!.leaseId, events: [{ type: "step", data: json(step) }] } } });
    session.send({ kind: { case: "complete", value: { runId, leaseId: lease!.leaseId, output: json("done") } } });
    session.end();
    await within(10_000, "session end", session.closed);

    expect(session.reported().map((answer) => [answer.runId, answer.error, answer.events.map((event) => event.sequence)])).toEqual(
      [3n, 4n, 5n, 6n, 7n].map((sequence) => [runId, undefined, [sequence]]),
    );
    const log = await logOf(tenant, runId);
    expect(log.map((event) => (event.type === "status" ? RunStatus[event.status] : plain(event.data)))).toEqual([
      "QUEUED",
      "RUNNING",
      1,
      2,
      3,
      4,
      5,
      "SUCCEEDED",
    ]);
  });

  it(
    "refuses a `report` under the session's expired lease once the run was claimed again: failed_precondition / LEASE_NOT_CURRENT, nothing appended, the session goes on",
    { timeout: 20_000 },
    async () => {
      const { tenant, runId } = await queuedRun("session-fenced");
      const session = workSession(tenant);
      session.send({
        kind: { case: "open", value: { workerId: "sleepy", workflows: ["session-fenced"], maxRuns: 1, leaseDuration: millis(300) } },
      });
      const [old] = await eventually(5000, "a lease pushed", async () => (session.leases().length > 0 ? session.leases() : undefined));
      // No heartbeat: the lease expires and the run is claimed again (by a unary claimer or
      // by the session itself once it notices its slot is free; the old lease is stale either way).
      const claimed = workerClient(tenant, baseUrl).claimRuns({
        workerId: "other",
        workflows: ["session-fenced"],
        waitTimeout: millis(5000),
        leaseDuration: millis(30_000),
      });
      await waitForAttempt(tenant, runId, 2);
      session.send({ kind: { case: "report", value: { runId, leaseId: old!.leaseId, events: [{ type: "zombie" }] } } });
      const [answer] = await eventually(5000, "the report answered", async () =>
        session.reported().length > 0 ? session.reported() : undefined,
      );
      expect([answer!.runId, answer!.events, answer!.error?.code, answer!.error?.reason]).toEqual([
        runId,
        [],
        "failed_precondition",
        "LEASE_NOT_CURRENT",
      ]);
      expect((await logOf(tenant, runId)).map((event) => event.type)).not.toContain("zombie");

      // Whoever holds the run now reports under its own lease.
      const current: Lease | undefined = (await claimed).leases[0] ?? session.leases()[1];
      expect(current?.run!.attempt).toBe(2);
      session.send({ kind: { case: "report", value: { runId, leaseId: current!.leaseId, events: [{ type: "alive" }] } } });
      await eventually(5000, "the second report answered", async () => (session.reported().length > 1 ? true : undefined));
      expect(session.reported()[1]!.error).toBeUndefined();
      expect((await logOf(tenant, runId)).map((event) => event.type).slice(-1)).toEqual(["alive"]);
      session.end();
      await within(10_000, "session end", session.closed);
    },
  );
});

describe("the SDK's events", () => {
  it(
    "arrive in order under the run's lease with a worker-only key, and a lost lease rejects emit and aborts the job",
    { timeout: 20_000 },
    async () => {
      const { tenant, runId } = await queuedRun("sdk-events");
      const admin = clientFor(AdminService, "connect-json", baseUrl, testRootKey);
      const { secret } = await admin.createApiKey({ tenant: tenant.tenantId, scopes: [Scope.WORKER] });
      const errors: unknown[] = [];
      let afterLoss: { code: Code | undefined; aborted: boolean } | undefined;
      const worker = createWorker({
        server: baseUrl,
        apiKey: secret,
        workflows: ["sdk-events"],
        workerId: "sdk-events",
        onError: (error) => errors.push(error),
        handler: async (job) => {
          await job.progress(0.5, "half");
          await job.emit("log", { line: "hello" });
          if (job.attempt > 1) return "second";
          // Someone else owns the run now: its lease is no longer current.
          await database.query("update runs set lease_expire_time = now() - interval '1 second' where id = $1", [job.run.id]);
          const code = await codeOf(job.emit("log", { line: "too late" }));
          afterLoss = { code, aborted: job.signal.aborted };
          throw new Error("lost");
        },
      });
      try {
        const { output } = await tenant.runs().getRunOutput({ runId, blockTimeout: millis(10_000) });
        expect(output!.status).toBe(RunStatus.SUCCEEDED);
      } finally {
        await worker.stop();
      }
      expect(afterLoss).toEqual({ code: Code.FailedPrecondition, aborted: true });
      const log = await logOf(tenant, runId);
      const attempts = log.filter((event) => event.type === "status" && event.status === RunStatus.RUNNING);
      expect(attempts).toHaveLength(2);
      const reported = log
        .filter((event) => event.type !== "status")
        .map((event) => [event.type, plain(event.data), event.eventId.replace(/^[0-9a-f-]{36}:/, "<lease>:")]);
      const attempt = [
        ["progress", { fraction: 0.5, message: "half" }, "<lease>:1"],
        ["log", { line: "hello" }, "<lease>:2"],
      ];
      expect(reported).toEqual([...attempt, ...attempt]);
      expect(log.some((event) => JSON.stringify(plain(event.data) ?? null).includes("too late"))).toBe(false);
    },
  );
});

describe("IngestRunEvents and worker keys", () => {
  it("refuses a worker-only key with PERMISSION_DENIED on every protocol, while a write key still appends", async () => {
    const { tenant, runId } = await queuedRun("scoped");
    const admin = clientFor(AdminService, "connect-json", baseUrl, testRootKey);
    const { secret: workerKey } = await admin.createApiKey({ tenant: tenant.tenantId, scopes: [Scope.WORKER] });
    const { secret: writeKey } = await admin.createApiKey({ tenant: tenant.tenantId, scopes: [Scope.WRITE] });
    for (const protocol of protocols) {
      expect(
        await codeOf(clientFor(RunsService, protocol, baseUrl, workerKey).ingestRunEvents({ runId, events: [{ type: "sneaky" }] })),
        protocol,
      ).toBe(Code.PermissionDenied);
      const { events } = await clientFor(RunsService, protocol, baseUrl, writeKey).ingestRunEvents({
        runId,
        events: [{ type: `by-${protocol}` }],
      });
      expect(events).toHaveLength(1);
    }
    expect((await logOf(tenant, runId)).map((event) => event.type)).toEqual(["status", ...protocols.map((protocol) => `by-${protocol}`)]);
  });
});
