/**
 * Two replicas on one database, refreshing every 200 ms and rotating the signing key
 * every 1.5 s: a token minted on one is good on the other; revoking the key that minted
 * it kills it on both within the refresh period; a rotated-out key verifies its tokens
 * until its successor has signed for the longest TTL, then nothing it signed passes; a
 * replica that cannot read the revoked keys refuses tokens rather than trust its list.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { decodeJwt, decodeProtectedHeader, SignJWT } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { AdminService, Scope } from "../../gen/runline/v1/admin_service_pb.js";
import type { RunningServer } from "../../src/server.js";
import { mintToken, runsWithToken } from "../support/access-tokens.js";
import { clientFor, createCounterWorkflow, createTenant, json, type TenantFixture } from "../support/clients.js";
import { makeReachable, makeUnreachable } from "../support/database-outage.js";
import { codeOf, eventually, rejection } from "../support/expectations.js";
import { startTestServer, testRootKey } from "../support/test-server.js";

const refreshMs = 200;
const env = { RUNLINE_ACCESS_TOKEN_REFRESH_MS: String(refreshMs), RUNLINE_ACCESS_TOKEN_KEY_ROTATION_MS: "1500" };

let first: RunningServer & { databaseUrl: string };
let second: RunningServer;
let tenant: TenantFixture;
let runId: string;

beforeAll(async () => {
  first = await startTestServer(undefined, env);
  second = await startTestServer(first.databaseUrl, env);
  tenant = await createTenant(first.url);
  await createCounterWorkflow(tenant);
  runId = (await tenant.runs().createRun({ workflow: "counter", input: json({ n: 1 }) })).run!.id;
});

async function newKey(): Promise<{ secret: string; id: string }> {
  const created = await clientFor(AdminService, "connect-json", first.url, testRootKey).createApiKey({
    tenant: tenant.tenantId,
    scopes: [Scope.ADMIN],
  });
  return { secret: created.secret, id: created.apiKey!.id };
}

describe("revoking the key that minted a token", () => {
  it("refuses the token on the revoking replica at once, and on the other within the refresh period", async () => {
    const key = await newKey();
    const spare = await newKey();
    const { token } = await mintToken(first.url, key.secret, { scopes: [Scope.READ] });
    const { token: unrelated } = await mintToken(first.url, spare.secret, { scopes: [Scope.READ] });
    expect((await runsWithToken(second.url, token).getRun({ runId })).run!.id).toBe(runId);
    await clientFor(AdminService, "connect-json", second.url, testRootKey).revokeApiKey({ tenant: tenant.tenantId, apiKeyId: key.id });
    const revoked = Date.now();
    const here = await rejection(runsWithToken(second.url, token).getRun({ runId }));
    expect(here.code).toBe(Code.Unauthenticated);
    expect(here.rawMessage).toBe("the access token's API key was revoked");
    await eventually(5000, "the other replica to refuse the token", async () =>
      (await codeOf(runsWithToken(first.url, token).getRun({ runId }))) === Code.Unauthenticated ? true : undefined,
    );
    const elapsed = Date.now() - revoked;
    console.log(`token refused on the other replica ${elapsed} ms after the revocation (refresh period ${refreshMs} ms)`);
    // The bound is one refresh period plus a read; generous for a loaded machine.
    expect(elapsed).toBeLessThan(refreshMs * 10);
    // Tokens of other keys are untouched.
    expect((await runsWithToken(first.url, unrelated).getRun({ runId })).run!.id).toBe(runId);
  });
});

describe("signing keys", () => {
  it("rotate, and a token of the old key stays good on both replicas", async () => {
    const before = await mintToken(first.url, tenant.key, { scopes: [Scope.READ], ttl: { seconds: 3600n } });
    const oldKid = decodeProtectedHeader(before.token).kid;
    const after = await eventually(6000, "a token signed by the next key", async () => {
      const minted = await mintToken(second.url, tenant.key, { scopes: [Scope.READ] });
      return decodeProtectedHeader(minted.token).kid !== oldKid ? minted : undefined;
    });
    for (const server of [first, second]) {
      expect((await runsWithToken(server.url, before.token).getRun({ runId })).run!.id).toBe(runId);
      expect((await runsWithToken(server.url, after.token).getRun({ runId })).run!.id).toBe(runId);
    }
  });

  it("retire once their successor has signed for 24 h: their tokens then fail everywhere", async () => {
    const old = await mintToken(first.url, tenant.key, { scopes: [Scope.READ], ttl: { seconds: 3600n } });
    const oldKid = decodeProtectedHeader(old.token).kid!;
    const [{ generation }] = await first.database.sql.query<{ generation: number }>(
      `select generation from access_token_keys where id = $1::text`,
      [oldKid],
    );
    // The database's clock cannot be moved; the successor's sign time can, as if 24 h and 5 min had passed.
    await eventually(6000, "a successor key", async () => {
      const moved = await first.database.sql.query(
        `update access_token_keys set sign_time = now() - interval '24 hours 6 minutes' where generation = $1::int + 1 returning id`,
        [generation],
      );
      return moved.length > 0 ? true : undefined;
    });
    for (const server of [first, second]) {
      await eventually(3000, "the old key to be retired", async () =>
        (await codeOf(runsWithToken(server.url, old.token).getRun({ runId }))) === Code.Unauthenticated ? true : undefined,
      );
    }
    const fresh = await mintToken(first.url, tenant.key, { scopes: [Scope.READ] });
    expect((await runsWithToken(second.url, fresh.token).getRun({ runId })).run!.id).toBe(runId);
  });

  it("are stored encrypted: no 32 bytes of the stored row sign a token the server accepts", async () => {
    const genuine = await mintToken(first.url, tenant.key, { scopes: [Scope.READ] });
    const kid = decodeProtectedHeader(genuine.token).kid!;
    const [row] = await first.database.sql.query<{ sealed_key: Buffer }>(`select sealed_key from access_token_keys where id = $1::text`, [
      kid,
    ]);
    // 12-byte IV, 16-byte tag, then the 32-byte key encrypted.
    expect(row!.sealed_key.length).toBe(12 + 16 + 32);
    const claims = decodeJwt(genuine.token);
    for (let offset = 0; offset + 32 <= row!.sealed_key.length; offset++) {
      const candidate = row!.sealed_key.subarray(offset, offset + 32);
      const forged = await new SignJWT(claims).setProtectedHeader({ alg: "HS256", typ: "at+jwt", kid }).sign(candidate);
      expect(await codeOf(runsWithToken(first.url, forged).getRun({ runId })), `bytes ${offset}..${offset + 32}`).toBe(
        Code.Unauthenticated,
      );
    }
  });
});

describe("a replica that cannot read the revoked keys", () => {
  it("refuses tokens (UNAVAILABLE) after two refresh periods, and takes them again once it can", async () => {
    const { token } = await mintToken(first.url, tenant.key, { scopes: [Scope.READ] });
    await makeUnreachable(first.databaseUrl);
    try {
      const refusal = await eventually(5000, "tokens to be refused", async () => {
        const error = await runsWithToken(first.url, token)
          .getRun({ runId })
          .then(
            () => undefined,
            (caught: unknown) => ConnectError.from(caught),
          );
        return error?.rawMessage.startsWith("cannot check access tokens now") === true ? error : undefined;
      });
      expect(refusal.code).toBe(Code.Unavailable);
    } finally {
      await makeReachable(first.databaseUrl);
    }
    await eventually(10_000, "the token to work again", async () =>
      (await codeOf(runsWithToken(first.url, token).getRun({ runId }))) === undefined ? true : undefined,
    );
  });
});
