/**
 * WebhooksService over Connect, gRPC and gRPC-web: endpoint CRUD through the typed
 * client, and the delivery log (ListWebhookDeliveries filters and keyset pages, attempts,
 * RedeliverWebhook). Delivery rows are written straight into the outbox table here, due
 * a day from now, so the dispatcher leaves them alone while the test reads them.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import { DeliveryOutcome, WebhooksService } from "../../gen/runline/v1/webhooks_service_pb.js";
import type { Sql } from "../../src/db/database.js";
import { newId } from "../../src/ids.js";
import { clientFor, createTenant, protocols, type TenantFixture } from "../support/clients.js";
import { startTestServer } from "../support/test-server.js";

let baseUrl: string;
let sql: Sql;
let tenant: TenantFixture;

beforeAll(async () => {
  const server = await startTestServer();
  baseUrl = server.url;
  sql = server.database.sql;
  tenant = await createTenant(baseUrl);
});

const webhooks = (protocol: (typeof protocols)[number] = "connect-json", key = tenant.key) =>
  clientFor(WebhooksService, protocol, baseUrl, key);

interface DeliverySeed {
  readonly runId: string;
  readonly endpointId?: string;
  readonly outcome?: "PENDING" | "SUCCEEDED" | "FAILED";
  readonly attempts?: number;
}

/** Writes a delivery (and its attempts, each a 503 answer) as the outbox would; returns its id. */
async function seedDelivery(tenantId: string, seed: DeliverySeed): Promise<string> {
  const id = newId();
  const attempts = seed.attempts ?? 0;
  await sql.query(
    `insert into webhook_deliveries (tenant_id, id, run_id, endpoint_id, url, type, sequence, payload, outcome, attempt_count, next_attempt_time)
     values ($1, $2, $3, $4, 'https://127.0.0.1:1/hook', 'run.succeeded', 1, '{}', $5, $6, now() + interval '1 day')`,
    [tenantId, id, seed.runId, seed.endpointId ?? null, seed.outcome ?? "PENDING", attempts],
  );
  for (let attempt = 1; attempt <= attempts; attempt++) {
    await sql.query(
      `insert into webhook_attempts (tenant_id, delivery_id, attempt, start_time, duration_ms, http_status, response_body)
       values ($1, $2, $3, now(), 42, 503, 'busy')`,
      [tenantId, id, attempt],
    );
  }
  return id;
}

describe.each(protocols)("endpoints over %s", (protocol) => {
  it("creates, reads, updates and deletes; the secret only at create", async () => {
    const client = webhooks(protocol);
    const created = await client.createWebhook({ webhook: { url: "https://example.com/typed", eventTypes: ["run.failed"] } });
    expect(created.secret).toMatch(/^whsec_/);
    const id = created.webhook!.id;
    expect((await client.getWebhook({ id })).webhook!.url).toBe("https://example.com/typed");
    const updated = await client.updateWebhook({ webhook: { id, description: "now described" }, updateMask: { paths: ["description"] } });
    expect(updated.webhook).toMatchObject({ description: "now described", eventTypes: ["run.failed"] });
    await client.deleteWebhook({ id });
    await expect(client.getWebhook({ id })).rejects.toMatchObject({ code: Code.NotFound });
  });

  it("refuses a bad url as INVALID_ARGUMENT naming `url`", async () => {
    const error = await webhooks(protocol)
      .createWebhook({ webhook: { url: "ftp://example.com/" } })
      .catch((caught: unknown) => ConnectError.from(caught));
    expect(error).toMatchObject({ code: Code.InvalidArgument, rawMessage: expect.stringMatching(/^url: /) });
  });
});

