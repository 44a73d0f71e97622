/**
 * AuthService.CreateAccessToken: who may mint, what a token may hold, how long it lives,
 * and that only tokens this server signed, alive and unaltered, are accepted.
 */
import { Code } from "@connectrpc/connect";
import { decodeJwt, decodeProtectedHeader, SignJWT } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { AdminService, Scope } from "../../gen/runline/v1/admin_service_pb.js";
import { AuthService } from "../../gen/runline/v1/auth_service_pb.js";
import { mintToken, runsWithToken } from "../support/access-tokens.js";
import { clientFor, createCounterWorkflow, createTenant, json, protocols, type TenantFixture } from "../support/clients.js";
import { codeOf, rejection, sleep } from "../support/expectations.js";
import { startTestServer, testRootKey } from "../support/test-server.js";
import { restClient } from "../rest/rest-client.js";

let baseUrl: string;
let tenant: TenantFixture;
let runId: string;

beforeAll(async () => {
  baseUrl = (await startTestServer()).url;
  tenant = await createTenant(baseUrl);
  await createCounterWorkflow(tenant);
  runId = (await tenant.runs().createRun({ workflow: "counter", input: json({ n: 1 }) })).run!.id;
});

/** A key of the tenant with only `scopes`. */
async function keyWith(...scopes: Scope[]): Promise<string> {
  return (await clientFor(AdminService, "connect-json", baseUrl, testRootKey).createApiKey({ tenant: tenant.tenantId, scopes })).secret;
}

describe("a minted token", () => {
  it.each(protocols)("works where its key does, over %s", async (protocol) => {
    const { token } = await mintToken(baseUrl, tenant.key, { scopes: [Scope.READ] });
    expect((await runsWithToken(baseUrl, token, protocol).getRun({ runId })).run!.id).toBe(runId);
  });

  it("is minted over REST too, as README's curl does", async () => {
    const response = await restClient(baseUrl, tenant.key).post<{ token: string; expireTime: string }>("/api/v1/accessTokens", {
      scopes: ["SCOPE_READ"],
      ttl: "300s",
    });
    expect(response.status, response.text).toBe(200);
    expect(Date.parse(response.body.expireTime) - Date.now()).toBeGreaterThan(290_000);
    const run = await restClient(baseUrl, response.body.token).get<{ run: { id: string } }>(`/api/v1/runs/${runId}`);
    expect(run.body.run.id).toBe(runId);
  });

  it("is an HS256 JWT naming its key, tenant and scopes, and nothing secret", async () => {
    const { token } = await mintToken(baseUrl, tenant.key, { scopes: [Scope.READ, Scope.WRITE], labels: { team: "a" } });
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: "HS256", typ: "at+jwt" });
    const claims = decodeJwt(token);
    expect(claims).toMatchObject({ iss: "runline", sub: tenant.keyId, ten: tenant.tenantId, scope: "read write", lbl: { team: "a" } });
    expect(token).not.toContain(tenant.key);
  });

  it("creates runs recorded as created by the key that minted it", async () => {
    const { token } = await mintToken(baseUrl, tenant.key, { scopes: [Scope.WRITE] });
    const run = (await runsWithToken(baseUrl, token).createRun({ workflow: "counter", input: json({ n: 2 }) })).run!;
    expect(run.createdBy).toBe(tenant.keyId);
  });
});

