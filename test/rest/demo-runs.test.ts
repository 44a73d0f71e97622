/**
 * Runs that an executor really performs, watched and steered over REST: the server runs
 * its demo executor (RUNLINE_DEMO_WORKER=1), which serves the tenant `demo` with the
 * workflows echo, sleep, flaky and approval (src/demo/demo-workflows.ts). Covers
 * GetRunOutput's 200 and long poll, RunAndWait, RunAndStream to the end, ResumeRun with
 * its schema check, and cancelling a running run.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { startTestServer } from "../support/test-server.js";
import { createRestKey, eventually, expectStatus, fieldViolations, oneTo, type RestClient, type RunJson } from "./rest-client.js";
import { messagesOf, readSse, sequencesOf } from "./rest-streams.js";

interface OutputJson {
  readonly status: string;
  readonly done?: boolean;
  readonly result?: unknown;
  readonly interrupt?: { readonly id: string; readonly reason: string; readonly payload: unknown; readonly resumeSchema: unknown };
  readonly error?: { readonly message: string; readonly code?: string };
}

let baseUrl: string;
let demo: RestClient;
let demoKey: string;

beforeAll(async () => {
  baseUrl = (await startTestServer(undefined, { RUNLINE_DEMO_WORKER: "1" })).url;
  // The demo tenant exists from start-up; a key for it by slug.
  const created = await createRestKey(baseUrl, "demo", ["SCOPE_ADMIN"]);
  demo = created.rest;
  demoKey = created.key;
});

const create = async (body: Record<string, unknown>): Promise<RunJson> => {
  const created = await demo.post<{ run: RunJson }>("/api/v1/runs", body);
  expect(created.status, created.text).toBe(200);
  return created.body.run;
};

describe("GET /api/v1/runs/{run_id}/output with an executor", () => {
  it("answers 200 with the result once the run succeeded", async () => {
    const run = await create({ workflow: "echo", input: { hello: "world" } });
    const output = await demo.get<{ output: OutputJson }>(`/api/v1/runs/${run.id}/output?blockTimeout=10s`);
    expect(output.status).toBe(200);
    expect(output.body.output).toEqual({ status: "RUN_STATUS_SUCCEEDED", done: true, result: { hello: "world" } });
  });

  it("with blockTimeout=5s long-polls until the run settles, not until the timeout", async () => {
    const run = await create({ workflow: "sleep", input: { seconds: 1, steps: 2 } });
    const started = performance.now();
    const output = await demo.get<{ output: OutputJson }>(`/api/v1/runs/${run.id}/output?blockTimeout=5s`);
    const elapsed = performance.now() - started;
    expect(output.status).toBe(200);
    expect(output.body.output).toEqual({ status: "RUN_STATUS_SUCCEEDED", done: true, result: { sleptSeconds: 1 } });
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(elapsed).toBeLessThan(4500);
  });
});

describe("POST /api/v1/runs:wait with an executor", () => {
  it("creates a run and returns it with its output once it succeeded", async () => {
    const waited = await demo.post<{ run: RunJson; output: OutputJson }>("/api/v1/runs:wait", {
      run: { workflow: "echo", input: [1, 2, 3] },
      waitTimeout: "10s",
    });
    expect(waited.status).toBe(200);
    expect(waited.body.run).toMatchObject({
      status: "RUN_STATUS_SUCCEEDED",
      attempt: 1,
      startTime: expect.any(String),
      endTime: expect.any(String),
    });
    expect(waited.body.output).toEqual({ status: "RUN_STATUS_SUCCEEDED", done: true, result: [1, 2, 3] });
  });

  it("waits through retries: a flaky run succeeds on its second attempt", async () => {
    const waited = await demo.post<{ run: RunJson; output: OutputJson }>("/api/v1/runs:wait", {
      run: { workflow: "flaky", input: { failures: 1 } },
      waitTimeout: "10s",
    });
    expect(waited.body.run).toMatchObject({ status: "RUN_STATUS_SUCCEEDED", attempt: 2 });
    expect(waited.body.output.result).toEqual({ succeededOnAttempt: 2 });
  });
});

describe("POST /api/v1/runs:stream with an executor", () => {
  it("streams the run's whole story as SSE, from QUEUED to SUCCEEDED, then event: complete", async () => {
    const response = await fetch(`${baseUrl}/api/v1/runs:stream`, {
      method: "POST",
      headers: { authorization: `Bearer ${demoKey}`, "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify({ run: { workflow: "echo", input: { n: 1 } } }),
    });
    const frames = await readSse(response).toEnd();
    const messages = messagesOf(frames);
    const events = messages.flatMap((message) => message.events ?? []);
    expect(events.filter((event) => event.type === "status").map((event) => event.status)).toEqual([
      "RUN_STATUS_QUEUED",
      "RUN_STATUS_RUNNING",
      "RUN_STATUS_SUCCEEDED",
    ]);
    expect(events.map((event) => event.type)).toContain("log");
    expect(sequencesOf(messages)).toEqual(oneTo(events.length));
    expect(frames.at(-1)!.event).toBe("complete");
  });
});

describe("POST /api/v1/runs/{run_id}/resume", () => {
  it("checks the input against the interrupt's resume schema (400 with a BadRequest on input.approved), then lets the run finish", async () => {
    const waited = await demo.post<{ run: RunJson; output: OutputJson }>("/api/v1/runs:wait", {
      run: { workflow: "approval", input: { request: "deploy" } },
      waitTimeout: "10s",
    });
    expect(waited.body.run.status).toBe("RUN_STATUS_INTERRUPTED");
    const interrupt = waited.body.output.interrupt!;
    expect(waited.body.output).toMatchObject({ status: "RUN_STATUS_INTERRUPTED", done: true });
    expect(interrupt).toMatchObject({
      id: expect.any(String),
      reason: "approval needed",
      payload: { request: "deploy" },
      resumeSchema: { required: ["approved"] },
    });
    const runId = waited.body.run.id;
    const output = await demo.get<{ output: OutputJson }>(`/api/v1/runs/${runId}/output`);
    expect(output.status).toBe(200);
    expect(output.body.output.interrupt).toEqual(interrupt);

    const refused = expectStatus(
      await demo.post(`/api/v1/runs/${runId}/resume`, { input: { approved: "yes" }, interruptId: interrupt.id }),
      400,
      3,
    );
    expect(refused.details.map((detail) => detail["@type"])).toContain("type.googleapis.com/google.rpc.BadRequest");
    expect(fieldViolations(refused).map((violation) => violation.field)).toEqual(["input.approved"]);
    expect((await demo.get<{ run: RunJson }>(`/api/v1/runs/${runId}`)).body.run.status).toBe("RUN_STATUS_INTERRUPTED");

    const resumed = await demo.post<{ run: RunJson }>(`/api/v1/runs/${runId}/resume`, {
      input: { approved: true, comment: "ship it" },
      interruptId: interrupt.id,
    });
    expect(resumed.status).toBe(200);
    expect(resumed.body.run.status).not.toBe("RUN_STATUS_INTERRUPTED");
    const finished = await demo.get<{ output: OutputJson }>(`/api/v1/runs/${runId}/output?blockTimeout=10s`);
    expect(finished.body.output).toEqual({ status: "RUN_STATUS_SUCCEEDED", done: true, result: { approved: true, comment: "ship it" } });

    // Resuming the same interrupt again changes nothing and returns the run.
    const again = await demo.post<{ run: RunJson }>(`/api/v1/runs/${runId}/resume`, {
      input: { approved: false },
      interruptId: interrupt.id,
    });
    expect(again.status).toBe(200);
    expect(again.body.run.status).toBe("RUN_STATUS_SUCCEEDED");
    // Without the interrupt id, a run that is not INTERRUPTED is a FAILED_PRECONDITION.
    expectStatus(await demo.post(`/api/v1/runs/${runId}/resume`, { input: { approved: true } }), 400, 9);
  });
});

describe("cancelling a running run over REST", () => {
  it("makes it CANCELLING until the executor stops, then CANCELLED with no output (204, done)", async () => {
    const run = await create({ workflow: "sleep", input: { seconds: 30, steps: 30 } });
    await eventually(
      "the run to start",
      async () => (await demo.get<{ run: RunJson }>(`/api/v1/runs/${run.id}`)).body.run.status === "RUN_STATUS_RUNNING",
    );
    const cancelled = await demo.post<{ run: RunJson }>(`/api/v1/runs/${run.id}:cancel`, { reason: "no longer needed" });
    expect(cancelled.body.run.status).toBe("RUN_STATUS_CANCELLING");
    const output = await demo.get(`/api/v1/runs/${run.id}/output?blockTimeout=10s`);
    expect(output.status).toBe(204);
    expect(output.headers.get("runline-run-status")).toBe("RUN_STATUS_CANCELLED");
    expect(output.headers.get("runline-run-done")).toBe("true");
  });
});