describe("ListWebhookDeliveries", () => {
  it("filters by run, endpoint and outcome, and lists each delivery's attempts", async () => {
    const own = await createTenant(baseUrl);
    const client = webhooks("connect-json", own.key);
    const endpointId = (await client.createWebhook({ webhook: { url: "https://example.com/log" } })).webhook!.id;
    const [runA, runB] = [newId(), newId()];
    const a1 = await seedDelivery(own.tenantId, { runId: runA, outcome: "FAILED", attempts: 2 });
    const a2 = await seedDelivery(own.tenantId, { runId: runA, endpointId, outcome: "SUCCEEDED", attempts: 1 });
    const b1 = await seedDelivery(own.tenantId, { runId: runB, endpointId });

    const byRun = await client.listWebhookDeliveries({ runId: runA });
    expect(byRun.deliveries.map((delivery) => delivery.id)).toEqual([a2, a1]);
    const failed = byRun.deliveries[1]!;
    expect(failed).toMatchObject({ webhookId: `msg_${a1.replace(/-/g, "")}`, endpointId: "", outcome: DeliveryOutcome.FAILED });
    expect(failed.attempts.map((attempt) => [attempt.httpStatus, attempt.responseBody, Number(attempt.duration!.nanos)])).toEqual([
      [503, "busy", 42_000_000],
      [503, "busy", 42_000_000],
    ]);
    expect(failed.nextAttemptTime).toBeUndefined();

    const byEndpoint = await client.listWebhookDeliveries({ endpointId });
    expect(byEndpoint.deliveries.map((delivery) => delivery.id)).toEqual([b1, a2]);
    const pending = await client.listWebhookDeliveries({ outcome: DeliveryOutcome.PENDING });
    expect(pending.deliveries.map((delivery) => delivery.id)).toEqual([b1]);
    expect(pending.deliveries[0]!.nextAttemptTime).toBeDefined();
  });

  it("pages newest first with tokens bound to the filter, and shows no other tenant's deliveries", async () => {
    const own = await createTenant(baseUrl);
    const client = webhooks("connect-json", own.key);
    const runId = newId();
    const ids: string[] = [];
    for (let index = 0; index < 5; index++) ids.push(await seedDelivery(own.tenantId, { runId, outcome: "SUCCEEDED" }));
    await seedDelivery(tenant.tenantId, { runId, outcome: "SUCCEEDED" });

    const seen: string[] = [];
    let pageToken = "";
    do {
      const page = await client.listWebhookDeliveries({ runId, pageSize: 2, pageToken });
      expect(page.deliveries.length).toBeLessThanOrEqual(2);
      seen.push(...page.deliveries.map((delivery) => delivery.id));
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    expect(seen).toEqual([...ids].reverse());

    const first = await client.listWebhookDeliveries({ runId, pageSize: 2 });
    await expect(client.listWebhookDeliveries({ runId: newId(), pageSize: 2, pageToken: first.nextPageToken })).rejects.toMatchObject({
      code: Code.InvalidArgument,
    });
    await expect(client.listWebhookDeliveries({ runId: "not-a-run" })).rejects.toMatchObject({ code: Code.InvalidArgument });
  });
});

describe("DeleteWebhook", () => {
  it("ends the endpoint's pending deliveries as FAILED and keeps them in the log", async () => {
    const own = await createTenant(baseUrl);
    const client = webhooks("connect-json", own.key);
    const endpointId = (await client.createWebhook({ webhook: { url: "https://example.com/leaving" } })).webhook!.id;
    const pending = await seedDelivery(own.tenantId, { runId: newId(), endpointId });
    await client.deleteWebhook({ id: endpointId });
    const listed = await client.listWebhookDeliveries({ endpointId });
    expect(listed.deliveries.map((delivery) => [delivery.id, delivery.outcome])).toEqual([[pending, DeliveryOutcome.FAILED]]);
  });
});

describe("RedeliverWebhook", () => {
  it("puts a failed delivery back to PENDING, due now, keeping its attempts", async () => {
    const id = await seedDelivery(tenant.tenantId, { runId: newId(), outcome: "FAILED", attempts: 1 });
    const before = Date.now();
    const { delivery } = await webhooks().redeliverWebhook({ id });
    expect(delivery).toMatchObject({ id, outcome: DeliveryOutcome.PENDING });
    expect(delivery!.attempts).toHaveLength(1);
    expect(Number(delivery!.nextAttemptTime!.seconds) * 1000).toBeLessThanOrEqual(before + 5_000);
  });

  it("answers NOT_FOUND for an unknown id and for another tenant's delivery", async () => {
    await expect(webhooks().redeliverWebhook({ id: newId() })).rejects.toMatchObject({ code: Code.NotFound });
    const stranger = await createTenant(baseUrl);
    const id = await seedDelivery(stranger.tenantId, { runId: newId(), outcome: "FAILED" });
    await expect(webhooks().redeliverWebhook({ id })).rejects.toMatchObject({ code: Code.NotFound });
  });
});
