import { Code } from "@connectrpc/connect";
import { create, toJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { beforeAll, describe, expect, it } from "vitest";
import { RunStatus } from "../../gen/runline/v1/run_pb.js";
import { BadRequestSchema } from "../../gen/google/rpc/error_details_pb.js";
import { createCounterWorkflow, createTenant, json, protocols, type TenantFixture } from "../support/clients.js";
import { startTestServer } from "../support/test-server.js";
import { rejection } from "../support/expectations.js";

let baseUrl: string;
let tenant: TenantFixture;

beforeAll(async () => {
  const server = await startTestServer();
  baseUrl = server.url;
  tenant = await createTenant(baseUrl);
  await createCounterWorkflow(tenant);
});

describe.each(protocols)("CreateRun and GetRun over %s", (protocol) => {
  it("creates a QUEUED run with sequence-1 status event and reads it back", async () => {
    const runs = tenant.runs(protocol);
    const { run, idempotentReplayed } = await runs.createRun({ workflow: "counter", input: json({ n: 1 }), labels: { team: "a" } });
    expect(idempotentReplayed).toBe(false);
    expect(run!.status).toBe(RunStatus.QUEUED);
    expect(run!.workflowVersion).toBe(1);
    expect(run!.createdBy).toBe(tenant.keyId);
    expect(run!.lastSequence).toBe(1n);
    const { run: fetched } = await runs.getRun({ runId: run!.id });
    expect(fetched!.id).toBe(run!.id);
    expect(toJson(ValueSchema, fetched!.input!)).toEqual({ n: 1 });
    expect(fetched!.labels).toEqual({ team: "a" });
  });

  it("refuses input that breaks the schema with INVALID_ARGUMENT naming the field", async () => {
    const error = await rejection(tenant.runs(protocol).createRun({ workflow: "counter", input: json({ n: "x" }) }));
    expect(error.code).toBe(Code.InvalidArgument);
    const [badRequest] = error.findDetails(BadRequestSchema);
    expect(badRequest!.fieldViolations[0]!.field).toBe("input.n");
  });

  it("answers NOT_FOUND for an unknown run and an unknown workflow", async () => {
    expect((await rejection(tenant.runs(protocol).getRun({ runId: "01a20f8b-0000-7000-8000-000000000000" }))).code).toBe(Code.NotFound);
    expect((await rejection(tenant.runs(protocol).createRun({ workflow: "nope", input: json({ n: 1 }) }))).code).toBe(Code.NotFound);
  });
});

// Binary protocols only: a JSON client cannot even encode a Value with no kind.
describe.each(["grpc", "grpc-web"] as const)("malformed values over %s", (protocol) => {
  it("refuses a google.protobuf.Value with no kind set as INVALID_ARGUMENT naming the field", async () => {
    const error = await rejection(tenant.runs(protocol).createRun({ workflow: "counter", input: create(ValueSchema) }));
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.findDetails(BadRequestSchema)[0]!.fieldViolations[0]!.field).toBe("input");
  });
});

describe("idempotency keys", () => {
  it("replays the same run for the same key and request, and marks the replay", async () => {
    const runs = tenant.runs();
    const first = await runs.createRun({ workflow: "counter", input: json({ n: 7 }), idempotencyKey: "replay-1" });
    let replayHeader: string | null = null;
    const second = await runs.createRun(
      { workflow: "counter", input: json({ n: 7 }), idempotencyKey: "replay-1" },
      { onHeader: (headers) => (replayHeader = headers.get("idempotent-replayed")) },
    );
    expect(second.run!.id).toBe(first.run!.id);
    expect(second.idempotentReplayed).toBe(true);
    expect(replayHeader).toBe("true");
  });

  it("refuses the same key with a different request as ALREADY_EXISTS", async () => {
    const runs = tenant.runs();
    await runs.createRun({ workflow: "counter", input: json({ n: 1 }), idempotencyKey: "conflict-1" });
    const error = await rejection(runs.createRun({ workflow: "counter", input: json({ n: 2 }), idempotencyKey: "conflict-1" }));
    expect(error.code).toBe(Code.AlreadyExists);
  });

  it("creates exactly one run for 50 concurrent duplicates", async () => {
    const runs = tenant.runs("grpc");
    const results = await Promise.all(
      Array.from({ length: 50 }, () => runs.createRun({ workflow: "counter", input: json({ n: 3 }), idempotencyKey: "storm-1" })),
    );
    const ids = new Set(results.map((result) => result.run!.id));
    expect(ids.size).toBe(1);
    expect(results.filter((result) => !result.idempotentReplayed)).toHaveLength(1);
    const page = await tenant.runs().listRuns({ pageSize: 1000 });
    expect(page.runs.filter((run) => run.idempotencyKey === "storm-1")).toHaveLength(1);
  });
});

// Concurrent CreateRuns of a tenant without idempotency keys share insert statements
// (createRunCreator): each call must still get its own run, as if it had been alone.
describe("concurrent creates, which share statements", () => {
  it("give every call its own run, input, settings and status event", async () => {
    const runs = tenant.runs("grpc");
    const results = await Promise.all(
      Array.from({ length: 80 }, (_, n) =>
        runs.createRun({
          workflow: "counter",
          input: json({ n }),
          labels: { caller: String(n) },
          priority: n % 3,
          ...(n % 4 === 0 ? { scheduleTime: { seconds: BigInt(Math.floor(Date.now() / 1000) + 3600), nanos: 0 } } : {}),
        }),
      ),
    );
    expect(new Set(results.map((result) => result.run!.id)).size).toBe(80);
    for (const [n, { run, idempotentReplayed }] of results.entries()) {
      expect(idempotentReplayed).toBe(false);
      expect(toJson(ValueSchema, run!.input!)).toEqual({ n });
      expect(run!.labels).toEqual({ caller: String(n) });
      expect(run!.priority).toBe(n % 3);
      expect(run!.status).toBe(n % 4 === 0 ? RunStatus.SCHEDULED : RunStatus.QUEUED);
      expect(run!.createdBy).toBe(tenant.keyId);
      expect(run!.workflowVersion).toBe(1);
      expect(run!.lastSequence).toBe(1n);
    }
    const { events } = await runs.listRunEvents({ runId: results[7]!.run!.id });
    expect(events.map((event) => [event.sequence, event.type])).toEqual([[1n, "status"]]);
  });

  it("answer each call alone: a bad request fails, the others in flight with it are created", async () => {
    const runs = tenant.runs("grpc");
    const results = await Promise.allSettled(
      Array.from({ length: 30 }, (_, n) => runs.createRun({ workflow: "counter", input: n === 11 ? json({ n: "x" }) : json({ n }) })),
    );
    expect(results.filter((result) => result.status === "rejected")).toHaveLength(1);
    expect(results[11]!.status).toBe("rejected");
  });

  it("take a new latest version in a burst after their cached one went stale", async () => {
    const slug = "burst-latest";
    await createCounterWorkflow(tenant, slug);
    const runs = tenant.runs("grpc");
    // Cached: "latest = 1".
    await Promise.all(Array.from({ length: 10 }, (_, n) => runs.createRun({ workflow: slug, input: json({ n }) })));
    await tenant.workflows().createWorkflowVersion({ workflow: slug, definition: json({ kind: "counter", v: 2 }) });
    const results = await Promise.all(Array.from({ length: 40 }, (_, n) => runs.createRun({ workflow: slug, input: json({ n }) })));
    expect(results.map((result) => result.run!.workflowVersion)).toEqual(results.map(() => 2));
  });
});
