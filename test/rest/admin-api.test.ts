/**
 * AdminService over REST (API.md "Admin"): tenants and their API keys, root key only.
 * `POST /api/v1/tenants`, `POST|GET /api/v1/tenants/{tenant}/apiKeys` (tenant by id or
 * slug, scopes by enum name), `POST /api/v1/tenants/{tenant}/apiKeys/{api_key_id}:revoke`.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { startTestServer, testRootKey } from "../support/test-server.js";
import { expectStatus, restClient, type RestClient } from "./rest-client.js";

let baseUrl: string;
let root: RestClient;

beforeAll(async () => {
  baseUrl = (await startTestServer()).url;
  root = restClient(baseUrl, testRootKey);
});

let slugCounter = 0;
const freshSlug = () => `admin-${process.pid}-${Date.now().toString(36)}-${slugCounter++}`;

interface ApiKeyJson {
  readonly id: string;
  readonly tenantId: string;
  readonly scopes: string[];
  readonly displayName?: string;
  readonly createTime: string;
  readonly revokeTime?: string;
}

describe("POST /api/v1/tenants", () => {
  it("creates a tenant from a body with its slug and answers 200 with the tenant", async () => {
    const slug = freshSlug();
    const created = await root.post<{ tenant: { id: string; slug: string; createTime: string; retention: string } }>("/api/v1/tenants", {
      slug,
    });
    // The transcoder answers every successful unary call 200; API.md asks for no other status.
    expect(created.status).toBe(200);
    // A new tenant keeps finished runs 30 days (test/retention/ tests retention).
    expect(created.body.tenant).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      slug,
      createTime: expect.any(String),
      retention: "2592000s",
    });
    expect(Number.isNaN(Date.parse(created.body.tenant.createTime))).toBe(false);
  });

  it("refuses a slug that is taken with 409 ALREADY_EXISTS", async () => {
    const slug = freshSlug();
    expect((await root.post("/api/v1/tenants", { slug })).status).toBe(200);
    expectStatus(await root.post("/api/v1/tenants", { slug }), 409, 6);
  });

  it("is for the root key only: a tenant's admin key gets 403 PERMISSION_DENIED", async () => {
    const slug = freshSlug();
    await root.post("/api/v1/tenants", { slug });
    const { body } = await root.post<{ secret: string }>(`/api/v1/tenants/${slug}/apiKeys`, { scopes: ["SCOPE_ADMIN"] });
    const tenantAdmin = restClient(baseUrl, body.secret);
    expectStatus(await tenantAdmin.post("/api/v1/tenants", { slug: freshSlug() }), 403, 7);
    expectStatus(await tenantAdmin.get(`/api/v1/tenants/${slug}/apiKeys`), 403, 7);
  });
});

describe("API keys: /api/v1/tenants/{tenant}/apiKeys", () => {
  it("creates a key for a tenant named by slug or by id, with scopes by enum name, and shows its secret once", async () => {
    const slug = freshSlug();
    const tenant = await root.post<{ tenant: { id: string } }>("/api/v1/tenants", { slug });
    const bySlug = await root.post<{ apiKey: ApiKeyJson; secret: string }>(`/api/v1/tenants/${slug}/apiKeys`, {
      scopes: ["SCOPE_READ", "SCOPE_WRITE"],
      displayName: "by slug",
    });
    const byId = await root.post<{ apiKey: ApiKeyJson; secret: string }>(`/api/v1/tenants/${tenant.body.tenant.id}/apiKeys`, {
      scopes: ["SCOPE_WORKER"],
    });
    expect(bySlug.status).toBe(200);
    expect(byId.status).toBe(200);
    expect(bySlug.body.apiKey).toMatchObject({
      tenantId: tenant.body.tenant.id,
      scopes: ["SCOPE_READ", "SCOPE_WRITE"],
      displayName: "by slug",
    });
    expect(byId.body.apiKey).toMatchObject({ tenantId: tenant.body.tenant.id, scopes: ["SCOPE_WORKER"] });
    expect(bySlug.body.secret).not.toBe("");
    expect(bySlug.body.secret).not.toBe(byId.body.secret);

    // The secret is a working bearer key of that tenant: it sees the tenant's (empty) run list.
    const listed = await restClient(baseUrl, bySlug.body.secret).get("/api/v1/runs");
    expect(listed.status).toBe(200);
  });

  it("lists a tenant's keys newest first, never with their secrets", async () => {
    const slug = freshSlug();
    await root.post("/api/v1/tenants", { slug });
    const first = await root.post<{ apiKey: ApiKeyJson; secret: string }>(`/api/v1/tenants/${slug}/apiKeys`, { scopes: ["SCOPE_READ"] });
    const second = await root.post<{ apiKey: ApiKeyJson; secret: string }>(`/api/v1/tenants/${slug}/apiKeys`, { scopes: ["SCOPE_ADMIN"] });
    const listed = await root.get<{ apiKeys: ApiKeyJson[] }>(`/api/v1/tenants/${slug}/apiKeys`);
    expect(listed.status).toBe(200);
    expect(listed.body.apiKeys.map((key) => key.id)).toEqual([second.body.apiKey.id, first.body.apiKey.id]);
    expect(listed.text).not.toContain(first.body.secret);
    expect(listed.text).not.toContain(second.body.secret);
    expect(listed.text).not.toMatch(/secret|hash/i);
  });

  it("revokes a key at :revoke, after which the key is refused with 401; revoking again changes nothing", async () => {
    const slug = freshSlug();
    await root.post("/api/v1/tenants", { slug });
    const created = await root.post<{ apiKey: ApiKeyJson; secret: string }>(`/api/v1/tenants/${slug}/apiKeys`, { scopes: ["SCOPE_READ"] });
    const holder = restClient(baseUrl, created.body.secret);
    expect((await holder.get("/api/v1/runs")).status).toBe(200);

    const revokePath = `/api/v1/tenants/${slug}/apiKeys/${created.body.apiKey.id}:revoke`;
    const revoked = await root.post<{ apiKey: ApiKeyJson }>(revokePath, {});
    expect(revoked.status).toBe(200);
    expect(revoked.body.apiKey).toMatchObject({ id: created.body.apiKey.id, revokeTime: expect.any(String) });
    expectStatus(await holder.get("/api/v1/runs"), 401, 16);

    const again = await root.post<{ apiKey: ApiKeyJson }>(revokePath, {});
    expect(again.status).toBe(200);
    expect(again.body.apiKey.revokeTime).toBe(revoked.body.apiKey.revokeTime);
    const listed = await root.get<{ apiKeys: ApiKeyJson[] }>(`/api/v1/tenants/${slug}/apiKeys`);
    expect(listed.body.apiKeys[0]).toMatchObject({ id: created.body.apiKey.id, revokeTime: revoked.body.apiKey.revokeTime });
  });

  it("refuses an unknown scope name with 400 INVALID_ARGUMENT and an unknown tenant with 404", async () => {
    const slug = freshSlug();
    await root.post("/api/v1/tenants", { slug });
    const unknownScope = expectStatus(await root.post(`/api/v1/tenants/${slug}/apiKeys`, { scopes: ["SCOPE_EVERYTHING"] }), 400, 3);
    expect(unknownScope.message).toContain("SCOPE_EVERYTHING");
    expectStatus(await root.post(`/api/v1/tenants/${freshSlug()}/apiKeys`, { scopes: ["SCOPE_READ"] }), 404, 5);
    expectStatus(await root.get(`/api/v1/tenants/${freshSlug()}/apiKeys`), 404, 5);
  });
});
