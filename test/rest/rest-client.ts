/**
 * What the REST tests share: a thin `fetch` client that sends the bearer key and parses
 * JSON, the JSON shapes the tests read (proto3 JSON names from API.md), fixtures made
 * over REST, error-body checks, and bounded waits (streams are in rest-streams.ts).
 * Every wait here is bounded, so a stall fails its test instead of hanging it.
 */
import { expect } from "vitest";
import { sleep } from "../support/expectations.js";
import { testRootKey } from "../support/test-server.js";

export { within } from "../support/expectations.js";

/** A run as REST returns it (the fields these tests read). */
export interface RunJson {
  readonly id: string;
  readonly workflowId: string;
  readonly workflowVersion: number;
  readonly workflowSlug: string;
  readonly status: string;
  readonly input?: unknown;
  readonly labels?: Record<string, string>;
  readonly attempt?: number;
  readonly createdBy: string;
  readonly createTime: string;
  readonly updateTime: string;
  readonly lastSequence?: string;
  readonly idempotencyKey?: string;
}

/** A run event as REST returns it; `sequence` is an int64, so a string. */
export interface RunEventJson {
  readonly runId: string;
  readonly sequence: string;
  readonly type: string;
  readonly data?: unknown;
  readonly status?: string;
  readonly eventId?: string;
  readonly createTime: string;
}

/** One message of StreamRunEvents / RunAndStream. */
export interface StreamMessageJson {
  readonly run?: RunJson;
  readonly events?: readonly RunEventJson[];
}

/** A google.rpc.Status error body. */
export interface StatusJson {
  readonly code: number;
  readonly message: string;
  readonly details: readonly { readonly "@type": string; readonly [field: string]: unknown }[];
}

/** A lease as ClaimRuns returns it. */
export interface LeaseJson {
  readonly run: RunJson;
  readonly leaseId: string;
  readonly leaseExpireTime: string;
}

/** An answer: status, headers, the raw text and the JSON it holds (undefined when empty). */
export interface RestResponse<T> {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  readonly body: T;
}

/** Options of one request. */
export interface RequestOptions {
  /** Sent as JSON (unless a string, sent as is). */
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
}

/** REST calls as one caller. `T` is what the test expects the JSON body to be. */
export interface RestClient {
  readonly baseUrl: string;
  request<T = Record<string, unknown>>(method: string, path: string, options?: RequestOptions): Promise<RestResponse<T>>;
  get<T = Record<string, unknown>>(path: string, headers?: Record<string, string>): Promise<RestResponse<T>>;
  post<T = Record<string, unknown>>(path: string, body?: unknown, headers?: Record<string, string>): Promise<RestResponse<T>>;
  delete<T = Record<string, unknown>>(path: string): Promise<RestResponse<T>>;
}

/** A client sending `Authorization: Bearer <key>` (none when `key` is undefined). */
export function restClient(baseUrl: string, key: string | undefined): RestClient {
  const request = async <T>(method: string, path: string, options: RequestOptions = {}): Promise<RestResponse<T>> => {
    const headers: Record<string, string> = { ...(key === undefined ? {} : { authorization: `Bearer ${key}` }), ...options.headers };
    let body: string | undefined;
    if (options.body !== undefined) {
      body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
      headers["content-type"] ??= "application/json";
    }
    const response = await fetch(`${baseUrl}${path}`, { method, headers, body: body ?? null, signal: AbortSignal.timeout(20_000) });
    const text = await response.text();
    return { status: response.status, headers: response.headers, text, body: (text === "" ? undefined : JSON.parse(text)) as T };
  };
  return {
    baseUrl,
    request,
    get: (path, headers) => request("GET", path, headers === undefined ? {} : { headers }),
    post: (path, body, headers) => request("POST", path, { body: body ?? {}, ...(headers === undefined ? {} : { headers }) }),
    delete: (path) => request("DELETE", path),
  };
}

