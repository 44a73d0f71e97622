/**
 * RunsService's unary REST bindings (API.md "RunsService"), called with plain `fetch`
 * against a real server with no executor, so runs stay where the test puts them; a run
 * is finished, when a test needs it, through WorkerService's REST bindings.
 * Listing and search are in list-runs.test.ts, streams in run-streams.test.ts, runs performed by the demo executor in
 * demo-runs.test.ts, the error table and headers in errors-and-headers.test.ts.
 */
import { connect } from "node:net";
import { beforeAll, describe, expect, it } from "vitest";
import { startTestServer } from "../support/test-server.js";
import {
  createRestRun,
  createRestTenant,
  createRestWorkflow,
  expectStatus,
  fieldViolations,
  ingestRestEvents,
  type LeaseJson,
  type RestClient,
  type RestTenant,
  type RunEventJson,
  type RunJson,
} from "./rest-client.js";

let baseUrl: string;
let tenant: RestTenant;
let workflowId: string;

beforeAll(async () => {
  baseUrl = (await startTestServer()).url;
  tenant = await createRestTenant(baseUrl);
  workflowId = await createRestWorkflow(tenant.rest, "counter");
});

let keyCounter = 0;
const freshKey = () => `key-${Date.now().toString(36)}-${keyCounter++}`;

/** Creates a run of a workflow of its own, claims it over REST and completes it with `output`. */
async function succeededRun(rest: RestClient, output: unknown): Promise<RunJson> {
  const slug = `finish-${Date.now().toString(36)}-${keyCounter++}`;
  await createRestWorkflow(rest, slug);
  const run = await createRestRun(rest, { workflow: slug, input: { n: 1 } });
  const claim = await rest.post<{ leases: LeaseJson[] }>("/api/v1/workers/finisher:claim", { workflows: [slug], waitTimeout: "5s" });
  expect(claim.body.leases.map((lease) => lease.run.id)).toEqual([run.id]);
  const completed = await rest.post<{ run: RunJson }>(`/api/v1/workers/runs/${run.id}:complete`, {
    leaseId: claim.body.leases[0]!.leaseId,
    output,
  });
  expect(completed.body.run.status).toBe("RUN_STATUS_SUCCEEDED");
  return completed.body.run;
}

