/**
 * The demo executor that `npm start` runs: every example workflow, driven end to end
 * through the public API, the way the README walkthrough does it.
 */
import { toJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { beforeAll, describe, expect, it } from "vitest";
import { AdminService, Scope } from "../../gen/runline/v1/admin_service_pb.js";
import { RunStatus } from "../../gen/runline/v1/run_pb.js";
import { RunsService } from "../../gen/runline/v1/runs_service_pb.js";
import type { Client } from "@connectrpc/connect";
import { clientFor, json } from "../support/clients.js";
import { startTestServer, testRootKey } from "../support/test-server.js";

let runs: Client<typeof RunsService>;

beforeAll(async () => {
  const server = await startTestServer(undefined, { RUNLINE_DEMO_WORKER: "1" });
  const admin = clientFor(AdminService, "connect-json", server.url, testRootKey);
  const { secret } = await admin.createApiKey({ tenant: "demo", scopes: [Scope.ADMIN] });
  runs = clientFor(RunsService, "grpc", server.url, secret);
});

const settled = { seconds: 20n, nanos: 0 };

describe("the demo executor", () => {
  it("runs echo and returns the input as the result", async () => {
    const answer = await runs.runAndWait({ run: { workflow: "echo", input: json({ hello: "world" }) }, waitTimeout: settled });
    expect(answer.run!.status).toBe(RunStatus.SUCCEEDED);
    expect(answer.output!.outcome.case).toBe("result");
    expect(toJson(ValueSchema, answer.output!.outcome.value as never)).toEqual({ hello: "world" });
  });

  it("streams sleep's progress events live until the run succeeds", async () => {
    const types: string[] = [];
    let last: RunStatus | undefined;
    for await (const message of runs.runAndStream({ run: { workflow: "sleep", input: json({ seconds: 0.5, steps: 5 }) } })) {
      for (const event of message.events) {
        types.push(event.type);
        if (event.type === "status") last = event.status;
      }
    }
    expect(types.filter((type) => type === "progress")).toHaveLength(5);
    expect(last).toBe(RunStatus.SUCCEEDED);
  });

  it("retries flaky until it succeeds on the third attempt", async () => {
    const answer = await runs.runAndWait({ run: { workflow: "flaky", input: json({ failures: 2 }) }, waitTimeout: settled });
    expect(answer.run!.status).toBe(RunStatus.SUCCEEDED);
    expect(answer.run!.attempt).toBe(3);
    expect(toJson(ValueSchema, answer.output!.outcome.value as never)).toEqual({ succeededOnAttempt: 3 });
  });

  it("pauses approval for a decision and finishes with it after ResumeRun", async () => {
    const paused = await runs.runAndWait({ run: { workflow: "approval", input: json({ request: "deploy" }) }, waitTimeout: settled });
    expect(paused.run!.status).toBe(RunStatus.INTERRUPTED);
    expect(paused.output!.outcome.case).toBe("interrupt");
    const interrupt = paused.output!.outcome.value as { id: string };
    await runs.resumeRun({ runId: paused.run!.id, interruptId: interrupt.id, input: json({ approved: true, comment: "ship it" }) });
    const { output } = await runs.getRunOutput({ runId: paused.run!.id, blockTimeout: settled });
    expect(output!.status).toBe(RunStatus.SUCCEEDED);
    expect(toJson(ValueSchema, output!.outcome.value as never)).toEqual({ approved: true, comment: "ship it" });
  });

  it("stops sleep when the run is cancelled, within a heartbeat", async () => {
    const { run } = await runs.createRun({ workflow: "sleep", input: json({ seconds: 60, steps: 60 }) });
    for (let i = 0; i < 50; i++) {
      if ((await runs.getRun({ runId: run!.id })).run!.status === RunStatus.RUNNING) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect((await runs.cancelRun({ runId: run!.id })).run!.status).toBe(RunStatus.CANCELLING);
    const { output } = await runs.getRunOutput({ runId: run!.id, blockTimeout: { seconds: 15n, nanos: 0 } });
    expect(output!.status).toBe(RunStatus.CANCELLED);
  });
});

describe("demo executors on two replicas", () => {
  it("each run their own key, so stopping one leaves the other executing", async () => {
    const first = await startTestServer(undefined, { RUNLINE_DEMO_WORKER: "1" });
    const second = await startTestServer(first.databaseUrl, { RUNLINE_DEMO_WORKER: "1" });
    const admin = clientFor(AdminService, "connect-json", first.url, testRootKey);
    const { secret } = await admin.createApiKey({ tenant: "demo", scopes: [Scope.ADMIN] });
    for (const server of [first, second]) {
      const answer = await clientFor(RunsService, "grpc", server.url, secret).runAndWait({
        run: { workflow: "echo", input: json(1) },
        waitTimeout: settled,
      });
      expect(answer.run!.status).toBe(RunStatus.SUCCEEDED);
    }
    await second.close();
    const after = await clientFor(RunsService, "grpc", first.url, secret).runAndWait({
      run: { workflow: "echo", input: json(2) },
      waitTimeout: settled,
    });
    expect(after.run!.status).toBe(RunStatus.SUCCEEDED);
  });
});