/** A tenant made over REST with the root key: its slug, id, and a client with a key of `scopes`. */
export interface RestTenant {
  readonly id: string;
  readonly slug: string;
  readonly key: string;
  readonly keyId: string;
  readonly rest: RestClient;
}

let tenantCounter = 0;

/** Creates a tenant and a key through AdminService's REST bindings. */
export async function createRestTenant(baseUrl: string, scopes: readonly string[] = ["SCOPE_ADMIN"]): Promise<RestTenant> {
  const root = restClient(baseUrl, testRootKey);
  const slug = `rest-${process.pid}-${Date.now().toString(36)}-${tenantCounter++}`;
  const tenant = await root.post<{ tenant: { id: string } }>("/api/v1/tenants", { slug });
  expect(tenant.status, tenant.text).toBe(200);
  return { id: tenant.body.tenant.id, slug, ...(await createRestKey(baseUrl, slug, scopes)) };
}

/** Creates a key of `scopes` for `tenant` (id or slug) and a client that sends it. */
export async function createRestKey(
  baseUrl: string,
  tenant: string,
  scopes: readonly string[],
): Promise<{ key: string; keyId: string; rest: RestClient }> {
  const root = restClient(baseUrl, testRootKey);
  const created = await root.post<{ secret: string; apiKey: { id: string } }>(`/api/v1/tenants/${tenant}/apiKeys`, { scopes });
  expect(created.status, created.text).toBe(200);
  return { key: created.body.secret, keyId: created.body.apiKey.id, rest: restClient(baseUrl, created.body.secret) };
}

/** Creates a workflow taking `{ n: integer }` over REST; returns its id. */
export async function createRestWorkflow(rest: RestClient, slug: string): Promise<string> {
  const created = await rest.post<{ workflow: { id: string } }>("/api/v1/workflows", {
    slug,
    definition: { kind: "rest-test" },
    inputSchema: { type: "object", properties: { n: { type: "integer" } }, required: ["n"] },
  });
  expect(created.status, created.text).toBe(200);
  return created.body.workflow.id;
}

/** Creates a run over REST and returns it. */
export async function createRestRun(rest: RestClient, body: Record<string, unknown>): Promise<RunJson> {
  const created = await rest.post<{ run: RunJson }>("/api/v1/runs", body);
  expect(created.status, created.text).toBe(200);
  return created.body.run;
}

/** Appends events of `type` over REST and returns their sequences. */
export async function ingestRestEvents(rest: RestClient, runId: string, count: number, type = "progress"): Promise<number[]> {
  const events = Array.from({ length: count }, (_, index) => ({ type, data: { index } }));
  const ingested = await rest.post<{ events: RunEventJson[] }>(`/api/v1/runs/${runId}/events`, { events });
  expect(ingested.status, ingested.text).toBe(200);
  return ingested.body.events.map((event) => Number(event.sequence));
}

/** Expects a google.rpc.Status error body with `code` and the given HTTP status. */
export function expectStatus(response: RestResponse<unknown>, httpStatus: number, code: number): StatusJson {
  expect(response.status, response.text).toBe(httpStatus);
  expect(response.headers.get("content-type")).toBe("application/json");
  const body = response.body as StatusJson;
  expect(Object.keys(body).sort()).toEqual(["code", "details", "message"]);
  expect(body).toMatchObject({ code, message: expect.any(String), details: expect.any(Array) });
  return body;
}

/** The field violations of the google.rpc.BadRequest detail of an error body. */
export function fieldViolations(status: StatusJson): { field: string; description: string }[] {
  const badRequest = status.details.find((detail) => detail["@type"] === "type.googleapis.com/google.rpc.BadRequest");
  expect(badRequest, JSON.stringify(status)).toBeDefined();
  return badRequest!.fieldViolations as { field: string; description: string }[];
}

/** Polls `condition` every 20 ms until it holds; fails naming `what` after `ms`. */
export async function eventually(what: string, condition: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(20);
  }
}

/** The sequences 1..n. */
export const oneTo = (n: number): number[] => Array.from({ length: n }, (_, index) => index + 1);
