/**
 * Runs created with an access token: they fall inside its restriction (its labels are
 * added), and `maxRuns` bounds how many, across replicas, with failed creates and
 * idempotent replays not counted.
 */
import { Code } from "@connectrpc/connect";
import { beforeAll, describe, expect, it } from "vitest";
import { Scope } from "../../gen/runline/v1/admin_service_pb.js";
import { mintToken, runsWithToken } from "../support/access-tokens.js";
import { createCounterWorkflow, createTenant, json, type TenantFixture } from "../support/clients.js";
import { codeOf, rejection } from "../support/expectations.js";
import { startTestServer } from "../support/test-server.js";
import { restClient } from "../rest/rest-client.js";

let first: { url: string; databaseUrl: string };
let second: { url: string };
let tenant: TenantFixture;

beforeAll(async () => {
  first = await startTestServer();
  // A second replica on the same database: the run limit must hold across both.
  second = await startTestServer(first.databaseUrl);
  tenant = await createTenant(first.url);
  await createCounterWorkflow(tenant);
});

describe("runs a restricted token creates", () => {
  it("carry its labels, added when the request leaves them out", async () => {
    const { token } = await mintToken(first.url, tenant.key, { scopes: [Scope.WRITE, Scope.READ], labels: { team: "a" } });
    const client = runsWithToken(first.url, token);
    const run = (await client.createRun({ workflow: "counter", input: json({ n: 1 }), labels: { other: "x" } })).run!;
    expect(run.labels).toEqual({ other: "x", team: "a" });
    expect((await client.getRun({ runId: run.id })).run!.id).toBe(run.id);
    const batch = await client.batchCreateRuns({
      requests: [{ workflow: "counter", input: json({ n: 2 }) }],
      template: { workflow: "counter" },
      inputs: [json({ n: 3 })],
    });
    expect(batch.runs.map((one) => one.labels)).toEqual([{ team: "a" }, { team: "a" }]);
  });

  it("may not give its labels another value: INVALID_ARGUMENT naming the label", async () => {
    const { token } = await mintToken(first.url, tenant.key, { scopes: [Scope.WRITE], labels: { team: "a" } });
    const refusal = await rejection(
      runsWithToken(first.url, token).createRun({ workflow: "counter", input: json({ n: 1 }), labels: { team: "b" } }),
    );
    expect(refusal.code).toBe(Code.InvalidArgument);
    expect(refusal.rawMessage).toBe("labels[team]: this access token creates only runs labelled team=a");
  });

  it("cannot exist for a token restricted to named runs", async () => {
    const { token } = await mintToken(first.url, tenant.key, { scopes: [Scope.WRITE], runIds: [crypto.randomUUID()] });
    expect(await codeOf(runsWithToken(first.url, token).createRun({ workflow: "counter", input: json({ n: 1 }) }))).toBe(
      Code.PermissionDenied,
    );
  });
});

describe("maxRuns", () => {
  it("refuses the (N+1)th create with RESOURCE_EXHAUSTED (REST 429); failures and replays are not counted", async () => {
    const { token } = await mintToken(first.url, tenant.key, { scopes: [Scope.WRITE], maxRuns: 2 });
    const client = runsWithToken(first.url, token);
    expect(await codeOf(client.createRun({ workflow: "counter", input: json({ n: "not a number" }) }))).toBe(Code.InvalidArgument);
    await client.createRun({ workflow: "counter", input: json({ n: 1 }), idempotencyKey: "once" });
    const replay = await client.createRun({ workflow: "counter", input: json({ n: 1 }), idempotencyKey: "once" });
    expect(replay.idempotentReplayed).toBe(true);
    await client.createRun({ workflow: "counter", input: json({ n: 2 }) });
    const refusal = await rejection(client.createRun({ workflow: "counter", input: json({ n: 3 }) }));
    expect(refusal.code).toBe(Code.ResourceExhausted);
    expect(refusal.rawMessage).toMatch(/at most 2 runs \(maxRuns\)/);
    const rest = await restClient(first.url, token).post("/api/v1/runs", { workflow: "counter", input: { n: 4 } });
    expect(rest.status).toBe(429);
    // A batch that would pass the limit creates nothing.
    const fresh = await mintToken(first.url, tenant.key, { scopes: [Scope.WRITE], maxRuns: 2 });
    const batch = runsWithToken(first.url, fresh.token).batchCreateRuns({
      template: { workflow: "counter" },
      inputs: [1, 2, 3].map((n) => json({ n })),
    });
    expect(await codeOf(batch)).toBe(Code.ResourceExhausted);
  });

  it("holds across replicas: of 8 concurrent creates on two servers, exactly maxRuns succeed", async () => {
    const { token } = await mintToken(first.url, tenant.key, { scopes: [Scope.WRITE, Scope.READ], maxRuns: 3, labels: { race: "yes" } });
    const attempts = Array.from({ length: 8 }, (_, index) =>
      codeOf(runsWithToken(index % 2 === 0 ? first.url : second.url, token).createRun({ workflow: "counter", input: json({ n: index }) })),
    );
    const codes = await Promise.all(attempts);
    expect(codes.filter((code) => code === undefined)).toHaveLength(3);
    expect(codes.filter((code) => code === Code.ResourceExhausted)).toHaveLength(5);
    const created = await runsWithToken(second.url, token).listRuns({ labels: { race: "yes" } });
    expect(created.runs).toHaveLength(3);
  });
});
