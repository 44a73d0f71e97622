import { Code, ConnectError } from "@connectrpc/connect";
import { beforeAll, describe, expect, it } from "vitest";
import { RunStatus } from "../../gen/runline/v1/run_pb.js";
import { createCounterWorkflow, createTenant, json, protocols, type TenantFixture } from "../support/clients.js";
import { startTestServer } from "../support/test-server.js";
import { codeOf } from "../support/expectations.js";

let tenant: TenantFixture;

beforeAll(async () => {
  const server = await startTestServer();
  tenant = await createTenant(server.url);
  await createCounterWorkflow(tenant);
});

describe.each(protocols)("CancelRun, DeleteRun and BatchCreateRuns over %s", (protocol) => {
  it("cancels a QUEUED run at once, records a status event, and is idempotent", async () => {
    const runs = tenant.runs(protocol);
    const { run } = await runs.createRun({ workflow: "counter", input: json({ n: 1 }) });
    const cancelled = await runs.cancelRun({ runId: run!.id, reason: "no longer needed" });
    expect(cancelled.run!.status).toBe(RunStatus.CANCELLED);
    expect(cancelled.run!.endTime).toBeDefined();
    const again = await runs.cancelRun({ runId: run!.id });
    expect(again.run!.status).toBe(RunStatus.CANCELLED);
    const { events } = await runs.listRunEvents({ runId: run!.id });
    expect(events.map((event) => [event.sequence, event.type, event.status])).toEqual([
      [1n, "status", RunStatus.QUEUED],
      [2n, "status", RunStatus.CANCELLED],
    ]);
  });

  it("deletes a live run after cancelling it, with its events", async () => {
    const runs = tenant.runs(protocol);
    const { run } = await runs.createRun({ workflow: "counter", input: json({ n: 1 }) });
    await runs.deleteRun({ runId: run!.id });
    expect(await codeOf(runs.getRun({ runId: run!.id }))).toBe(Code.NotFound);
    expect(await codeOf(runs.listRunEvents({ runId: run!.id }))).toBe(Code.NotFound);
    expect(await codeOf(runs.deleteRun({ runId: run!.id }))).toBe(Code.NotFound);
  });

  it("creates a batch all-or-nothing", async () => {
    const runs = tenant.runs(protocol);
    const marker = `batch-${protocol}-${Date.now()}`;
    const created = await runs.batchCreateRuns({
      requests: [{ workflow: "counter", input: json({ n: 1 }), labels: { marker } }],
      template: { workflow: "counter", labels: { marker } },
      inputs: [json({ n: 2 }), json({ n: 3 })],
    });
    expect(created.runs).toHaveLength(3);
    const error = await runs
      .batchCreateRuns({
        requests: [
          { workflow: "counter", input: json({ n: 4 }), labels: { marker: `${marker}-bad` } },
          { workflow: "counter", input: json({ n: "not a number" }), labels: { marker: `${marker}-bad` } },
        ],
      })
      .then(
        () => undefined,
        (caught: unknown) => caught as ConnectError,
      );
    expect(error?.code).toBe(Code.InvalidArgument);
    expect(error?.message).toContain("requests[1].input.n");
    expect((await runs.listRuns({ labels: { marker: `${marker}-bad` } })).runs).toHaveLength(0);
  });
});

describe("scheduled runs", () => {
  it("are SCHEDULED when schedule_time is in the future", async () => {
    const { run } = await tenant.runs().createRun({
      workflow: "counter",
      input: json({ n: 1 }),
      scheduleTime: { seconds: BigInt(Math.floor(Date.now() / 1000) + 3600), nanos: 0 },
    });
    expect(run!.status).toBe(RunStatus.SCHEDULED);
  });
});
