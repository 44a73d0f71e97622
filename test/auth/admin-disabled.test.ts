/**
 * With DATABASE_URL and no RUNLINE_ROOT_KEY, AdminService is disabled (README,
 * Configuration): every admin call answers UNIMPLEMENTED (HTTP 501) saying so and how to
 * enable it, with ErrorInfo reason ADMIN_SERVICE_DISABLED, whatever the credential; not
 * `unknown or revoked API key`, which sent operators looking for a typo. The rest of
 * the API works as before with tenant keys.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { AdminService } from "../../gen/runline/v1/admin_service_pb.js";
import { clientFor, createTenant, protocols, type TenantFixture } from "../support/clients.js";
import { startTestServer, testRootKey } from "../support/test-server.js";

let baseUrl: string;
let tenant: TenantFixture;

beforeAll(async () => {
  // A tenant and its key come from a server that has the root key; then a second server
  // on the same database runs without one.
  const seeding = await startTestServer();
  tenant = await createTenant(seeding.url);
  baseUrl = (await startTestServer(seeding.databaseUrl, { RUNLINE_ROOT_KEY: "" })).url;
});

const credentials: Array<[what: string, key: string | undefined]> = [
  ["no key", undefined],
  ["the other server's root key", testRootKey],
  ["a tenant key", "tenant"],
];

describe("REST", () => {
  it.each(credentials)("with %s: 501 saying AdminService is disabled and how to enable it", async (_what, key) => {
    const secret = key === "tenant" ? tenant.key : key;
    const response = await fetch(`${baseUrl}/api/v1/tenants`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(secret === undefined ? {} : { authorization: `Bearer ${secret}` }) },
      body: JSON.stringify({ slug: "refused" }),
    });
    expect(response.status).toBe(501);
    const status = (await response.json()) as { code: number; message: string; details: unknown[] };
    expect(status.code).toBe(Code.Unimplemented);
    expect(status.message).toMatch(/^AdminService is disabled: this server has no root key\. Set RUNLINE_ROOT_KEY .* to enable it$/);
    expect(status.details).toEqual([
      { "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: "ADMIN_SERVICE_DISABLED", domain: "runline.dev" },
    ]);
    expect(response.headers.get("www-authenticate")).toBeNull();
  });
});

describe.each(protocols)("%s", (protocol) => {
  it("every admin RPC is UNIMPLEMENTED with reason ADMIN_SERVICE_DISABLED; tenant RPCs still work", async () => {
    const admin = clientFor(AdminService, protocol, baseUrl, tenant.key);
    const calls = [
      () => admin.createTenant({ slug: "refused" }),
      () => admin.createApiKey({ tenant: tenant.slug, scopes: [1] }),
      () => admin.listApiKeys({ tenant: tenant.slug }),
      () => admin.revokeApiKey({ tenant: tenant.slug, apiKeyId: tenant.keyId }),
    ];
    for (const call of calls) {
      const error = await call().then(
        () => undefined,
        (caught: unknown) => ConnectError.from(caught),
      );
      expect(error?.code).toBe(Code.Unimplemented);
      expect(error?.rawMessage).toContain("AdminService is disabled");
      expect(error?.findDetails(ErrorInfoSchema)[0]?.reason).toBe("ADMIN_SERVICE_DISABLED");
    }
    // The key was not revoked, and the tenant's own API answers as ever.
    expect((await tenant.runs(protocol).listRuns({})).runs).toEqual([]);
  });
});
