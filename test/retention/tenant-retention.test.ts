/**
 * A tenant's retention period, read and set through AdminService (GetTenant,
 * UpdateTenant with an update mask) on every protocol, over REST, and with the CLI: 30
 * days for a new tenant, 0 to keep finished runs forever, whole seconds from 1 day to
 * 3660 days otherwise, and INVALID_ARGUMENT naming the field for anything else.
 */
import { Code } from "@connectrpc/connect";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { beforeAll, describe, expect, it } from "vitest";
import { AdminService } from "../../gen/runline/v1/admin_service_pb.js";
import { runCli } from "../cli/run-cli.js";
import { clientFor, createTenant, protocols } from "../support/clients.js";
import { codeOf, rejection } from "../support/expectations.js";
import { startTestServer, testRootKey } from "../support/test-server.js";
import { expectStatus, fieldViolations, restClient, type StatusJson } from "../rest/rest-client.js";

let baseUrl: string;

beforeAll(async () => {
  baseUrl = (await startTestServer()).url;
});

const days = (n: number) => durationFromMs(n * 86_400_000);

describe.each(protocols)("GetTenant and UpdateTenant over %s", (protocol) => {
  it("reads a new tenant by id or slug with a retention of 30 days, and sets it to 7 days, then 0", async () => {
    const admin = clientFor(AdminService, protocol, baseUrl, testRootKey);
    const { tenantId, slug } = await createTenant(baseUrl);
    for (const name of [tenantId, slug]) {
      const { tenant } = await admin.getTenant({ tenant: name });
      expect(tenant).toMatchObject({ id: tenantId, slug, retention: { seconds: 2_592_000n, nanos: 0 } });
    }
    const week = await admin.updateTenant({ tenant: { id: slug, retention: days(7) }, updateMask: { paths: ["retention"] } });
    expect(week.tenant).toMatchObject({ id: tenantId, retention: { seconds: 604_800n } });
    expect((await admin.getTenant({ tenant: tenantId })).tenant!.retention!.seconds).toBe(604_800n);
    await admin.updateTenant({ tenant: { id: tenantId, retention: days(0) }, updateMask: { paths: ["retention"] } });
    expect((await admin.getTenant({ tenant: slug })).tenant!.retention?.seconds ?? 0n).toBe(0n);
  });

  it("refuses a retention out of bounds, not whole seconds or negative, naming tenant.retention", async () => {
    const admin = clientFor(AdminService, protocol, baseUrl, testRootKey);
    const { tenantId } = await createTenant(baseUrl);
    const refused = [
      durationFromMs(86_399_000),
      durationFromMs(86_400_500),
      days(3661),
      { $typeName: "google.protobuf.Duration" as const, seconds: -86_400n, nanos: 0 },
    ];
    for (const retention of refused) {
      const error = await rejection(admin.updateTenant({ tenant: { id: tenantId, retention }, updateMask: { paths: ["retention"] } }));
      expect(error.code).toBe(Code.InvalidArgument);
      expect(error.message).toContain("tenant.retention");
    }
    expect((await admin.getTenant({ tenant: tenantId })).tenant!.retention!.seconds).toBe(2_592_000n);
    for (const retention of [days(1), days(3660)]) {
      await expect(
        admin.updateTenant({ tenant: { id: tenantId, retention }, updateMask: { paths: ["retention"] } }),
      ).resolves.toBeDefined();
    }
  });

  it("refuses an empty or foreign update mask, and answers NOT_FOUND for an unknown tenant", async () => {
    const admin = clientFor(AdminService, protocol, baseUrl, testRootKey);
    const { tenantId } = await createTenant(baseUrl);
    for (const paths of [[], ["slug"]]) {
      const error = await rejection(admin.updateTenant({ tenant: { id: tenantId, retention: days(2) }, updateMask: { paths } }));
      expect([error.code, error.message]).toEqual([Code.InvalidArgument, expect.stringContaining("updateMask")]);
    }
    expect(await codeOf(admin.getTenant({ tenant: "no-such-tenant" }))).toBe(Code.NotFound);
    const unknown = admin.updateTenant({
      tenant: { id: "00000000-0000-4000-8000-000000000000", retention: days(2) },
      updateMask: { paths: ["retention"] },
    });
    expect(await codeOf(unknown)).toBe(Code.NotFound);
  });

  it("is for the root key only", async () => {
    const { tenantId, key } = await createTenant(baseUrl);
    const asTenant = clientFor(AdminService, protocol, baseUrl, key);
    expect(await codeOf(asTenant.getTenant({ tenant: tenantId }))).toBe(Code.PermissionDenied);
  });
});

describe("tenants over REST", () => {
  it("GET /api/v1/tenants/{tenant} and PATCH with updateMask=retention", async () => {
    const root = restClient(baseUrl, testRootKey);
    const { tenantId, slug } = await createTenant(baseUrl);
    const read = await root.get<{ tenant: { id: string; retention: string } }>(`/api/v1/tenants/${slug}`);
    expect([read.status, read.body.tenant]).toEqual([200, expect.objectContaining({ id: tenantId, retention: "2592000s" })]);
    const patched = await root.request<{ tenant: { retention: string } }>("PATCH", `/api/v1/tenants/${slug}?updateMask=retention`, {
      body: { retention: "172800s" },
    });
    expect([patched.status, patched.body.tenant.retention]).toEqual([200, "172800s"]);
    const bad = await root.request<StatusJson>("PATCH", `/api/v1/tenants/${tenantId}?updateMask=retention`, { body: { retention: "60s" } });
    expect(fieldViolations(expectStatus(bad, 400, Code.InvalidArgument)).map((violation) => violation.field)).toEqual(["tenant.retention"]);
  });
});

describe("runline tenants get|update", () => {
  it("prints the retention, sets it from a duration or 0, and exits 5 on a value the server refuses", async () => {
    const asRoot = { RUNLINE_SERVER: baseUrl, RUNLINE_ROOT_KEY: testRootKey };
    const { slug } = await createTenant(baseUrl);
    const read = await runCli(["tenants", "get", slug], asRoot);
    expect([read.code, read.stdout]).toEqual([0, expect.stringMatching(/RETENTION[\s\S]*30d/)]);
    const set = await runCli(["tenants", "update", slug, "--retention", "36h"], asRoot);
    expect([set.code, set.stdout]).toEqual([0, expect.stringContaining("36h")]);
    const forever = await runCli(["tenants", "update", slug, "--retention", "0", "--json"], asRoot);
    expect(forever.code).toBe(0);
    expect(JSON.parse(forever.stdout)).toEqual({ tenant: expect.objectContaining({ slug, retention: "0s" }) });
    const refused = await runCli(["tenants", "update", slug, "--retention", "2h"], asRoot);
    expect([refused.code, refused.stderr]).toEqual([5, expect.stringContaining("tenant.retention")]);
  });
});
