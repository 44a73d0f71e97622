/**
 * REST errors and headers (API.md "Errors", "Auth"; the transcoder's README): real
 * failures come back with the canonical gRPC→HTTP status and a google.rpc.Status body
 * `{code, message, details}` that leaks no SQL or stack trace; X-Request-Id is echoed or
 * generated; with RUNLINE_CORS_ORIGINS set, browsers get preflights answered and the
 * headers they need exposed.
 */
import { beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { startTestServer } from "../support/test-server.js";
import {
  createRestKey,
  createRestRun,
  createRestTenant,
  createRestWorkflow,
  expectStatus,
  fieldViolations,
  restClient,
  type RestResponse,
  type RestTenant,
  type StatusJson,
} from "./rest-client.js";

let baseUrl: string;
let tenant: RestTenant;
let runId: string;

beforeAll(async () => {
  baseUrl = (await startTestServer()).url;
  tenant = await createRestTenant(baseUrl);
  await createRestWorkflow(tenant.rest, "counter");
  runId = (await createRestRun(tenant.rest, { workflow: "counter", input: { n: 1 } })).id;
});

/** Expects the status and code, and a body that shows nothing of the server's insides. */
function expectCleanError(response: RestResponse<unknown>, httpStatus: number, code: number): StatusJson {
  const status = expectStatus(response, httpStatus, code);
  expect(response.text).not.toMatch(/\b(select|insert|update|delete)\b[^"]*\b(from|into|set|where)\b/i);
  expect(response.text).not.toMatch(/\bat \S+ \(|\.ts:\d+|node_modules|stack|postgres|relation "|syntax error|SQLSTATE/i);
  return status;
}

describe("the canonical status table, seen through real failures", () => {
  it("400 INVALID_ARGUMENT with a google.rpc.BadRequest field violation for malformed requests", async () => {
    const negative = expectCleanError(await tenant.rest.get("/api/v1/runs?pageSize=-1"), 400, 3);
    expect(fieldViolations(negative)).toEqual([{ field: "pageSize", description: "must not be negative" }]);
    const unknown = expectCleanError(await tenant.rest.get("/api/v1/runs?colour=blue"), 400, 3);
    expect(fieldViolations(unknown).map((violation) => violation.field)).toEqual(["colour"]);
    const badEnum = expectCleanError(await tenant.rest.get("/api/v1/runs?status=RUN_STATUS_NAPPING"), 400, 3);
    expect(fieldViolations(badEnum).map((violation) => violation.field)).toEqual(["status"]);
    const overflow = expectCleanError(await tenant.rest.get("/api/v1/runs?pageSize=99999999999"), 400, 3);
    expect(fieldViolations(overflow).map((violation) => violation.field)).toEqual(["pageSize"]);
    // A body binding takes no query parameters.
    expectCleanError(await tenant.rest.post("/api/v1/runs?workflow=counter", { input: { n: 1 } }), 400, 3);
    expectCleanError(await tenant.rest.post("/api/v1/runs", "{not json"), 400, 3);
    expectCleanError(await tenant.rest.post("/api/v1/runs", { workflow: "counter", colour: "blue" }), 400, 3);
  });

  it("400 FAILED_PRECONDITION for a state that forbids the call", async () => {
    const run = await createRestRun(tenant.rest, { workflow: "counter", input: { n: 1 } });
    expectCleanError(await tenant.rest.post(`/api/v1/runs/${run.id}/resume`, { input: {} }), 400, 9);
  });

  it("400, not a database error, for values Postgres refuses to store", async () => {
    expectCleanError(await tenant.rest.post("/api/v1/runs", { workflow: "counter", input: { n: 1, note: "nul \u0000 inside" } }), 400, 3);
    expectCleanError(
      await tenant.rest.post(`/api/v1/runs/${runId}/events`, { events: [{ type: "log", data: { line: "\u0000" } }] }),
      400,
      3,
    );
    expectCleanError(
      await tenant.rest.post("/api/v1/runs", { workflow: "counter", input: { n: 1 }, labels: { team: "nul \u0000" } }),
      400,
      3,
    );
  });

  it("401 UNAUTHENTICATED without a key, with an unknown key, and with another scheme", async () => {
    expectCleanError(await restClient(baseUrl, undefined).get("/api/v1/runs"), 401, 16);
    expectCleanError(await restClient(baseUrl, "not-a-key").get(`/api/v1/runs/${runId}`), 401, 16);
    expectCleanError(await tenant.rest.get("/api/v1/runs", { authorization: `Basic ${Buffer.from("a:b").toString("base64")}` }), 401, 16);
  });

  it("403 PERMISSION_DENIED for a key without the method's scope", async () => {
    const reader = await createRestKey(baseUrl, tenant.slug, ["SCOPE_READ"]);
    expect((await reader.rest.get(`/api/v1/runs/${runId}`)).status).toBe(200);
    const refused = expectCleanError(await reader.rest.post("/api/v1/runs", { workflow: "counter", input: { n: 1 } }), 403, 7);
    expect(refused.message).toContain("write");
    expectCleanError(await reader.rest.post(`/api/v1/runs/${runId}/cancel`, {}), 403, 7);
    const worker = await createRestKey(baseUrl, tenant.slug, ["SCOPE_WORKER"]);
    expectCleanError(await worker.rest.get("/api/v1/runs"), 403, 7);
  });

  it("404 NOT_FOUND for an unknown route and an unknown resource", async () => {
    const route = expectCleanError(await tenant.rest.get("/api/v1/nothing-here"), 404, 5);
    expect(route.details).toEqual([]);
    expectCleanError(await tenant.rest.get("/api/v1/runs/3f1c7a5e-0000-4000-8000-000000000000"), 404, 5);
    expectCleanError(await tenant.rest.get("/api/v1/runs/not-even-a-uuid"), 404, 5);
  });

  it("409 ALREADY_EXISTS for a taken workflow slug", async () => {
    expectCleanError(await tenant.rest.post("/api/v1/workflows", { slug: "counter", definition: {} }), 409, 6);
  });

  it("405 with Allow listing the path's methods (code UNIMPLEMENTED)", async () => {
    const put = await tenant.rest.request("PUT", "/api/v1/runs", { body: {} });
    expectCleanError(put, 405, 12);
    expect(put.headers.get("allow")).toBe("GET, POST");
    const getCancel = await tenant.rest.get(`/api/v1/runs/${runId}:cancel`);
    expectCleanError(getCancel, 405, 12);
    expect(getCancel.headers.get("allow")).toBe("POST");
    const patch = await tenant.rest.request("PATCH", `/api/v1/runs/${runId}`);
    expectCleanError(patch, 405, 12);
    expect(patch.headers.get("allow")).toBe("DELETE, GET");
  });

  it("413 for a body over the 8 MiB limit (code RESOURCE_EXHAUSTED)", async () => {
    const oversized = { workflow: "counter", input: { n: 1, padding: "x".repeat(8 * 1024 * 1024 + 1) } };
    const refused = expectCleanError(await tenant.rest.post("/api/v1/runs", oversized), 413, 8);
    expect(refused.message).toContain(String(8 * 1024 * 1024));
    // A body just under the limit is read (and then judged on its merits).
    const underLimit = { workflow: "counter", input: { n: 1, padding: "x".repeat(1024 * 1024) } };
    expect((await tenant.rest.post("/api/v1/runs", underLimit)).status).toBe(200);
  });

  it("415 for a body that is not JSON, or is compressed", async () => {
    const form = await tenant.rest.request("POST", "/api/v1/runs", {
      body: "workflow=counter",
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expectCleanError(form, 415, 3);
    const latin1 = await tenant.rest.request("POST", "/api/v1/runs", {
      body: "{}",
      headers: { "content-type": "application/json; charset=iso-8859-1" },
    });
    expectCleanError(latin1, 415, 3);
    const gzipped = await tenant.rest.request("POST", "/api/v1/runs", { body: "{}", headers: { "content-encoding": "gzip" } });
    expectCleanError(gzipped, 415, 3);
    // application/json with charset UTF-8 is fine.
    const utf8 = await tenant.rest.request("POST", "/api/v1/runs", {
      body: { workflow: "counter", input: { n: 1 } },
      headers: { "content-type": "application/json; charset=utf-8" },
    });
    expect(utf8.status).toBe(200);
  });

  it("504 DEADLINE_EXCEEDED when X-Server-Timeout ends a long poll first", async () => {
    const started = performance.now();
    const timedOut = await tenant.rest.get(`/api/v1/runs/${runId}/output?blockTimeout=5s`, { "x-server-timeout": "0.5" });
    expectCleanError(timedOut, 504, 4);
    expect(performance.now() - started).toBeLessThan(4000);
  });
});

describe("X-Request-Id", () => {
  it("echoes the caller's id on successes, errors and streams", async () => {
    const ok = await tenant.rest.get(`/api/v1/runs/${runId}`, { "x-request-id": "req-ok-1" });
    expect(ok.headers.get("x-request-id")).toBe("req-ok-1");
    const failed = await tenant.rest.get("/api/v1/runs/00000000-0000-0000-0000-000000000000", { "x-request-id": "req-404-1" });
    expect(failed.status).toBe(404);
    expect(failed.headers.get("x-request-id")).toBe("req-404-1");
    const unrouted = await tenant.rest.get("/api/v1/nowhere", { "x-request-id": "req-route-1" });
    expect(unrouted.headers.get("x-request-id")).toBe("req-route-1");
    const controller = new AbortController();
    onTestFinished(() => controller.abort());
    const stream = await fetch(`${baseUrl}/api/v1/runs/${runId}/events:stream`, {
      headers: { authorization: `Bearer ${tenant.key}`, "x-request-id": "req-stream-1" },
      signal: controller.signal,
    });
    expect(stream.headers.get("x-request-id")).toBe("req-stream-1");
  });

  it("generates a fresh UUID when the caller sends none, or one that is not a sane id", async () => {
    const first = await tenant.rest.get(`/api/v1/runs/${runId}`);
    const second = await tenant.rest.get(`/api/v1/runs/${runId}`);
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
    expect(first.headers.get("x-request-id")).toMatch(uuid);
    expect(second.headers.get("x-request-id")).toMatch(uuid);
    expect(first.headers.get("x-request-id")).not.toBe(second.headers.get("x-request-id"));
    const tooLong = await tenant.rest.get(`/api/v1/runs/${runId}`, { "x-request-id": "x".repeat(201) });
    expect(tooLong.headers.get("x-request-id")).toMatch(uuid);
    // Any visible ASCII id up to 200 characters is kept, on REST as on every protocol.
    const unusual = await tenant.rest.get(`/api/v1/runs/${runId}`, { "x-request-id": "a@b#c" });
    expect(unusual.headers.get("x-request-id")).toBe("a@b#c");
    const anonymous = await restClient(baseUrl, undefined).get("/api/v1/runs");
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("x-request-id")).toMatch(uuid);
  });
});

describe("CORS with RUNLINE_CORS_ORIGINS", () => {
  const origin = "https://app.example";
  let corsUrl: string;
  let corsTenant: RestTenant;
  let corsRunId: string;

  beforeAll(async () => {
    corsUrl = (await startTestServer(undefined, { RUNLINE_CORS_ORIGINS: origin })).url;
    corsTenant = await createRestTenant(corsUrl);
    await createRestWorkflow(corsTenant.rest, "counter");
    corsRunId = (await createRestRun(corsTenant.rest, { workflow: "counter", input: { n: 1 } })).id;
  });

  const preflight = (from: string, method: string, headers: string) =>
    fetch(`${corsUrl}/api/v1/runs`, {
      method: "OPTIONS",
      headers: { origin: from, "access-control-request-method": method, "access-control-request-headers": headers },
    });

  it("answers a preflight from an allowed origin with 204, the REST methods and the headers REST callers send", async () => {
    const answer = await preflight(origin, "POST", "authorization, content-type, idempotency-key");
    expect(answer.status).toBe(204);
    expect(answer.headers.get("access-control-allow-origin")).toBe(origin);
    expect(answer.headers.get("access-control-allow-methods")?.split(", ")).toEqual(expect.arrayContaining(["GET", "POST", "DELETE"]));
    const allowed = answer.headers.get("access-control-allow-headers")!.toLowerCase().split(/,\s*/);
    expect(allowed).toEqual(
      expect.arrayContaining(["authorization", "content-type", "x-request-id", "idempotency-key", "if-none-match", "last-event-id"]),
    );
    expect(answer.headers.get("access-control-max-age")).toBe("7200");
    expect(answer.headers.get("vary")).toContain("Origin");
  });

  it("refuses a preflight from another origin with 403 and no CORS headers", async () => {
    const answer = await preflight("https://evil.example", "DELETE", "authorization");
    expect(answer.status).toBe(403);
    expect(answer.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("marks responses to an allowed origin and exposes ETag, X-Request-Id and Idempotent-Replayed", async () => {
    const answer = await corsTenant.rest.get(`/api/v1/runs/${corsRunId}/definition`, { origin });
    expect(answer.status).toBe(200);
    expect(answer.headers.get("access-control-allow-origin")).toBe(origin);
    const exposed = answer.headers.get("access-control-expose-headers")!.toLowerCase().split(/,\s*/);
    expect(exposed).toEqual(
      expect.arrayContaining(["etag", "x-request-id", "idempotent-replayed", "retry-after", "runline-run-status", "runline-run-done"]),
    );
    expect(answer.headers.get("etag")).toMatch(/^W\/"[0-9a-f]{64}"$/);
    // Errors too, so a browser can read why a call failed.
    const refused = await restClient(corsUrl, undefined).get("/api/v1/runs", { origin });
    expect(refused.status).toBe(401);
    expect(refused.headers.get("access-control-allow-origin")).toBe(origin);
  });

  it("leaves responses to other origins and to callers without Origin unmarked", async () => {
    const foreign = await corsTenant.rest.get(`/api/v1/runs/${corsRunId}`, { origin: "https://evil.example" });
    expect(foreign.status).toBe(200);
    expect(foreign.headers.get("access-control-allow-origin")).toBeNull();
    const server = await corsTenant.rest.get(`/api/v1/runs/${corsRunId}`);
    expect(server.headers.get("access-control-allow-origin")).toBeNull();
    expect(server.headers.get("access-control-expose-headers")).toBeNull();
  });
});