describe("POST /api/v1/runs", () => {
  it("creates a QUEUED run and answers 200 with it under the proto3 JSON names API.md fixes", async () => {
    const created = await tenant.rest.post<{ run: RunJson; idempotentReplayed?: boolean }>("/api/v1/runs", {
      workflow: "counter",
      input: { n: 1 },
      labels: { team: "core" },
      priority: 5,
    });
    // The transcoder answers 200 for every successful call; API.md ("returns at once with
    // status QUEUED") asks for no 201, so 200 is the contract.
    expect(created.status).toBe(200);
    expect(created.headers.get("content-type")).toBe("application/json");
    expect(created.headers.get("idempotent-replayed")).toBeNull();
    expect(created.body.idempotentReplayed).toBeUndefined();
    expect(created.body.run).toMatchObject({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      workflowId,
      workflowVersion: 1,
      status: "RUN_STATUS_QUEUED",
      input: { n: 1 },
      labels: { team: "core" },
      createdBy: tenant.keyId,
      createTime: expect.any(String),
      updateTime: expect.any(String),
      lastSequence: "1",
    });
    // RFC 3339 timestamps; no start or end before an executor took the run.
    expect(new Date(created.body.run.createTime).toISOString()).toBe(created.body.run.createTime);
    expect(created.body.run).not.toHaveProperty("startTime");
    expect(created.body.run).not.toHaveProperty("endTime");
  });

  it("creates a SCHEDULED run when scheduleTime is in the future", async () => {
    const scheduleTime = new Date(Date.now() + 3_600_000).toISOString();
    const run = await createRestRun(tenant.rest, { workflow: workflowId, input: { n: 2 }, scheduleTime });
    expect(run.status).toBe("RUN_STATUS_SCHEDULED");
  });

  it("refuses input that does not match the workflow's schema with 400 and a field violation", async () => {
    const refused = expectStatus(await tenant.rest.post("/api/v1/runs", { workflow: "counter", input: { n: "one" } }), 400, 3);
    expect(fieldViolations(refused)).toEqual([{ field: "input.n", description: expect.any(String) }]);
  });

  it("replays the same run for the same Idempotency-Key header and request, marked Idempotent-Replayed: true", async () => {
    const key = freshKey();
    const body = { workflow: "counter", input: { n: 3 } };
    const first = await tenant.rest.post<{ run: RunJson }>("/api/v1/runs", body, { "idempotency-key": key });
    const replay = await tenant.rest.post<{ run: RunJson; idempotentReplayed: boolean }>("/api/v1/runs", body, { "idempotency-key": key });
    expect(first.status).toBe(200);
    expect(first.headers.get("idempotent-replayed")).toBeNull();
    expect(first.body.run.idempotencyKey).toBe(key);
    expect(replay.status).toBe(200);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(replay.body.idempotentReplayed).toBe(true);
    expect(replay.body.run).toEqual(first.body.run);
    // The header and the body field are one key: the field alone finds the same run.
    const byField = await tenant.rest.post<{ run: RunJson }>("/api/v1/runs", { ...body, idempotencyKey: key });
    expect(byField.headers.get("idempotent-replayed")).toBe("true");
    expect(byField.body.run.id).toBe(first.body.run.id);
  });

  // A hostile probe found the header accepted and dropped on these paths: every retry made new runs.
  it("honours the Idempotency-Key header on runs:batchCreate (template), runs:wait and runs:stream", async () => {
    const batchKey = freshKey();
    const batch = { template: { workflow: "counter" }, inputs: [{ n: 1 }, { n: 2 }] };
    const ids = async () =>
      (await tenant.rest.post<{ runs: RunJson[] }>("/api/v1/runs:batchCreate", batch, { "idempotency-key": batchKey })).body.runs.map(
        (run) => run.id,
      );
    const firstBatch = await ids();
    expect(firstBatch).toHaveLength(2);
    expect(await ids()).toEqual(firstBatch);
    // Separate requests each carry their own key: one header cannot stand for them.
    const separate = expectStatus(
      await tenant.rest.post(
        "/api/v1/runs:batchCreate",
        { requests: [{ workflow: "counter", input: { n: 1 } }] },
        { "idempotency-key": freshKey() },
      ),
      400,
      3,
    );
    expect(fieldViolations(separate).map((violation) => violation.field)).toEqual(["requests"]);

    const waitKey = freshKey();
    const wait = async () =>
      (
        await tenant.rest.post<{ run: RunJson }>(
          "/api/v1/runs:wait",
          { run: { workflow: "counter", input: { n: 3 } }, waitTimeout: "0.1s" },
          { "idempotency-key": waitKey },
        )
      ).body.run;
    const waited = await wait();
    expect(waited.idempotencyKey).toBe(waitKey);
    expect((await wait()).id).toBe(waited.id);

    const streamKey = freshKey();
    const streamedRunId = async () => {
      const controller = new AbortController();
      const response = await fetch(`${baseUrl}/api/v1/runs:stream`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${tenant.key}`,
          "content-type": "application/json",
          accept: "application/x-ndjson",
          "idempotency-key": streamKey,
        },
        body: JSON.stringify({ run: { workflow: "counter", input: { n: 4 } } }),
        signal: controller.signal,
      });
      expect(response.status).toBe(200);
      const reader = response.body!.getReader();
      let text = "";
      while (!text.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
      controller.abort();
      return (JSON.parse(text.split("\n")[0]!) as { run: RunJson }).run.id;
    };
    const streamed = await streamedRunId();
    expect(await streamedRunId()).toBe(streamed);
  });

  // A hostile probe: a UTF-8 key arrived as Latin-1 (`café` stored as `cafÃ©`), and a repeated header was joined into one key.
  it("refuses a non-ASCII Idempotency-Key header and one given twice, with 400 naming idempotencyKey", async () => {
    // Raw bytes over a socket, as curl sends them (Node's client would refuse some).
    const post = (headerLines: Buffer) =>
      new Promise<{ status: number; text: string }>((resolve, reject) => {
        const { port } = new URL(baseUrl);
        const body = JSON.stringify({ workflow: "counter", input: { n: 1 } });
        const socket = connect(Number(port), "127.0.0.1", () => {
          const head = `POST /api/v1/runs HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer ${tenant.key}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n`;
          socket.end(Buffer.concat([Buffer.from(head), headerLines, Buffer.from(`\r\n${body}`)]));
        });
        const chunks: Buffer[] = [];
        socket.on("data", (chunk: Buffer) => chunks.push(chunk));
        socket.on("error", reject);
        socket.on("close", () => {
          const answer = Buffer.concat(chunks).toString("utf8");
          const [head = "", ...rest] = answer.split("\r\n\r\n");
          resolve({ status: Number(head.split(" ")[1]), text: rest.join("\r\n\r\n") });
        });
      });
    const utf8 = await post(Buffer.from("Idempotency-Key: café-1\r\n", "utf8"));
    expect(utf8).toEqual({ status: 400, text: expect.stringContaining('"message":') as unknown });
    expect((JSON.parse(utf8.text) as { message: string }).message).toBe(
      "idempotencyKey: the Idempotency-Key header must be printable ASCII; send other keys in the body's idempotencyKey",
    );
    const twice = await post(Buffer.from("Idempotency-Key: x1\r\nIdempotency-Key: x2\r\n"));
    expect(twice).toEqual({ status: 400, text: expect.stringContaining('"message":') as unknown });
    expect((JSON.parse(twice.text) as { message: string }).message).toBe(
      "idempotencyKey: the Idempotency-Key header is given more than once; send one key",
    );
  });

  it("answers 409 ALREADY_EXISTS with a google.rpc.Status body for the same key with a different request", async () => {
    const key = freshKey();
    await tenant.rest.post("/api/v1/runs", { workflow: "counter", input: { n: 1 } }, { "idempotency-key": key });
    const conflict = await tenant.rest.post("/api/v1/runs", { workflow: "counter", input: { n: 2 } }, { "idempotency-key": key });
    const status = expectStatus(conflict, 409, 6);
    expect(status.message).toContain(key);
  });

  it("refuses an Idempotency-Key header that differs from the body's idempotencyKey with 400", async () => {
    const refused = await tenant.rest.post(
      "/api/v1/runs",
      { workflow: "counter", input: { n: 1 }, idempotencyKey: "in-body" },
      { "idempotency-key": "in-header" },
    );
    expectStatus(refused, 400, 3);
  });
});

describe("POST /api/v1/runs:batchCreate", () => {
  it("creates the listed runs, then one run per fan-out input, in request order", async () => {
    const created = await tenant.rest.post<{ runs: RunJson[] }>("/api/v1/runs:batchCreate", {
      requests: [{ workflow: "counter", input: { n: 10 } }],
      template: { workflow: "counter", labels: { batch: "fan-out" } },
      inputs: [{ n: 11 }, { n: 12 }],
    });
    expect(created.status).toBe(200);
    expect(created.body.runs.map((run) => run.input)).toEqual([{ n: 10 }, { n: 11 }, { n: 12 }]);
    expect(created.body.runs.map((run) => run.status)).toEqual(["RUN_STATUS_QUEUED", "RUN_STATUS_QUEUED", "RUN_STATUS_QUEUED"]);
    expect(created.body.runs.slice(1).map((run) => run.labels)).toEqual([{ batch: "fan-out" }, { batch: "fan-out" }]);
  });

  it("names the template's fields as template.…, and a fan-out input as inputs[i]", async () => {
    const templateError = expectStatus(
      await tenant.rest.post("/api/v1/runs:batchCreate", { template: { workflow: "counter", priority: 5000 }, inputs: [{ n: 1 }] }),
      400,
      3,
    );
    expect(fieldViolations(templateError).map((violation) => violation.field)).toEqual(["template.priority"]);
  });

  it("is all or nothing: one invalid input refuses the batch with 400 naming it, and creates no run", async () => {
    const batcher = await createRestTenant(baseUrl);
    await createRestWorkflow(batcher.rest, "counter");
    const refused = expectStatus(
      await batcher.rest.post("/api/v1/runs:batchCreate", { template: { workflow: "counter" }, inputs: [{ n: 1 }, { n: "two" }] }),
      400,
      3,
    );
    expect(fieldViolations(refused).map((violation) => violation.field)).toEqual(["inputs[1].n"]);
    const listed = await batcher.rest.get<{ runs?: RunJson[] }>("/api/v1/runs");
    expect(listed.body.runs ?? []).toEqual([]);
  });
});

describe("GET /api/v1/runs/{run_id}", () => {
  it("returns the run", async () => {
    const run = await createRestRun(tenant.rest, { workflow: "counter", input: { n: 4 } });
    const fetched = await tenant.rest.get<{ run: RunJson }>(`/api/v1/runs/${run.id}`);
    expect(fetched.status).toBe(200);
    expect(fetched.body.run).toEqual(run);
  });

  it("answers 404 NOT_FOUND with a JSON status for an unknown id and for another tenant's run", async () => {
    expectStatus(await tenant.rest.get("/api/v1/runs/00000000-0000-0000-0000-000000000000"), 404, 5);
    const other = await createRestTenant(baseUrl);
    await createRestWorkflow(other.rest, "counter");
    const theirs = await createRestRun(other.rest, { workflow: "counter", input: { n: 1 } });
    const hidden = expectStatus(await tenant.rest.get(`/api/v1/runs/${theirs.id}`), 404, 5);
    // The refusal tells nothing of the other tenant's run beyond the id the caller sent.
    expect(hidden.message).not.toContain(other.slug);
    expect(hidden.message).not.toContain(other.id);
    expectStatus(await tenant.rest.post(`/api/v1/runs/${theirs.id}/cancel`, {}), 404, 5);
    expectStatus(await tenant.rest.get(`/api/v1/runs/${theirs.id}/events`), 404, 5);
    expectStatus(await tenant.rest.get(`/api/v1/runs/${theirs.id}/definition`), 404, 5);
    expectStatus(await tenant.rest.get(`/api/v1/runs/${theirs.id}/output`), 404, 5);
    // And the run is untouched for its owner.
    expect((await other.rest.get<{ run: RunJson }>(`/api/v1/runs/${theirs.id}`)).body.run.status).toBe("RUN_STATUS_QUEUED");
  });
});

describe("POST /api/v1/runs/{run_id}/cancel and /api/v1/runs/{run_id}:cancel", () => {
  it("cancels a queued run at once on either binding, and cancelling again changes nothing", async () => {
    const first = await createRestRun(tenant.rest, { workflow: "counter", input: { n: 1 } });
    const second = await createRestRun(tenant.rest, { workflow: "counter", input: { n: 2 } });
    const bySlash = await tenant.rest.post<{ run: RunJson }>(`/api/v1/runs/${first.id}/cancel`, { reason: "slash binding" });
    const byVerb = await tenant.rest.post<{ run: RunJson }>(`/api/v1/runs/${second.id}:cancel`, { reason: "verb binding" });
    expect(bySlash.status).toBe(200);
    expect(byVerb.status).toBe(200);
    expect(bySlash.body.run).toMatchObject({ id: first.id, status: "RUN_STATUS_CANCELLED", endTime: expect.any(String) });
    expect(byVerb.body.run).toMatchObject({ id: second.id, status: "RUN_STATUS_CANCELLED" });
    const again = await tenant.rest.post<{ run: RunJson }>(`/api/v1/runs/${first.id}:cancel`, {});
    expect(again.status).toBe(200);
    expect(again.body.run).toEqual(bySlash.body.run);
    // An empty body is read as `{}`.
    expect((await tenant.rest.request("POST", `/api/v1/runs/${second.id}/cancel`)).status).toBe(200);
  });

  it("refuses to cancel a run that already succeeded with 400 FAILED_PRECONDITION (code 9)", async () => {
    const run = await succeededRun(tenant.rest, { total: 1 });
    expectStatus(await tenant.rest.post(`/api/v1/runs/${run.id}/cancel`, {}), 400, 9);
    expectStatus(await tenant.rest.post(`/api/v1/runs/${run.id}:cancel`, {}), 400, 9);
  });
});

describe("DELETE /api/v1/runs/{run_id}", () => {
  it("cancels a live run, deletes it and its events; afterwards it is 404", async () => {
    const run = await createRestRun(tenant.rest, { workflow: "counter", input: { n: 1 } });
    await ingestRestEvents(tenant.rest, run.id, 2);
    const deleted = await tenant.rest.delete(`/api/v1/runs/${run.id}`);
    expect(deleted.status).toBe(200);
    expect(deleted.body).toEqual({});
    expectStatus(await tenant.rest.get(`/api/v1/runs/${run.id}`), 404, 5);
    expectStatus(await tenant.rest.get(`/api/v1/runs/${run.id}/events`), 404, 5);
    expectStatus(await tenant.rest.delete(`/api/v1/runs/${run.id}`), 404, 5);
  });
});

describe("GET /api/v1/runs/{run_id}/definition", () => {
  it("returns the run's workflow snapshot with a weak ETag from its content hash, and 304 for If-None-Match", async () => {
    const run = await createRestRun(tenant.rest, { workflow: "counter", input: { n: 1 } });
    const definition = await tenant.rest.get<{ workflowId: string; workflowVersion: number; definition: unknown; contentHash: string }>(
      `/api/v1/runs/${run.id}/definition`,
    );
    expect(definition.status).toBe(200);
    expect(definition.body).toMatchObject({
      workflowId,
      workflowVersion: 1,
      definition: { kind: "rest-test" },
      contentHash: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    const etag = definition.headers.get("etag");
    expect(etag).toBe(`W/"${definition.body.contentHash}"`);

    for (const ifNoneMatch of [etag!, `"${definition.body.contentHash}"`, `"other", ${etag}`, "*"]) {
      const cached = await tenant.rest.get(`/api/v1/runs/${run.id}/definition`, { "if-none-match": ifNoneMatch });
      expect(cached.status, ifNoneMatch).toBe(304);
      expect(cached.text).toBe("");
      expect(cached.headers.get("etag")).toBe(etag);
    }
    const stale = await tenant.rest.get(`/api/v1/runs/${run.id}/definition`, { "if-none-match": 'W/"not-the-hash"' });
    expect(stale.status).toBe(200);
    expect(stale.body).toEqual(definition.body);
  });

  it("keeps the snapshot a run was created with when the workflow gets a new version", async () => {
    const slug = `snapshot-${Date.now().toString(36)}`;
    await createRestWorkflow(tenant.rest, slug);
    const run = await createRestRun(tenant.rest, { workflow: slug, input: { n: 1 } });
    const before = await tenant.rest.get(`/api/v1/runs/${run.id}/definition`);
    await tenant.rest.post(`/api/v1/workflows/${slug}/versions`, { definition: { kind: "changed" } });
    const after = await tenant.rest.get(`/api/v1/runs/${run.id}/definition`, { "if-none-match": before.headers.get("etag")! });
    expect(after.status).toBe(304);
  });
});

describe("GET /api/v1/runs/{run_id}/output", () => {
  it("answers 204 with the status and settledness as headers while the run has no output", async () => {
    const run = await createRestRun(tenant.rest, { workflow: "counter", input: { n: 1 } });
    const output = await tenant.rest.get(`/api/v1/runs/${run.id}/output`);
    expect(output.status).toBe(204);
    expect(output.text).toBe("");
    expect(output.headers.get("runline-run-status")).toBe("RUN_STATUS_QUEUED");
    expect(output.headers.get("runline-run-done")).toBe("false");
  });

  it("with blockTimeout waits that long for a run nobody settles, then answers 204", async () => {
    const run = await createRestRun(tenant.rest, { workflow: "counter", input: { n: 1 } });
    const started = performance.now();
    const output = await tenant.rest.get(`/api/v1/runs/${run.id}/output?blockTimeout=1s`);
    const elapsed = performance.now() - started;
    expect(output.status).toBe(204);
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(elapsed).toBeLessThan(4000);
  });

  it("with blockTimeout=5s returns as soon as the run settles, with the result (200)", async () => {
    const slug = `long-poll-${Date.now().toString(36)}`;
    await createRestWorkflow(tenant.rest, slug);
    const run = await createRestRun(tenant.rest, { workflow: slug, input: { n: 1 } });
    const started = performance.now();
    const polled = tenant.rest.get<{ output: { status: string; done: boolean; result: unknown } }>(
      `/api/v1/runs/${run.id}/output?blockTimeout=5s`,
    );
    const claim = await tenant.rest.post<{ leases: LeaseJson[] }>("/api/v1/workers/poller:claim", { workflows: [slug], waitTimeout: "5s" });
    await tenant.rest.post(`/api/v1/workers/runs/${run.id}:complete`, { leaseId: claim.body.leases[0]!.leaseId, output: { answer: 42 } });
    const output = await polled;
    expect(performance.now() - started).toBeLessThan(4500);
    expect(output.status).toBe(200);
    expect(output.body.output).toEqual({ status: "RUN_STATUS_SUCCEEDED", done: true, result: { answer: 42 } });
    // Settled: a plain read gives the same answer at once.
    expect((await tenant.rest.get(`/api/v1/runs/${run.id}/output`)).body).toEqual(output.body);
  });
});

describe("GET and POST /api/v1/runs/{run_id}/events", () => {
  it("ingests events with gapless sequences after the run's status event; a repeated eventId is not appended again", async () => {
    const run = await createRestRun(tenant.rest, { workflow: "counter", input: { n: 1 } });
    const ingested = await tenant.rest.post<{ events: RunEventJson[] }>(`/api/v1/runs/${run.id}/events`, {
      events: [
        { type: "progress", data: { percent: 10 }, eventId: "p-10" },
        { type: "log", data: { line: "hello" } },
      ],
    });
    expect(ingested.status).toBe(200);
    expect(ingested.body.events.map((event) => [event.sequence, event.type, event.eventId ?? ""])).toEqual([
      ["2", "progress", "p-10"],
      ["3", "log", ""],
    ]);

    const retried = await tenant.rest.post<{ events: RunEventJson[] }>(`/api/v1/runs/${run.id}/events`, {
      events: [
        { type: "progress", data: { percent: 10 }, eventId: "p-10" },
        { type: "progress", data: { percent: 20 }, eventId: "p-20" },
      ],
    });
    // The known event comes back as stored; only the new one is appended.
    expect(retried.body.events.map((event) => [event.sequence, event.eventId])).toEqual([
      ["2", "p-10"],
      ["4", "p-20"],
    ]);
    const all = await tenant.rest.get<{ events: RunEventJson[]; lastSequence: string }>(`/api/v1/runs/${run.id}/events`);
    expect(all.body.events.map((event) => Number(event.sequence))).toEqual([1, 2, 3, 4]);
    expect(all.body.lastSequence).toBe("4");
    expect(all.body.events[0]).toMatchObject({
      runId: run.id,
      type: "status",
      status: "RUN_STATUS_QUEUED",
      createTime: expect.any(String),
    });
  });

  it("polls after a sequence cursor with a page size", async () => {
    const run = await createRestRun(tenant.rest, { workflow: "counter", input: { n: 1 } });
    await ingestRestEvents(tenant.rest, run.id, 6);
    const page = await tenant.rest.get<{ events: RunEventJson[]; lastSequence: string }>(
      `/api/v1/runs/${run.id}/events?afterSequence=2&pageSize=3`,
    );
    expect(page.status).toBe(200);
    expect(page.body.events.map((event) => Number(event.sequence))).toEqual([3, 4, 5]);
    expect(page.body.lastSequence).toBe("7");
    const rest = await tenant.rest.get<{ events: RunEventJson[] }>(`/api/v1/runs/${run.id}/events?afterSequence=5&pageSize=3`);
    expect(rest.body.events.map((event) => Number(event.sequence))).toEqual([6, 7]);
    const none = await tenant.rest.get<{ events?: RunEventJson[] }>(`/api/v1/runs/${run.id}/events?afterSequence=7`);
    expect(none.body.events ?? []).toEqual([]);
    expectStatus(await tenant.rest.get(`/api/v1/runs/${run.id}/events?afterSequence=-1`), 400, 3);
  });

  it("refuses events of the reserved type status, and events for a finished run with 400 FAILED_PRECONDITION", async () => {
    const run = await createRestRun(tenant.rest, { workflow: "counter", input: { n: 1 } });
    expectStatus(await tenant.rest.post(`/api/v1/runs/${run.id}/events`, { events: [{ type: "status", data: {} }] }), 400, 3);
    await tenant.rest.post(`/api/v1/runs/${run.id}/cancel`, {});
    expectStatus(await tenant.rest.post(`/api/v1/runs/${run.id}/events`, { events: [{ type: "log", data: {} }] }), 400, 9);
  });
});

describe("POST /api/v1/runs:wait", () => {
  it("creates a run and, when nobody settles it within waitTimeout, returns it unsettled with done false", async () => {
    const started = performance.now();
    const waited = await tenant.rest.post<{ run: RunJson; output: { status: string; done: boolean } }>("/api/v1/runs:wait", {
      run: { workflow: "counter", input: { n: 5 } },
      waitTimeout: "1s",
    });
    const elapsed = performance.now() - started;
    expect(waited.status).toBe(200);
    expect(waited.body.run).toMatchObject({ status: "RUN_STATUS_QUEUED", input: { n: 5 } });
    // proto3 JSON leaves `done: false` out.
    expect(waited.body.output).toEqual({ status: "RUN_STATUS_QUEUED" });
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(elapsed).toBeLessThan(4000);
    // The run was created for real and can be waited on further.
    expect((await tenant.rest.get(`/api/v1/runs/${waited.body.run.id}/output`)).status).toBe(204);
  });

  it("refuses a request without a run with 400", async () => {
    expectStatus(await tenant.rest.post("/api/v1/runs:wait", { waitTimeout: "1s" }), 400, 3);
  });
});
