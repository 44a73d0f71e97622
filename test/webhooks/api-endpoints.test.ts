/**
 * WebhooksService endpoints over REST (API.md "Webhooks"): standard methods on
 * /api/v1/webhooks, bad input refused as INVALID_ARGUMENT naming the field, the secret
 * shown once, rotation; and the tenant's run-webhook secret.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { createRestTenant, createRestWorkflow, expectStatus, fieldViolations, type RestTenant } from "../rest/rest-client.js";
import { startTestServer } from "../support/test-server.js";

interface WebhookJson {
  readonly id: string;
  readonly url: string;
  readonly eventTypes?: string[];
  readonly workflows?: string[];
  readonly labels?: Record<string, string>;
  readonly disabled?: boolean;
  readonly description?: string;
  readonly disabledReason?: string;
  readonly createTime: string;
  readonly updateTime: string;
}

let baseUrl: string;
let tenant: RestTenant;

beforeAll(async () => {
  // hooks.internal may use http:// and private addresses; nothing else may.
  baseUrl = (await startTestServer(undefined, { RUNLINE_WEBHOOK_ALLOW: "hooks.internal" })).url;
  tenant = await createRestTenant(baseUrl);
});

async function createWebhook(body: Record<string, unknown>): Promise<{ webhook: WebhookJson; secret: string }> {
  const created = await tenant.rest.post<{ webhook: WebhookJson; secret: string }>("/api/v1/webhooks", body);
  expect(created.status, created.text).toBe(200);
  return created.body;
}

describe("POST /api/v1/webhooks", () => {
  it("creates an endpoint with its filters and returns a whsec_ secret once", async () => {
    const workflowId = await createRestWorkflow(tenant.rest, "hooked");
    const created = await createWebhook({
      url: "https://example.com/hooks",
      eventTypes: ["run.succeeded", "run.failed"],
      workflows: ["hooked"],
      labels: { team: "imaging" },
      description: "billing",
    });
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(created.webhook).toMatchObject({
      url: "https://example.com/hooks",
      eventTypes: ["run.succeeded", "run.failed"],
      workflows: [workflowId],
      labels: { team: "imaging" },
      description: "billing",
    });
    const fetched = await tenant.rest.get<{ webhook: WebhookJson; secret?: string }>(`/api/v1/webhooks/${created.webhook.id}`);
    expect(fetched.status, fetched.text).toBe(200);
    expect(fetched.body.webhook).toEqual(created.webhook);
    expect(fetched.text).not.toContain("whsec_");
  });

  it("accepts http:// and private hosts only when the allow-list names them", async () => {
    const created = await createWebhook({ url: "http://hooks.internal:8080/in" });
    expect(created.webhook.url).toBe("http://hooks.internal:8080/in");
  });

  const refusals: [string, Record<string, unknown>, string][] = [
    ["a missing url", {}, "url"],
    ["an http:// url", { url: "http://example.com/hooks" }, "url"],
    ["a loopback address", { url: "https://127.0.0.1/hooks" }, "url"],
    ["a private address", { url: "https://10.1.2.3/hooks" }, "url"],
    ["cloud metadata", { url: "https://169.254.169.254/latest" }, "url"],
    ["an unknown event type", { url: "https://example.com/h", eventTypes: ["run.succeeded", "run.exploded"] }, "eventTypes[1]"],
    ["an unknown workflow", { url: "https://example.com/h", workflows: ["no-such-workflow"] }, "workflows[0]"],
    ["a bad label key", { url: "https://example.com/h", labels: { "bad key!": "x" } }, "labels"],
    ["a long description", { url: "https://example.com/h", description: "x".repeat(1025) }, "description"],
  ];
  it.each(refusals)("refuses %s with 400 INVALID_ARGUMENT naming the field", async (_what, body, field) => {
    const refused = await tenant.rest.post("/api/v1/webhooks", body);
    const status = expectStatus(refused, 400, Code.InvalidArgument);
    expect(fieldViolations(status).map((violation) => violation.field)).toEqual([field]);
  });
});

describe("the endpoint limit", () => {
  it("refuses the 101st endpoint of a tenant with 400 FAILED_PRECONDITION", async () => {
    const crowded = await createRestTenant(baseUrl);
    for (let index = 0; index < 100; index++) {
      const created = await crowded.rest.post("/api/v1/webhooks", { url: `https://example.com/${index}` });
      expect(created.status, created.text).toBe(200);
    }
    expectStatus(await crowded.rest.post("/api/v1/webhooks", { url: "https://example.com/one-too-many" }), 400, Code.FailedPrecondition);
  });
});

describe("GET, PATCH, DELETE /api/v1/webhooks/{id}", () => {
  it("lists endpoints newest first, in pages", async () => {
    const other = await createRestTenant(baseUrl);
    const ids: string[] = [];
    for (let index = 0; index < 3; index++) {
      const created = await other.rest.post<{ webhook: WebhookJson }>("/api/v1/webhooks", { url: `https://example.com/${index}` });
      ids.push(created.body.webhook.id);
    }
    const first = await other.rest.get<{ webhooks: WebhookJson[]; nextPageToken: string }>("/api/v1/webhooks?pageSize=2");
    expect(first.body.webhooks.map((webhook) => webhook.id)).toEqual([ids[2], ids[1]]);
    const second = await other.rest.get<{ webhooks: WebhookJson[]; nextPageToken: string }>(
      `/api/v1/webhooks?pageSize=2&pageToken=${first.body.nextPageToken}`,
    );
    expect(second.body.webhooks.map((webhook) => webhook.id)).toEqual([ids[0]]);
    expect(second.body.nextPageToken ?? "").toBe("");
  });

  it("changes only the fields in the update mask", async () => {
    const { webhook } = await createWebhook({ url: "https://example.com/a", description: "before", eventTypes: ["run.failed"] });
    const updated = await tenant.rest.request<{ webhook: WebhookJson }>("PATCH", `/api/v1/webhooks/${webhook.id}?updateMask=url,disabled`, {
      body: { url: "https://example.com/b", disabled: true, description: "ignored" },
    });
    expect(updated.status, updated.text).toBe(200);
    expect(updated.body.webhook).toMatchObject({
      url: "https://example.com/b",
      disabled: true,
      description: "before",
      eventTypes: ["run.failed"],
    });
    const cleared = await tenant.rest.request<{ webhook: WebhookJson }>("PATCH", `/api/v1/webhooks/${webhook.id}?updateMask=eventTypes`, {
      body: {},
    });
    expect(cleared.body.webhook.eventTypes ?? []).toEqual([]);
  });

  it("refuses an update with a bad url or no mask, naming the field", async () => {
    const { webhook } = await createWebhook({ url: "https://example.com/a" });
    const badUrl = await tenant.rest.request("PATCH", `/api/v1/webhooks/${webhook.id}?updateMask=url`, {
      body: { url: "https://192.168.1.1/" },
    });
    expect(fieldViolations(expectStatus(badUrl, 400, Code.InvalidArgument))[0]!.field).toBe("url");
    const noMask = await tenant.rest.request("PATCH", `/api/v1/webhooks/${webhook.id}`, { body: { url: "https://example.com/c" } });
    expect(fieldViolations(expectStatus(noMask, 400, Code.InvalidArgument))[0]!.field).toBe("updateMask");
  });

  it("deletes an endpoint; it is then NOT_FOUND, as is another tenant's", async () => {
    const { webhook } = await createWebhook({ url: "https://example.com/gone" });
    const stranger = await createRestTenant(baseUrl);
    expectStatus(await stranger.rest.get(`/api/v1/webhooks/${webhook.id}`), 404, Code.NotFound);
    expectStatus(await stranger.rest.delete(`/api/v1/webhooks/${webhook.id}`), 404, Code.NotFound);
    expect((await tenant.rest.delete(`/api/v1/webhooks/${webhook.id}`)).status).toBe(200);
    expectStatus(await tenant.rest.get(`/api/v1/webhooks/${webhook.id}`), 404, Code.NotFound);
    expectStatus(await tenant.rest.get("/api/v1/webhooks/not-a-uuid"), 404, Code.NotFound);
  });
});

describe("secrets", () => {
  it("rotates an endpoint's secret: a new whsec_ secret each time", async () => {
    const { webhook, secret } = await createWebhook({ url: "https://example.com/rotating" });
    const rotated = await tenant.rest.post<{ secret: string }>(`/api/v1/webhooks/${webhook.id}:rotateSecret`);
    expect(rotated.status, rotated.text).toBe(200);
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect(rotated.body.secret).not.toBe(secret);
  });

  it("keeps the run-webhook secret stable until it is rotated", async () => {
    const first = await tenant.rest.get<{ secret: string }>("/api/v1/runWebhookSecret");
    expect(first.status, first.text).toBe(200);
    expect(first.body.secret).toMatch(/^whsec_/);
    expect((await tenant.rest.get<{ secret: string }>("/api/v1/runWebhookSecret")).body.secret).toBe(first.body.secret);
    const rotated = await tenant.rest.post<{ secret: string }>("/api/v1/runWebhookSecret:rotate");
    expect(rotated.body.secret).not.toBe(first.body.secret);
    expect((await tenant.rest.get<{ secret: string }>("/api/v1/runWebhookSecret")).body.secret).toBe(rotated.body.secret);
  });

  it("needs the write scope for the run-webhook secret: a read key is PERMISSION_DENIED", async () => {
    const reader = await createRestTenant(baseUrl, ["SCOPE_READ"]);
    expectStatus(await reader.rest.get("/api/v1/runWebhookSecret"), 403, Code.PermissionDenied);
    expect((await reader.rest.get("/api/v1/webhooks")).status).toBe(200);
  });
});
