/**
 * AuthService.CreateAccessToken: who may mint, what a token may hold, how long it lives,
 * and that only tokens this server signed, alive and unaltered, are accepted.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { Scope } from "../../gen/runline/v1/admin_service_pb.js";
import { mintToken, runsWithToken } from "../support/access-tokens.js";
import { createCounterWorkflow, createTenant, json, protocols, type TenantFixture } from "../support/clients.js";
import { startTestServer } from "../support/test-server.js";

let baseUrl: string;
let tenant: TenantFixture;
let runId: string;

beforeAll(async () => {
  baseUrl = (await startTestServer()).url;
  tenant = await createTenant(baseUrl);
  await createCounterWorkflow(tenant);
  runId = (await tenant.runs().createRun({ workflow: "counter", input: json({ n: 1 }) })).run!.id;
});

describe("minting", () => {
  it.each(protocols)("gives a token that reads like its key over %s", async (protocol) => {
    const { token } = await mintToken(baseUrl, tenant.key, { scopes: [Scope.READ] });
    const run = (await runsWithToken(baseUrl, token, protocol).getRun({ runId })).run!;
    expect(run.id).toBe(runId);
  });

  it("records runs a token creates as created by the key that minted it", async () => {
    const { token } = await mintToken(baseUrl, tenant.key, { scopes: [Scope.WRITE] });
    const run = (await runsWithToken(baseUrl, token).createRun({ workflow: "counter", input: json({ n: 2 }) })).run!;
    expect(run.createdBy).toBe(tenant.keyId);
  });
});
