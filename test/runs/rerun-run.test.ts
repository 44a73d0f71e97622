/**
 * RerunRun (API.md, runs_service.proto): a new run with a finished run's workflow version
 * (not the latest), input, labels (overridable per key) and settings, linked by
 * `rerunOf`; live runs are refused; its own idempotency key; NOT_FOUND across tenants.
 * Over the three RPC protocols and over REST (`POST /api/v1/runs/{id}:rerun`).
 */
import { toJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { beforeAll, describe, expect, it } from "vitest";
import { RunStatus, type Run } from "../../gen/runline/v1/run_pb.js";
import { WorkerService } from "../../gen/runline/v1/worker_service_pb.js";
import { AdminService, Scope } from "../../gen/runline/v1/admin_service_pb.js";
import { RunsService } from "../../gen/runline/v1/runs_service_pb.js";
import { clientFor, createCounterWorkflow, createTenant, json, protocols, type TenantFixture } from "../support/clients.js";
import { rejection } from "../support/expectations.js";
import { startTestServer, testRootKey } from "../support/test-server.js";
import { expectStatus, restClient, type RestClient, type RunJson } from "../rest/rest-client.js";

let baseUrl: string;
let tenant: TenantFixture;
let rest: RestClient;

beforeAll(async () => {
  baseUrl = (await startTestServer()).url;
  tenant = await createTenant(baseUrl);
  rest = restClient(baseUrl, tenant.key);
  await createCounterWorkflow(tenant);
});

/** A CANCELLED run of `counter` version 1 with input {n}, labels and non-default settings. */
async function finishedRun(n: number, labels: Record<string, string> = { team: "a", env: "test" }): Promise<Run> {
  const runs = tenant.runs();
  const { run } = await runs.createRun({
    workflow: "counter",
    workflowVersion: 1,
    input: json({ n }),
    labels,
    maxAttempts: 3,
    priority: 7,
    timeout: { seconds: 90n, nanos: 0 },
  });
  const { run: cancelled } = await runs.cancelRun({ runId: run!.id, reason: "done with it" });
  expect(cancelled!.status).toBe(RunStatus.CANCELLED);
  return cancelled!;
}

describe.each(protocols)("RerunRun over %s", (protocol) => {
  it("starts a QUEUED run of the original's version, input, settings and merged labels, linked by rerunOf", async () => {
    const original = await finishedRun(41);
    // A newer version exists: the rerun must still use the original's.
    await tenant.workflows().createWorkflowVersion({
      workflow: "counter",
      definition: json({ kind: "counter", newer: protocol }),
      inputSchema: json({ type: "object" }),
    });
    const { run, idempotentReplayed } = await tenant.runs(protocol).rerunRun({ runId: original.id, labels: { env: "prod", extra: "x" } });
    expect(idempotentReplayed).toBe(false);
    expect(run!.id).not.toBe(original.id);
    expect(run!.rerunOf).toBe(original.id);
    expect(run!.status).toBe(RunStatus.QUEUED);
    expect(run!.workflowId).toBe(original.workflowId);
    expect(run!.workflowVersion).toBe(1);
    expect(toJson(ValueSchema, run!.input!)).toEqual({ n: 41 });
    expect(run!.labels).toEqual({ team: "a", env: "prod", extra: "x" });
    expect([run!.maxAttempts, run!.priority, run!.timeout?.seconds]).toEqual([3, 7, 90n]);
    expect([run!.attempt, run!.lastSequence, run!.createdBy]).toEqual([0, 1n, tenant.keyId]);
    const { run: fetched } = await tenant.runs().getRun({ runId: run!.id });
    expect(fetched!.rerunOf).toBe(original.id);
    const { events } = await tenant.runs().listRunEvents({ runId: run!.id });
    expect(events.map((event) => [event.sequence, event.type, event.status])).toEqual([[1n, "status", RunStatus.QUEUED]]);
    // The original is untouched and links to nothing.
    const { run: after } = await tenant.runs().getRun({ runId: original.id });
    expect([after!.status, after!.rerunOf, after!.lastSequence]).toEqual([RunStatus.CANCELLED, "", original.lastSequence]);
  });

  it("refuses a live run with FAILED_PRECONDITION and creates nothing", async () => {
    const { run } = await tenant
      .runs()
      .createRun({ workflow: "counter", workflowVersion: 1, input: json({ n: 1 }), labels: { live: protocol } });
    const error = await rejection(tenant.runs(protocol).rerunRun({ runId: run!.id }));
    expect(error.code).toBe(Code.FailedPrecondition);
    expect(error.rawMessage).toContain("QUEUED");
    const page = await tenant.runs().listRuns({ labels: { live: protocol } });
    expect(page.runs.map((listed) => listed.id)).toEqual([run!.id]);
  });

  it("answers NOT_FOUND for an unknown id, a malformed id and another tenant's run", async () => {
    const other = await createTenant(baseUrl);
    await createCounterWorkflow(other);
    const { run: theirs } = await other.runs().createRun({ workflow: "counter", input: json({ n: 1 }) });
    await other.runs().cancelRun({ runId: theirs!.id });
    for (const runId of ["01a20f8b-0000-7000-8000-000000000000", "not-a-uuid", theirs!.id]) {
      expect((await rejection(tenant.runs(protocol).rerunRun({ runId }))).code).toBe(Code.NotFound);
    }
  });
});

describe("RerunRun's input checks and scopes", () => {
  it("reruns a SUCCEEDED run without its result, and a SCHEDULED original as QUEUED now", async () => {
    const worker = clientFor(WorkerService, "connect-json", baseUrl, tenant.key);
    await createCounterWorkflow(tenant, "finisher");
    const { run } = await tenant.runs().createRun({ workflow: "finisher", input: json({ n: 5 }) });
    const { leases } = await worker.claimRuns({ workerId: "w", workflows: ["finisher"], maxRuns: 1, waitTimeout: { seconds: 5n } });
    expect(leases.map((lease) => lease.run!.id)).toEqual([run!.id]);
    await worker.completeRun({ runId: run!.id, leaseId: leases[0]!.leaseId, output: json({ total: 5 }) });
    const { run: rerun } = await tenant.runs().rerunRun({ runId: run!.id });
    const { output } = await tenant.runs().getRunOutput({ runId: rerun!.id });
    expect([output!.status, output!.done, output!.outcome.case]).toEqual([RunStatus.QUEUED, false, undefined]);

    const later = new Date(Date.now() + 3_600_000);
    const { run: scheduled } = await tenant.runs().createRun({
      workflow: "counter",
      input: json({ n: 6 }),
      scheduleTime: { seconds: BigInt(Math.floor(later.getTime() / 1000)), nanos: 0 },
    });
    expect(scheduled!.status).toBe(RunStatus.SCHEDULED);
    expect((await rejection(tenant.runs().rerunRun({ runId: scheduled!.id }))).code).toBe(Code.FailedPrecondition);
    await tenant.runs().cancelRun({ runId: scheduled!.id });
    const { run: now } = await tenant.runs().rerunRun({ runId: scheduled!.id });
    expect([now!.status, now!.scheduleTime]).toEqual([RunStatus.QUEUED, undefined]);
  });

  it("refuses bad labels, too many merged labels and a long key with INVALID_ARGUMENT", async () => {
    const many = Object.fromEntries(Array.from({ length: 40 }, (_, index) => [`k${index}`, "v"]));
    const original = await finishedRun(2, many);
    const more = Object.fromEntries(Array.from({ length: 30 }, (_, index) => [`m${index}`, "v"]));
    const runs = tenant.runs();
    expect((await rejection(runs.rerunRun({ runId: original.id, labels: { "bad key!": "v" } }))).code).toBe(Code.InvalidArgument);
    expect((await rejection(runs.rerunRun({ runId: original.id, labels: more }))).rawMessage).toContain("at most 64 labels");
    expect((await rejection(runs.rerunRun({ runId: original.id, idempotencyKey: "k".repeat(256) }))).code).toBe(Code.InvalidArgument);
    // Overriding existing keys does not add to the count.
    const { run } = await runs.rerunRun({ runId: original.id, labels: { k1: "changed" } });
    expect(Object.keys(run!.labels)).toHaveLength(40);
  });

  it("needs the write scope, as CreateRun", async () => {
    const original = await finishedRun(3);
    const admin = clientFor(AdminService, "connect-json", baseUrl, testRootKey);
    const { secret } = await admin.createApiKey({ tenant: tenant.tenantId, scopes: [Scope.READ] });
    const reader = clientFor(RunsService, "connect-json", baseUrl, secret);
    expect((await rejection(reader.rerunRun({ runId: original.id }))).code).toBe(Code.PermissionDenied);
  });
});

describe("RerunRun's idempotency key", () => {
  it("replays the same run for the same key and request, and marks the replay", async () => {
    const original = await finishedRun(10);
    const runs = tenant.runs();
    const first = await runs.rerunRun({ runId: original.id, labels: { try: "1" }, idempotencyKey: "rerun-replay" });
    let replayHeader: string | null = null;
    const second = await runs.rerunRun(
      { runId: original.id, labels: { try: "1" }, idempotencyKey: "rerun-replay" },
      { onHeader: (headers) => (replayHeader = headers.get("idempotent-replayed")) },
    );
    expect([second.run!.id, second.idempotentReplayed, replayHeader]).toEqual([first.run!.id, true, "true"]);
    expect(first.run!.idempotencyKey).toBe("rerun-replay");
    // Still a replay after the original is deleted: the key names the rerun, not the original.
    await runs.deleteRun({ runId: original.id });
    const third = await runs.rerunRun({ runId: original.id, labels: { try: "1" }, idempotencyKey: "rerun-replay" });
    expect([third.run!.id, third.idempotentReplayed, third.run!.rerunOf]).toEqual([first.run!.id, true, original.id]);
  });

  it("refuses the key with another request as ALREADY_EXISTS, CreateRun's keys included", async () => {
    const original = await finishedRun(11);
    const runs = tenant.runs();
    await runs.rerunRun({ runId: original.id, idempotencyKey: "rerun-conflict" });
    expect((await rejection(runs.rerunRun({ runId: original.id, labels: { a: "b" }, idempotencyKey: "rerun-conflict" }))).code).toBe(
      Code.AlreadyExists,
    );
    await runs.createRun({ workflow: "counter", input: json({ n: 1 }), idempotencyKey: "created-first" });
    expect((await rejection(runs.rerunRun({ runId: original.id, idempotencyKey: "created-first" }))).code).toBe(Code.AlreadyExists);
  });

  it("creates exactly one run for 20 concurrent duplicates", async () => {
    const original = await finishedRun(12);
    const runs = tenant.runs("grpc");
    const results = await Promise.all(
      Array.from({ length: 20 }, () => runs.rerunRun({ runId: original.id, idempotencyKey: "rerun-storm" })),
    );
    expect(new Set(results.map((result) => result.run!.id)).size).toBe(1);
    expect(results.filter((result) => !result.idempotentReplayed)).toHaveLength(1);
  });
});

describe("RerunRun over REST", () => {
  it("POST /api/v1/runs/{id}:rerun answers the run in JSON with rerunOf; Idempotency-Key replays", async () => {
    const original = await finishedRun(20);
    const path = `/api/v1/runs/${original.id}:rerun`;
    const first = await rest.post<{ run: RunJson & { rerunOf: string }; idempotentReplayed?: boolean }>(
      path,
      { labels: { team: "b" } },
      { "idempotency-key": "rest-rerun" },
    );
    expect(first.status, first.text).toBe(200);
    expect(first.body.run).toMatchObject({ rerunOf: original.id, status: "RUN_STATUS_QUEUED", workflowVersion: 1, input: { n: 20 } });
    expect(first.body.run.labels).toEqual({ team: "b", env: "test" });
    expect(first.headers.get("idempotent-replayed")).toBeNull();
    const again = await rest.post<{ run: RunJson }>(path, { labels: { team: "b" } }, { "idempotency-key": "rest-rerun" });
    expect([again.body.run.id, again.headers.get("idempotent-replayed")]).toEqual([first.body.run.id, "true"]);
    const fetched = await rest.get<{ run: { rerunOf: string } }>(`/api/v1/runs/${first.body.run.id}`);
    expect(fetched.body.run.rerunOf).toBe(original.id);
  });

  it("maps refusals: 400 for a live run or a header that contradicts the body, 404 for an unknown run", async () => {
    const { run } = await tenant.runs().createRun({ workflow: "counter", input: json({ n: 1 }) });
    expectStatus(await rest.post(`/api/v1/runs/${run!.id}:rerun`), 400, Code.FailedPrecondition);
    const original = await finishedRun(21);
    const both = await rest.post(`/api/v1/runs/${original.id}:rerun`, { idempotencyKey: "a" }, { "idempotency-key": "b" });
    expectStatus(both, 400, Code.InvalidArgument);
    expectStatus(await rest.post("/api/v1/runs/01a20f8b-0000-7000-8000-000000000000:rerun"), 404, Code.NotFound);
  });
});