describe("who may mint", () => {
  it("refuses a read-only key, the root key and any access token", async () => {
    const readKey = await keyWith(Scope.READ);
    expect(await codeOf(mintToken(baseUrl, readKey, { scopes: [Scope.READ] }))).toBe(Code.PermissionDenied);
    expect(await codeOf(mintToken(baseUrl, testRootKey, { scopes: [Scope.READ] }))).toBe(Code.PermissionDenied);
    const { token } = await mintToken(baseUrl, tenant.key, { scopes: [Scope.ADMIN] });
    const refusal = await rejection(mintToken(baseUrl, token, { scopes: [Scope.READ] }));
    expect(refusal.code).toBe(Code.PermissionDenied);
    expect(refusal.rawMessage).toMatch(/access token cannot mint access tokens/);
  });

  it("never widens scopes: PERMISSION_DENIED naming the wider scope", async () => {
    const writeKey = await keyWith(Scope.WRITE, Scope.READ);
    expect((await mintToken(baseUrl, writeKey, { scopes: [Scope.READ] })).token).not.toBe("");
    const refusal = await rejection(mintToken(baseUrl, writeKey, { scopes: [Scope.READ, Scope.ADMIN] }));
    expect(refusal.code).toBe(Code.PermissionDenied);
    expect(refusal.rawMessage).toMatch(/^scopes\[1\]: "admin" is wider than the minting key's scopes/);
    const worker = await rejection(mintToken(baseUrl, writeKey, { scopes: [Scope.WORKER] }));
    expect(worker.code).toBe(Code.PermissionDenied);
    // An admin key covers every scope of its tenant.
    expect((await mintToken(baseUrl, tenant.key, { scopes: [Scope.WORKER, Scope.ADMIN] })).token).not.toBe("");
  });

  it("gives a token no scope beyond what it was minted with", async () => {
    const { token } = await mintToken(baseUrl, tenant.key, { scopes: [Scope.READ] });
    expect(await codeOf(runsWithToken(baseUrl, token).cancelRun({ runId }))).toBe(Code.PermissionDenied);
  });
});

describe("what a request may hold", () => {
  it.each([
    ["no scope", {}, "scopes"],
    ["an unknown workflow", { scopes: [Scope.READ], workflows: ["no-such-workflow"] }, "workflows[0]"],
    ["a run id that is no id", { scopes: [Scope.READ], runIds: ["x"] }, "runIds[0]"],
    ["maxRuns on a read token", { scopes: [Scope.READ], maxRuns: 3 }, "maxRuns"],
    ["maxRuns with runIds", { scopes: [Scope.WRITE], maxRuns: 3, runIds: [crypto.randomUUID()] }, "maxRuns"],
    ["a bad label key", { scopes: [Scope.READ], labels: { "no spaces": "x" } }, "labels"],
  ])("refuses %s with INVALID_ARGUMENT naming the field", async (_name, request, field) => {
    const refusal = await rejection(mintToken(baseUrl, tenant.key, request));
    expect(refusal.code).toBe(Code.InvalidArgument);
    expect(refusal.rawMessage.startsWith(`${field}:`), refusal.rawMessage).toBe(true);
  });
});

describe("a token's life", () => {
  it("is 15 minutes by default and at most 24 hours", async () => {
    const byDefault = await mintToken(baseUrl, tenant.key, { scopes: [Scope.READ] });
    const fifteenMinutes = Date.now() + 15 * 60_000;
    expect(byDefault.expireTime.getTime()).toBeGreaterThan(fifteenMinutes - 10_000);
    expect(byDefault.expireTime.getTime()).toBeLessThanOrEqual(fifteenMinutes);
    const longest = await mintToken(baseUrl, tenant.key, { scopes: [Scope.READ], ttl: { seconds: 86_400n } });
    expect(longest.expireTime.getTime()).toBeLessThanOrEqual(Date.now() + 86_400_000);
    for (const ttl of [{ seconds: 86_401n }, { nanos: 500_000_000 }]) {
      const refusal = await rejection(mintToken(baseUrl, tenant.key, { scopes: [Scope.READ], ttl }));
      expect(refusal.code).toBe(Code.InvalidArgument);
      expect(refusal.rawMessage).toMatch(/^ttl: must be between 1s and 24h/);
    }
  });

  it("ends at its expireTime: then UNAUTHENTICATED, saying it expired", async () => {
    const { token, expireTime } = await mintToken(baseUrl, tenant.key, { scopes: [Scope.READ], ttl: { seconds: 2n } });
    const runs = runsWithToken(baseUrl, token);
    expect((await runs.getRun({ runId })).run!.id).toBe(runId);
    await sleep(expireTime.getTime() - Date.now() + 50);
    const refusal = await rejection(runs.getRun({ runId }));
    expect(refusal.code).toBe(Code.Unauthenticated);
    expect(refusal.rawMessage).toBe("the access token has expired");
  });
});

describe("forged tokens", () => {
  it("refuses a token whose claims or signature were altered", async () => {
    const { token } = await mintToken(baseUrl, tenant.key, { scopes: [Scope.READ], runIds: [runId] });
    const [header, payload, signature] = token.split(".") as [string, string, string];
    const claims = decodeJwt(token);
    const widened = Buffer.from(JSON.stringify({ ...claims, scope: "admin", runs: undefined })).toString("base64url");
    const flipped = signature.slice(0, -2) + (signature.at(-2) === "A" ? "B" : "A") + signature.at(-1)!;
    for (const forged of [`${header}.${widened}.${signature}`, `${header}.${payload}.${flipped}`, `${header}.${payload}.`]) {
      const refusal = await rejection(runsWithToken(baseUrl, forged).getRun({ runId }));
      expect(refusal.code, forged).toBe(Code.Unauthenticated);
    }
  });

  it("refuses a token signed with another key under a known key id, and one with alg none", async () => {
    const { token } = await mintToken(baseUrl, tenant.key, { scopes: [Scope.ADMIN] });
    const { kid } = decodeProtectedHeader(token);
    const claims = decodeJwt(token);
    const otherKey = crypto.getRandomValues(new Uint8Array(32));
    const foreign = await new SignJWT(claims).setProtectedHeader({ alg: "HS256", typ: "at+jwt", kid: kid! }).sign(otherKey);
    const unsigned = `${Buffer.from(JSON.stringify({ alg: "none", typ: "at+jwt", kid })).toString("base64url")}.${token.split(".")[1]}.`;
    for (const forged of [foreign, unsigned]) {
      const refusal = await rejection(runsWithToken(baseUrl, forged).getRun({ runId }));
      expect(refusal.code).toBe(Code.Unauthenticated);
      expect(refusal.rawMessage).toBe("not a valid access token");
    }
  });

  it("refuses it on every protocol with the Bearer challenge", async () => {
    const response = await restClient(baseUrl, "eyJhbGciOiJIUzI1NiJ9.e30.x").get(`/api/v1/runs/${runId}`);
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toBe(
      'Bearer realm="runline", error="invalid_token", error_description="not a valid access token"',
    );
    for (const protocol of protocols) {
      const auth = clientFor(AuthService, protocol, baseUrl, "eyJhbGciOiJIUzI1NiJ9.e30.x");
      expect(await codeOf(auth.createAccessToken({ scopes: [Scope.READ] }))).toBe(Code.Unauthenticated);
    }
  });
});
