/**
 * A run's whole life over REST, through the client generated from the OpenAPI document
 * (openapi-typescript's `paths`, written by `buf generate` beside the document, and
 * openapi-fetch): create a workflow, create a run, read it, find it in a filtered list,
 * ingest an event, list the events, cancel it at `:cancel`, read its output, delete it;
 * and a CreateRun replayed by its `Idempotency-Key` header. Proves that the document
 * describes what the server actually serves.
 */
import createClient from "openapi-fetch";
import { beforeAll, describe, expect, it } from "vitest";
import type { paths } from "../../gen/openapi/runline.openapi.js";
import { createTenant } from "../support/clients.js";
import { startTestServer } from "../support/test-server.js";

let baseUrl: string;

beforeAll(async () => {
  baseUrl = (await startTestServer()).url;
});

describe("a run's lifecycle through the OpenAPI client", () => {
  it("creates, reads, lists, ingests into, cancels, reads the output of and deletes a run", async () => {
    const tenant = await createTenant(baseUrl);
    const client = createClient<paths>({ baseUrl, headers: { authorization: `Bearer ${tenant.key}` } });

    const workflow = await client.POST("/api/v1/workflows", {
      body: {
        slug: "rest-counter",
        definition: { kind: "counter" },
        inputSchema: { type: "object", properties: { n: { type: "integer" } }, required: ["n"] },
      },
    });
    expect(workflow.error).toBeUndefined();
    expect(workflow.data?.workflow?.slug).toBe("rest-counter");

    const created = await client.POST("/api/v1/runs", {
      body: { workflow: "rest-counter", input: { n: 1 }, labels: { suite: "openapi" } },
    });
    expect(created.error).toBeUndefined();
    const runId = created.data?.run?.id ?? "";
    expect(created.data?.run).toMatchObject({
      status: "RUN_STATUS_QUEUED",
      workflowId: workflow.data?.workflow?.id,
      labels: { suite: "openapi" },
    });
    const path = { run_id: runId };

    const fetched = await client.GET("/api/v1/runs/{run_id}", { params: { path } });
    expect(fetched.data?.run).toMatchObject({ id: runId, status: "RUN_STATUS_QUEUED", input: { n: 1 } });

    const listed = await client.GET("/api/v1/runs", {
      params: { query: { status: ["RUN_STATUS_QUEUED"], labels: { suite: "openapi" }, pageSize: 10 } },
    });
    expect(listed.error).toBeUndefined();
    expect(listed.data?.runs?.map((run) => run.id)).toEqual([runId]);

    const ingested = await client.POST("/api/v1/runs/{run_id}/events", {
      params: { path },
      body: { events: [{ type: "progress", data: { percent: 50 }, eventId: "p-1" }] },
    });
    expect(ingested.error).toBeUndefined();
    expect(ingested.data?.events?.map((event) => [event.sequence, event.type])).toEqual([["2", "progress"]]);

    const events = await client.GET("/api/v1/runs/{run_id}/events", { params: { path, query: { afterSequence: "0" } } });
    expect(events.data?.events?.map((event) => [event.sequence, event.type])).toEqual([
      ["1", "status"],
      ["2", "progress"],
    ]);

    const cancelled = await client.POST("/api/v1/runs/{run_id}:cancel", { params: { path }, body: { reason: "lifecycle test" } });
    expect(cancelled.error).toBeUndefined();
    expect(cancelled.data?.run?.status).toBe("RUN_STATUS_CANCELLED");

    // A cancelled run has no result, interrupt or error: 200 with its status, or 204 (API.md: "no output yet").
    const output = await client.GET("/api/v1/runs/{run_id}/output", { params: { path } });
    expect(output.error).toBeUndefined();
    expect([200, 204]).toContain(output.response.status);
    if (output.response.status === 200) expect(output.data?.output).toMatchObject({ status: "RUN_STATUS_CANCELLED", done: true });

    const deleted = await client.DELETE("/api/v1/runs/{run_id}", { params: { path } });
    expect(deleted.response.status).toBe(200);
    const gone = await client.GET("/api/v1/runs/{run_id}", { params: { path } });
    expect(gone.response.status).toBe(404);
    expect(gone.error).toMatchObject({ code: 5, message: expect.any(String), details: expect.any(Array) });
  });

  it("replays a CreateRun with the same Idempotency-Key header", async () => {
    const tenant = await createTenant(baseUrl);
    const client = createClient<paths>({ baseUrl, headers: { authorization: `Bearer ${tenant.key}` } });
    await client.POST("/api/v1/workflows", { body: { slug: "rest-replay", definition: { kind: "echo" } } });
    const request = { params: { header: { "Idempotency-Key": "openapi-replay-1" } }, body: { workflow: "rest-replay", input: { n: 2 } } };
    const first = await client.POST("/api/v1/runs", request);
    const second = await client.POST("/api/v1/runs", request);
    expect(first.data?.run?.idempotencyKey).toBe("openapi-replay-1");
    expect(second.data?.run?.id).toBe(first.data?.run?.id);
    expect(second.data?.idempotentReplayed).toBe(true);
  });

  it("answers a call without a key with 401 and a google.rpc.Status body", async () => {
    const anonymous = createClient<paths>({ baseUrl });
    const { response, error } = await anonymous.GET("/api/v1/runs");
    expect(response.status).toBe(401);
    expect(error).toMatchObject({ code: 16, message: expect.any(String) });
  });
});
