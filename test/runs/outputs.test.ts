import { Code, ConnectError } from "@connectrpc/connect";
import { beforeAll, describe, expect, it } from "vitest";
import { RunStatus } from "../../gen/runline/v1/run_pb.js";
import { createCounterWorkflow, createTenant, json, protocols, type TenantFixture } from "../support/clients.js";
import { startTestServer } from "../support/test-server.js";

let tenant: TenantFixture;

beforeAll(async () => {
  const server = await startTestServer();
  tenant = await createTenant(server.url);
  await createCounterWorkflow(tenant);
});

describe.each(protocols)("outputs and composite calls over %s", (protocol) => {
  it("GetRunOutput answers with status and done, and no outcome before there is one", async () => {
    const runs = tenant.runs(protocol);
    const { run } = await runs.createRun({ workflow: "counter", input: json({ n: 1 }) });
    const { output } = await runs.getRunOutput({ runId: run!.id });
    expect(output!.status).toBe(RunStatus.QUEUED);
    expect(output!.done).toBe(false);
    expect(output!.outcome.case).toBeUndefined();
  });

  it("GetRunOutput with block_timeout wakes when the run settles, well before the timeout", async () => {
    const runs = tenant.runs(protocol);
    const { run } = await runs.createRun({ workflow: "counter", input: json({ n: 1 }) });
    const started = Date.now();
    const waiting = runs.getRunOutput({ runId: run!.id, blockTimeout: { seconds: 20n, nanos: 0 } });
    await new Promise((resolve) => setTimeout(resolve, 100));
    await runs.cancelRun({ runId: run!.id });
    const { output } = await waiting;
    expect(output!.status).toBe(RunStatus.CANCELLED);
    expect(output!.done).toBe(true);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("RunAndWait returns the unsettled run when its wait times out", async () => {
    const runs = tenant.runs(protocol);
    const answer = await runs.runAndWait({
      run: { workflow: "counter", input: json({ n: 2 }) },
      waitTimeout: { seconds: 0n, nanos: 300_000_000 },
    });
    expect(answer.run!.status).toBe(RunStatus.QUEUED);
    expect(answer.output!.done).toBe(false);
  });

  it("RunAndStream creates the run and streams from its first event to its end", async () => {
    const runs = tenant.runs(protocol);
    const sequences: bigint[] = [];
    let runId = "";
    for await (const message of runs.runAndStream({ run: { workflow: "counter", input: json({ n: 3 }) } })) {
      if (message.run !== undefined) {
        runId = message.run.id;
        void runs.cancelRun({ runId });
      }
      sequences.push(...message.events.map((event) => event.sequence));
    }
    expect(runId).not.toBe("");
    expect(sequences).toEqual([1n, 2n]);
  });

  it("RunAndWait and RunAndStream refuse a missing run with INVALID_ARGUMENT", async () => {
    const runs = tenant.runs(protocol);
    const error = await runs.runAndWait({}).then(
      () => undefined,
      (caught: unknown) => caught as ConnectError,
    );
    expect(error?.code).toBe(Code.InvalidArgument);
  });

  it("ResumeRun refuses a run that is not interrupted", async () => {
    const runs = tenant.runs(protocol);
    const { run } = await runs.createRun({ workflow: "counter", input: json({ n: 1 }) });
    const error = await runs.resumeRun({ runId: run!.id, input: json({}) }).then(
      () => undefined,
      (caught: unknown) => caught as ConnectError,
    );
    expect(error?.code).toBe(Code.FailedPrecondition);
  });
});
