/**
 * A run's own webhook (issue 13, API.md "Webhooks"): which status changes it gets,
 * signed so that standardwebhooks' own verify accepts them, with the Run as REST shows
 * it; retries after a 500 and after a dropped connection keep the webhook-id; other 4xx
 * end the delivery. Real receiver on loopback; retries every ~100 ms here.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebhooksService } from "../../gen/runline/v1/webhooks_service_pb.js";
import { clientFor, createTenant, json, type TenantFixture } from "../support/clients.js";
import { startTestServer } from "../support/test-server.js";
import { startWebhookReceiver, type WebhookReceiver } from "../support/webhook-receiver.js";
import { createWorkflowWith, millis, workerClient } from "../workers/worker-fixtures.js";
import { eventually } from "../support/expectations.js";

const workflow = "hooked";
let baseUrl: string;
let db: pg.Client;
let tenant: TenantFixture;
let receiver: WebhookReceiver;

beforeAll(async () => {
  const server = await startTestServer(undefined, {
    RUNLINE_WEBHOOK_ALLOW: "127.0.0.1/32",
    RUNLINE_WEBHOOK_RETRY_SCHEDULE: "100ms,200ms",
  });
  baseUrl = server.url;
  db = new pg.Client({ connectionString: server.databaseUrl });
  await db.connect();
  tenant = await createTenant(baseUrl);
  await createWorkflowWith(tenant, workflow);
  const { secret } = await clientFor(WebhooksService, "connect-json", baseUrl, tenant.key).getRunWebhookSecret({});
  receiver = await startWebhookReceiver({ secrets: [secret] });
});

afterAll(async () => {
  await receiver.close();
  await db.end();
});

/** Creates a run with a webhook to `path`, claims it and completes it; returns its id. */
async function finishedRun(path: string, intermediateStatus: boolean): Promise<string> {
  const { run } = await tenant
    .runs()
    .createRun({ workflow, input: json({ n: 1 }), webhook: { url: receiver.url(path), intermediateStatus } });
  const worker = workerClient(tenant, baseUrl);
  const { leases } = await worker.claimRuns({ workerId: "w", workflows: [workflow], maxRuns: 1, waitTimeout: millis(2000) });
  await worker.completeRun({ runId: leases[0]!.run!.id, leaseId: leases[0]!.leaseId, output: json("done") });
  return run!.id;
}

const arrivals = (path: string) => receiver.received().filter((request) => request.path === path);

/** The delivery rows of a run: outcome and attempts, oldest sequence first. */
async function deliveriesOf(runId: string): Promise<{ type: string; outcome: string; attempt_count: number }[]> {
  const { rows } = await db.query(`select type, outcome, attempt_count from webhook_deliveries where run_id = $1 order by sequence`, [
    runId,
  ]);
  return rows;
}

/** Waits until the run's deliveries are `expected` (fails with what they were). */
async function deliveriesBecome(runId: string, expected: { type: string; outcome: string; attempt_count: number }[]): Promise<void> {
  const wanted = JSON.stringify(expected);
  await eventually(10_000, `deliveries ${wanted}`, async () =>
    JSON.stringify(await deliveriesOf(runId)) === wanted ? true : undefined,
  ).catch(async (error: unknown) => {
    expect(await deliveriesOf(runId), String(error)).toEqual(expected);
  });
}

describe("a run's own webhook", () => {
  it("without intermediateStatus gets only the terminal status, signed, with the run as REST shows it", async () => {
    const runId = await finishedRun("/terminal", false);
    const [request] = await receiver.waitFor("run.succeeded", () => arrivals("/terminal").length >= 1);
    expect(request!.verifiedBy).toHaveLength(1);
    expect(request!.headers["webhook-id"]).toMatch(/^msg_[0-9a-f]{32}$/);
    expect(request!.headers["content-type"]).toBe("application/json");
    expect(request!.headers["user-agent"]).toBe("Runline-Webhooks");
    const body = JSON.parse(request!.body) as { type: string; timestamp: string; data: { run: Record<string, unknown> } };
    expect(body.type).toBe("run.succeeded");
    expect(Number.isNaN(Date.parse(body.timestamp))).toBe(false);
    expect(body.data.run).toMatchObject({ id: runId, status: "RUN_STATUS_SUCCEEDED", workflowSlug: workflow, lastSequence: "3" });
    await deliveriesBecome(runId, [{ type: "run.succeeded", outcome: "SUCCEEDED", attempt_count: 1 }]);
  });

  it("with intermediateStatus gets every status change, in order", async () => {
    await finishedRun("/every", true);
    await receiver.waitFor("three statuses", () => arrivals("/every").length >= 3);
    expect(arrivals("/every").map((request) => request.type)).toEqual(["run.queued", "run.running", "run.succeeded"]);
    expect(arrivals("/every").every((request) => request.verifiedBy.length === 1)).toBe(true);
  });

  it("is retried after a 500 and after a dropped connection, with the same webhook-id, until accepted", async () => {
    let count = 0;
    receiver.answerWith((request) => {
      if (request.path !== "/flaky") return undefined;
      count += 1;
      return count === 1 ? { status: 500 } : count === 2 ? { destroy: true } : undefined;
    });
    const runId = await finishedRun("/flaky", false);
    await receiver.waitFor("three attempts", () => arrivals("/flaky").length >= 3);
    expect(new Set(arrivals("/flaky").map((request) => request.webhookId)).size).toBe(1);
    await deliveriesBecome(runId, [{ type: "run.succeeded", outcome: "SUCCEEDED", attempt_count: 3 }]);
    const { rows } = await db.query(
      `select attempt, http_status, error from webhook_attempts a
      join webhook_deliveries d on d.id = a.delivery_id where d.run_id = $1 order by attempt`,
      [runId],
    );
    expect(rows.map((row: { http_status: number | null }) => row.http_status)).toEqual([500, null, 204]);
    expect((rows[1] as { error: string | null }).error).toBeTruthy();
  });

  it("ends FAILED after the last retry, and at once on a 400", async () => {
    receiver.answerWith((request) => (request.path === "/down" ? { status: 503 } : request.path === "/bad" ? { status: 400 } : undefined));
    const down = await finishedRun("/down", false);
    const bad = await finishedRun("/bad", false);
    await deliveriesBecome(down, [{ type: "run.succeeded", outcome: "FAILED", attempt_count: 3 }]);
    await deliveriesBecome(bad, [{ type: "run.succeeded", outcome: "FAILED", attempt_count: 1 }]);
    expect(arrivals("/bad")).toHaveLength(1);
  });

  it("DeleteRun deletes the run's deliveries and their attempts", async () => {
    const runId = await finishedRun("/deleted", false);
    await deliveriesBecome(runId, [{ type: "run.succeeded", outcome: "SUCCEEDED", attempt_count: 1 }]);
    await tenant.runs().deleteRun({ runId });
    expect(await deliveriesOf(runId)).toEqual([]);
    const { rows } = await db.query(`select count(*)::int as n from webhook_attempts a
      where not exists (select 1 from webhook_deliveries d where d.tenant_id = a.tenant_id and d.id = a.delivery_id)`);
    expect(rows[0]).toEqual({ n: 0 });
  });
});
