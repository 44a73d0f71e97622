/**
 * The REST API through a client generated from the document a live server serves: the
 * types openapi-typescript makes of `/openapi.json` are the committed
 * gen/openapi/runline.openapi.ts this openapi-fetch client is compiled against (types
 * must exist before TypeScript checks this file, hence committed; the comparison proves
 * they are the served document's), and with them a 204 from GetRunOutput and a 304 from
 * GetRunDefinition are typed successes with their headers, and a 404 is the typed
 * google.rpc.Status body. The `expectTypeOf` lines are checked by `npm run typecheck`.
 */
import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import createClient, { type Client, type Middleware } from "openapi-fetch";
import openapiTS, { astToString, type OpenAPI3 } from "openapi-typescript";
import { beforeAll, describe, expect, expectTypeOf, it } from "vitest";
import type { components, operations, paths } from "../../gen/openapi/runline.openapi.js";
import type { OpenApiDocument } from "../../src/openapi/openapi-types.js";
import { createCounterWorkflow, createTenant } from "../support/clients.js";
import { startTestServer } from "../support/test-server.js";

type Status = components["schemas"]["google.rpc.Status"];

/**
 * openapi-fetch returns only 2xx responses as `data` and reads any other body as the
 * `error` (an empty 304 body becomes the error `""`), unless the response says it has
 * no content. A 304 has none, but HTTP forbids a `Content-Length: 0` that differs from
 * the 200's; this middleware says it on the client side, so a 304 comes back with
 * neither `data` nor `error`, its headers intact (the README shows the same).
 */
const notModifiedIsEmpty: Middleware = {
  onResponse({ response }) {
    if (response.status !== 304) return undefined;
    const headers = new Headers(response.headers);
    headers.set("content-length", "0");
    return new Response(null, { status: 304, statusText: response.statusText, headers });
  },
};

let baseUrl: string;
let authorization: string;
let client: Client<paths>;
let document: OpenApiDocument;
let runId: string;

beforeAll(async () => {
  baseUrl = (await startTestServer()).url;
  document = (await (await fetch(`${baseUrl}/openapi.json`)).json()) as OpenApiDocument;
  const tenant = await createTenant(baseUrl);
  await createCounterWorkflow(tenant);
  authorization = `Bearer ${tenant.key}`;
  client = createClient<paths>({ baseUrl, headers: { authorization } });
  client.use(notModifiedIsEmpty);
  // No executor runs in tests: the run stays QUEUED, without output.
  const created = await client.POST("/api/v1/runs", { body: { workflow: "counter", input: { n: 1 } } });
  runId = created.data?.run?.id ?? "";
});

/** Whether the served document describes `status` for the operation. */
function documents(path: string, method: "get" | "post", status: number): boolean {
  return document.paths[path]?.[method]?.responses[String(status)] !== undefined;
}

describe("a client generated from the served /openapi.json", () => {
  it("is compiled against the types openapi-typescript makes of the served document", async () => {
    const generated = astToString(await openapiTS(structuredClone(document) as unknown as OpenAPI3, { silent: true }));
    const committed = await readFile(new URL("../../gen/openapi/runline.openapi.ts", import.meta.url), "utf8");
    expect(generated.length).toBeGreaterThan(100_000);
    expect(committed.endsWith(generated), "gen/openapi/runline.openapi.ts is not the served document's types: run npm run generate").toBe(
      true,
    );
  });

  it("reads a 204 from GetRunOutput as a typed success, the run's status in headers", async () => {
    const output = await client.GET("/api/v1/runs/{run_id}/output", { params: { path: { run_id: runId } } });
    expect(output.response.status).toBe(204);
    expect(output.error).toBeUndefined();
    expect(output.data).toBeUndefined();
    expect(output.response.headers.get("Runline-Run-Status")).toBe("RUN_STATUS_QUEUED");
    expect(output.response.headers.get("Runline-Run-Done")).toBe("false");
    expect(documents("/api/v1/runs/{run_id}/output", "get", 204)).toBe(true);
    type NoContent = operations["RunsService_GetRunOutput"]["responses"][204];
    expectTypeOf<NoContent["headers"]["Runline-Run-Status"]>().toEqualTypeOf<components["schemas"]["runline.v1.RunStatus"] | undefined>();
    expectTypeOf<NoContent["content"]>().toEqualTypeOf<undefined>();
  });

  it("reads a 304 from GetRunDefinition as a typed success that keeps the ETag", async () => {
    const path = { run_id: runId };
    const first = await client.GET("/api/v1/runs/{run_id}/definition", { params: { path } });
    expect(first.response.status).toBe(200);
    const etag = first.response.headers.get("ETag") ?? "";
    expect(etag).toMatch(/^W\/"[0-9a-f]{64}"$/);
    expect(first.data?.contentHash).toBe(etag.slice(3, -1));

    const again = await client.GET("/api/v1/runs/{run_id}/definition", { params: { path, header: { "If-None-Match": etag } } });
    expect(again.response.status).toBe(304);
    expect(again.error).toBeUndefined();
    expect(again.data).toBeUndefined();
    expect(again.response.headers.get("ETag")).toBe(etag);
    expect(documents("/api/v1/runs/{run_id}/definition", "get", 304)).toBe(true);
    type Operation = operations["RunsService_GetRunDefinition"];
    expectTypeOf<NonNullable<Operation["parameters"]["header"]>["If-None-Match"]>().toEqualTypeOf<string | undefined>();
    expectTypeOf<Operation["responses"][304]["headers"]["ETag"]>().toEqualTypeOf<string>();

    // Why the middleware: without it openapi-fetch takes the empty 304 body for an error.
    const plain = createClient<paths>({ baseUrl, headers: { authorization } });
    const bare = await plain.GET("/api/v1/runs/{run_id}/definition", { params: { path, header: { "If-None-Match": etag } } });
    expect([bare.response.status, bare.error]).toEqual([304, ""]);
  });

  it("answers an unknown run with 404 and a typed google.rpc.Status carrying an ErrorInfo", async () => {
    const missing = await client.GET("/api/v1/runs/{run_id}", { params: { path: { run_id: randomUUID() } } });
    expect(missing.response.status).toBe(404);
    expect(missing.data).toBeUndefined();
    // The body is typed as google.rpc.Status (openapi-fetch wraps it in its Readable<>).
    expectTypeOf<NonNullable<typeof missing.error>>().toExtend<Status>();
    expectTypeOf<Status>().toExtend<NonNullable<typeof missing.error>>();
    expect(missing.error).toMatchObject({ code: 5, message: expect.stringContaining("not found") });
    const info = missing.error?.details.find((detail) => detail["@type"] === "type.googleapis.com/google.rpc.ErrorInfo");
    expect(info).toMatchObject({ reason: "RUN_NOT_FOUND", domain: "runline.dev" });
    expect(documents("/api/v1/runs/{run_id}", "get", 404)).toBe(true);
  });

  it("answers a bad page size with 400 and a google.rpc.BadRequest naming the field", async () => {
    const refused = await client.GET("/api/v1/runs", { params: { query: { pageSize: -1 } } });
    expect(refused.response.status).toBe(400);
    const badRequest = refused.error?.details.find((detail) => detail["@type"] === "type.googleapis.com/google.rpc.BadRequest");
    expect(badRequest).toMatchObject({
      fieldViolations: [{ field: expect.stringMatching(/^page_?[sS]ize$/), description: expect.any(String) }],
    });
    expect(documents("/api/v1/runs", "get", 400)).toBe(true);
  });
});
