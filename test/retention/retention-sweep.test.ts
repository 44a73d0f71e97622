/**
 * Retention as time goes by: the sweeper's clock is moved forward, and exactly the
 * finished runs past their own tenant's period vanish, with their idempotency keys,
 * webhook deliveries and attempts; their events can no longer be read. Live runs stay
 * however old, a tenant with retention 0 keeps everything, and every other row is as it
 * was.
 */
import { Code } from "@connectrpc/connect";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TenantFixture } from "../support/clients.js";
import { codeOf, eventually } from "../support/expectations.js";
import { retentionDriver } from "../support/retention-clock.js";
import { startTestServer } from "../support/test-server.js";
import { startWebhookReceiver, type WebhookReceiver } from "../support/webhook-receiver.js";
import { databaseClient, makeRuns, retentionTenant, rowsOf, setRetentionDays } from "./retention-fixtures.js";

const driver = retentionDriver();
let baseUrl: string;
let client: pg.Client;
let receiver: WebhookReceiver;

/** One tenant's runs: finished ones (cancelled, with a webhook) and live ones (QUEUED). */
interface Population {
  readonly tenant: TenantFixture;
  readonly finished: string[];
  readonly live: string[];
}
let month: Population; // the default, 30 days
let twoMonths: Population; // 60 days
let forever: Population; // 0

/** Every row that belongs to these runs, table by table. */
async function snapshot(ids: readonly string[]): Promise<Record<string, unknown[]>> {
  return {
    runs: await rowsOf(client, "runs", "id", ids),
    run_events: await rowsOf(client, "run_events", "run_id", ids),
    idempotency_keys: await rowsOf(client, "idempotency_keys", "run_id", ids),
    webhook_deliveries: await rowsOf(client, "webhook_deliveries", "run_id", ids),
    webhook_attempts: await rowsOf(
      client,
      "webhook_attempts",
      "delivery_id",
      (await client.query<{ id: string }>(`select id from webhook_deliveries where run_id = any($1::uuid[])`, [ids])).rows.map((r) => r.id),
    ),
  };
}

async function populate(tenant: TenantFixture): Promise<Population> {
  const finished = await makeRuns(tenant, 3, { finished: true, webhookUrl: receiver.url("/hook") });
  const live = await makeRuns(tenant, 2, { finished: false, events: 4 });
  return { tenant, finished, live };
}

beforeAll(async () => {
  receiver = await startWebhookReceiver();
  const server = await startTestServer(
    undefined,
    { RUNLINE_RETENTION_INTERVAL_MS: "100", RUNLINE_WEBHOOK_ALLOW: "127.0.0.1/32" },
    driver.serverOptions(),
  );
  baseUrl = server.url;
  client = await databaseClient(server.databaseUrl);
  month = await populate(await retentionTenant(baseUrl));
  twoMonths = await populate(await retentionTenant(baseUrl, 60));
  forever = await populate(await retentionTenant(baseUrl, 0));
  // Every finished run's delivery has been attempted, so attempts exist to be deleted.
  await receiver.waitFor("9 deliveries", (received) => received.length >= 9, 50_000);
  await eventually(30_000, "9 attempts recorded", async () =>
    ((await client.query(`select 1 from webhook_attempts`)).rowCount ?? 0) >= 9 ? true : undefined,
  );
});

afterAll(() => receiver.close());

/** Whether the API still finds each run. */
async function found(tenant: TenantFixture, ids: readonly string[]): Promise<boolean[]> {
  return Promise.all(ids.map(async (runId) => (await codeOf(tenant.runs().getRun({ runId }))) === undefined));
}

describe("the retention sweeper, with its clock moved forward", () => {
  it("deletes nothing while every finished run is within its tenant's retention", async () => {
    const all = [month, twoMonths, forever].flatMap((population) => [...population.finished, ...population.live]);
    const before = await snapshot(all);
    driver.setDaysAhead(29);
    const pass = await driver.nextPass();
    expect(pass.runsDeleted).toBe(0);
    expect(await snapshot(all)).toEqual(before);
  });

  it("31 days on, deletes the 30-day tenant's finished runs with their keys, deliveries and attempts, and nothing else", async () => {
    const kept = [...month.live, ...twoMonths.finished, ...twoMonths.live, ...forever.finished, ...forever.live];
    const before = await snapshot(kept);
    driver.setDaysAhead(31);
    const pass = await driver.nextPass();
    expect(pass.runsDeleted).toBe(3);
    expect(await found(month.tenant, month.finished)).toEqual([false, false, false]);
    for (const runId of month.finished) expect(await codeOf(month.tenant.runs().listRunEvents({ runId }))).toBe(Code.NotFound);
    const { run_events: orphans, ...gone } = await snapshot(month.finished);
    expect(gone).toEqual({ runs: [], idempotency_keys: [], webhook_deliveries: [], webhook_attempts: [] });
    // Their events cannot be read any more (above); their rows go with their week's leaf
    // (event-partitions.test.ts), never deleted one by one: two status events and three
    // others per run are still stored, and none was moved to run_events_kept.
    expect(orphans).toHaveLength(3 * 5);
    expect((await client.query(`select 1 from run_events_kept where run_id = any($1::uuid[])`, [month.finished])).rowCount).toBe(0);
    expect(await snapshot(kept)).toEqual(before);
    expect(await found(month.tenant, month.live)).toEqual([true, true]);
  });

  it("61 days on, deletes the 60-day tenant's finished runs; live runs and the tenant that keeps runs forever stay", async () => {
    const kept = [...month.live, ...twoMonths.live, ...forever.finished, ...forever.live];
    const before = await snapshot(kept);
    driver.setDaysAhead(61);
    const pass = await driver.nextPass();
    expect(pass.runsDeleted).toBe(3);
    expect(await found(twoMonths.tenant, twoMonths.finished)).toEqual([false, false, false]);
    expect((await snapshot(twoMonths.finished)).runs).toEqual([]);
    expect(await snapshot(kept)).toEqual(before);
    const { events } = await forever.tenant.runs().listRunEvents({ runId: forever.finished[0]! });
    expect(events.map((event) => event.type)).toEqual(["status", "progress", "progress", "progress", "status"]);
  });

  it("a retention set later applies to runs that finished before it", async () => {
    const before = await snapshot(forever.live);
    await setRetentionDays(baseUrl, forever.tenant.tenantId, 1);
    driver.setDaysAhead(62);
    const pass = await driver.nextPass();
    expect(pass.runsDeleted).toBe(3);
    expect(await found(forever.tenant, forever.finished)).toEqual([false, false, false]);
    expect(await snapshot(forever.live)).toEqual(before);
  });
});
