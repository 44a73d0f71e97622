/**
 * CORS as Chromium enforces it: a page on another origin calls Runline with an access
 * token in `Authorization` (which makes every call preflighted), over Connect and
 * gRPC-web as connect-web frames them and over REST, and reads what it needs: the
 * answer, the request id, a gRPC-web refusal's status (in its trailers), the Bearer
 * challenge of a 401. `credentials: "include"` works only where
 * RUNLINE_CORS_CREDENTIALS is on; a server that does not name the origin is unreadable.
 */
import type { Page } from "playwright-core";
import { beforeAll, describe, expect, it } from "vitest";
import { Scope } from "../../gen/runline/v1/admin_service_pb.js";
import { mintToken } from "../support/access-tokens.js";
import { chromiumSkipReason, chromiumSuiteName, launchChromium } from "../support/browser.js";
import { createCounterWorkflow, createTenant, json } from "../support/clients.js";
import { startPageOrigin } from "../support/page-origin.js";
import { startTestServer } from "../support/test-server.js";

/** The page: `call(url, init)` is a cross-origin fetch that reports what the page may read, or that it may read nothing. */
const appPage = `<!doctype html>
<title>App page</title>
<script>
  const readable = ["x-request-id", "www-authenticate"];
  window.call = async (url, init) => {
    try {
      const response = await fetch(url, init);
      const headers = Object.fromEntries(readable.map((name) => [name, response.headers.get(name)]));
      return { status: response.status, headers, body: await response.text() };
    } catch (error) {
      return { blocked: String(error) };
    }
  };
  // A gRPC-web request as connect-web frames it: one uncompressed message, GetRunRequest { run_id = 1 }.
  window.grpcWebGetRun = (runId) => {
    const id = new TextEncoder().encode(runId);
    const message = new Uint8Array([0x0a, id.length, ...id]);
    return new Uint8Array([0, 0, 0, 0, message.length, ...message]);
  };
</script>`;

interface PageAnswer {
  readonly status?: number;
  readonly headers?: Record<string, string | null>;
  readonly body?: string;
  readonly blocked?: string;
}

let page: Page;
let allowed: string;
let withCredentials: string;
let notNamed: string;
let token: string;
let runId: string;

describe.skipIf(chromiumSkipReason() !== undefined)(chromiumSuiteName("a page on another origin, in Chromium"), () => {
  beforeAll(async () => {
    const app = await startPageOrigin({ "/app": appPage });
    const first = await startTestServer(undefined, { RUNLINE_CORS_ORIGINS: app.origin });
    allowed = first.url;
    withCredentials = (await startTestServer(first.databaseUrl, { RUNLINE_CORS_ORIGINS: app.origin, RUNLINE_CORS_CREDENTIALS: "1" })).url;
    notNamed = (await startTestServer(first.databaseUrl, { RUNLINE_CORS_ORIGINS: "https://someone-else.example" })).url;
    const tenant = await createTenant(allowed);
    await createCounterWorkflow(tenant);
    runId = (await tenant.runs().createRun({ workflow: "counter", input: json({ n: 1 }) })).run!.id;
    token = (await mintToken(allowed, tenant.key, { scopes: [Scope.READ], runIds: [runId] })).token;
    page = await (await launchChromium()).newPage();
    await page.goto(app.url("/app"));
  });

  const call = (url: string, init: Record<string, unknown>) =>
    page.evaluate(
      ([target, options]) => (globalThis as unknown as { call: (u: string, i: unknown) => Promise<PageAnswer> }).call(target, options),
      [url, init] as const,
    );

  it("calls Connect with its token and reads the answer and the request id", async () => {
    const answer = await call(`${allowed}/runline.v1.RunsService/GetRun`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "connect-protocol-version": "1" },
      body: JSON.stringify({ runId }),
    });
    expect(answer.status, JSON.stringify(answer)).toBe(200);
    expect(JSON.parse(answer.body!)).toMatchObject({ run: { id: runId } });
    expect(answer.headers!["x-request-id"]).toMatch(/\S/);
  });

  it("calls gRPC-web: reads the request id of an answer, and the status of a refusal in its trailers", async () => {
    const getRun = (id: string) =>
      page.evaluate(
        ([url, bearer, run]) => {
          const scope = globalThis as unknown as {
            call: (u: string, i: unknown) => Promise<PageAnswer>;
            grpcWebGetRun: (r: string) => Uint8Array;
          };
          const headers = { authorization: `Bearer ${bearer}`, "content-type": "application/grpc-web+proto", "x-grpc-web": "1" };
          return scope.call(url, { method: "POST", headers, body: scope.grpcWebGetRun(run) });
        },
        [`${allowed}/runline.v1.RunsService/GetRun`, token, id] as const,
      );
    const answer = await getRun(runId);
    expect(answer.status, JSON.stringify(answer)).toBe(200);
    expect(answer.headers!["x-request-id"]).toMatch(/\S/);
    expect(answer.body).toContain("grpc-status: 0");
    // A run outside the token's restriction: the trailers, in the body as gRPC-web puts them.
    const refusal = await getRun(crypto.randomUUID());
    expect(refusal.body).toContain("grpc-status: 5");
    expect(refusal.body).toMatch(/grpc-message: run%20%22[0-9a-f-]+%22%20not%20found/);
  });

  it("reads the Bearer challenge of a refused token over REST", async () => {
    const answer = await call(`${allowed}/api/v1/runs/${runId}`, { headers: { authorization: "Bearer eyJ.e30.x" } });
    expect(answer.status).toBe(401);
    expect(answer.headers!["www-authenticate"]).toContain('error="invalid_token"');
  });

  it("sends credentials only where RUNLINE_CORS_CREDENTIALS allows them", async () => {
    const init = { credentials: "include", headers: { authorization: `Bearer ${token}` } };
    const granted = await call(`${withCredentials}/api/v1/runs/${runId}`, init);
    expect(granted.status, JSON.stringify(granted)).toBe(200);
    expect((await call(`${allowed}/api/v1/runs/${runId}`, init)).blocked).toMatch(/Failed to fetch/);
  });

  it("can read nothing from a server that does not name its origin", async () => {
    const answer = await call(`${notNamed}/api/v1/runs/${runId}`, { headers: { authorization: `Bearer ${token}` } });
    expect(answer.blocked).toMatch(/Failed to fetch/);
  });
});
