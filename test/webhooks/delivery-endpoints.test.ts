/**
 * Tenant endpoints (issue 13, API.md "Webhooks"): each status change goes to every
 * enabled endpoint whose filters match (event types, workflows, labels; empty = all),
 * signed with the endpoint's own secret; 410 Gone disables the endpoint, and so do 24 h
 * of failures without a success. Endpoints are made through WebhooksService; the 24 h
 * are moved back in the database rather than waited for.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebhooksService } from "../../gen/runline/v1/webhooks_service_pb.js";
import { clientFor, createTenant, json, type TenantFixture } from "../support/clients.js";
import { eventually } from "../support/expectations.js";
import { startTestServer } from "../support/test-server.js";
import { startWebhookReceiver, type WebhookReceiver } from "../support/webhook-receiver.js";
import { createWorkflowWith, millis, workerClient } from "../workers/worker-fixtures.js";

let baseUrl: string;
let db: pg.Client;
let tenant: TenantFixture;
let receiver: WebhookReceiver;
let webhooks: ReturnType<typeof clientFor<typeof WebhooksService>>;

beforeAll(async () => {
  const server = await startTestServer(undefined, { RUNLINE_WEBHOOK_ALLOW: "127.0.0.1/32", RUNLINE_WEBHOOK_RETRY_SCHEDULE: "100ms,100ms" });
  baseUrl = server.url;
  db = new pg.Client({ connectionString: server.databaseUrl });
  await db.connect();
  tenant = await createTenant(baseUrl);
  await createWorkflowWith(tenant, "alpha");
  await createWorkflowWith(tenant, "beta");
  webhooks = clientFor(WebhooksService, "connect-json", baseUrl, tenant.key);
  receiver = await startWebhookReceiver();
});

afterAll(async () => {
  await receiver.close();
  await db.end();
});

/** Creates an endpoint to `path` with `filters`; its secret is added to the receiver's. */
async function endpoint(path: string, filters: { eventTypes?: string[]; workflows?: string[]; labels?: Record<string, string> } = {}) {
  const { webhook, secret } = await webhooks.createWebhook({ webhook: { url: receiver.url(path), ...filters } });
  secrets.push(secret);
  receiver.setSecrets(secrets);
  return webhook!.id;
}
const secrets: string[] = [];

/** Runs one run of `workflow` with `labels` to SUCCEEDED. */
async function finishedRun(workflow: string, labels: Record<string, string> = {}): Promise<string> {
  const { run } = await tenant.runs().createRun({ workflow, input: json({ n: 1 }), labels });
  const worker = workerClient(tenant, baseUrl);
  const { leases } = await worker.claimRuns({ workerId: "w", workflows: [workflow], maxRuns: 1, waitTimeout: millis(2000) });
  await worker.completeRun({ runId: leases[0]!.run!.id, leaseId: leases[0]!.leaseId, output: json("done") });
  return run!.id;
}

const typesAt = (path: string, runId: string) =>
  receiver
    .received()
    .filter((request) => request.path === path && request.runId === runId)
    .map((request) => request.type);

describe("tenant endpoints", () => {
  it("get the changes their filters match, each signed with the endpoint's secret", async () => {
    await endpoint("/all");
    await endpoint("/finished", { eventTypes: ["run.succeeded", "run.failed"] });
    await endpoint("/beta", { workflows: ["beta"] });
    await endpoint("/eu", { labels: { region: "eu" } });
    const alpha = await finishedRun("alpha", { region: "eu", tier: "gold" });
    const beta = await finishedRun("beta", { region: "us" });
    await receiver.waitFor("every wanted delivery", () => typesAt("/all", beta).length === 3 && typesAt("/beta", beta).length === 3);
    await receiver.waitFor("the rest", () => typesAt("/eu", alpha).length === 3 && typesAt("/finished", beta).length === 1);
    expect(typesAt("/all", alpha)).toEqual(["run.queued", "run.running", "run.succeeded"]);
    expect(typesAt("/finished", alpha)).toEqual(["run.succeeded"]);
    expect(typesAt("/beta", alpha)).toEqual([]);
    expect(typesAt("/eu", beta)).toEqual([]);
    expect(receiver.received().every((request) => request.verifiedBy.length === 1)).toBe(true);
  });

  it("is disabled when it answers 410 Gone, saying why", async () => {
    receiver.answerWith((request) => (request.path === "/gone" ? { status: 410 } : undefined));
    const id = await endpoint("/gone", { workflows: ["alpha"], eventTypes: ["run.queued"] });
    await finishedRun("alpha");
    const webhook = await eventually(10_000, "the endpoint disabled", async () => {
      const { webhook } = await webhooks.getWebhook({ id });
      return webhook?.disabled === true ? webhook : undefined;
    });
    expect(webhook.disabledReason).toMatch(/410/);
    const { rows } = await db.query(`select outcome, attempt_count from webhook_deliveries where endpoint_id = $1`, [id]);
    expect(rows).toEqual([{ outcome: "FAILED", attempt_count: 1 }]);
  });

  it("is disabled after failing for 24 hours without a success, and a success resets the count", async () => {
    let failing = true;
    receiver.answerWith((request) => (request.path === "/failing" && failing ? { status: 400 } : undefined));
    const id = await endpoint("/failing", { workflows: ["beta"], eventTypes: ["run.succeeded"] });
    await finishedRun("beta");
    const since = async () => (await db.query(`select failing_since, disabled from webhook_endpoints where id = $1`, [id])).rows[0];
    await eventually(10_000, "failing_since set", async () => ((await since()).failing_since !== null ? true : undefined));
    failing = false;
    await finishedRun("beta");
    await eventually(10_000, "failing_since cleared by a success", async () => ((await since()).failing_since === null ? true : undefined));
    failing = true;
    await finishedRun("beta");
    await eventually(10_000, "failing_since set again", async () => ((await since()).failing_since !== null ? true : undefined));
    expect((await since()).disabled).toBe(false);
    await db.query(`update webhook_endpoints set failing_since = now() - interval '25 hours' where id = $1`, [id]);
    await finishedRun("beta");
    const webhook = await eventually(10_000, "the endpoint disabled", async () => {
      const { webhook } = await webhooks.getWebhook({ id });
      return webhook?.disabled === true ? webhook : undefined;
    });
    expect(webhook.disabledReason).toMatch(/24 hours/);
  });
});
