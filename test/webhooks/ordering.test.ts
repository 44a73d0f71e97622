/**
 * Order of deliveries (issue 13, API.md "Guarantees"): for one run and one target,
 * deliveries go out in sequence order, and a later status never arrives before an
 * earlier one, also when the earlier one needs retries. The run is finished at once,
 * so its later deliveries are due while the earlier one is still being retried: only
 * the dispatcher's ordering keeps them back. Retries every ~100 ms here.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebhooksService } from "../../gen/runline/v1/webhooks_service_pb.js";
import { clientFor, createTenant, json, type TenantFixture } from "../support/clients.js";
import { startTestServer } from "../support/test-server.js";
import { startWebhookReceiver, type ReceivedWebhook, type WebhookReceiver } from "../support/webhook-receiver.js";
import { createWorkflowWith, millis, workerClient } from "../workers/worker-fixtures.js";

const workflow = "ordered";
let baseUrl: string;
let tenant: TenantFixture;
let receiver: WebhookReceiver;

beforeAll(async () => {
  const server = await startTestServer(undefined, {
    RUNLINE_WEBHOOK_ALLOW: "127.0.0.1/32",
    RUNLINE_WEBHOOK_RETRY_SCHEDULE: Array.from({ length: 10 }, () => "100ms").join(","),
  });
  baseUrl = server.url;
  tenant = await createTenant(baseUrl);
  await createWorkflowWith(tenant, workflow);
  const { secret } = await clientFor(WebhooksService, "connect-json", baseUrl, tenant.key).getRunWebhookSecret({});
  receiver = await startWebhookReceiver({ secrets: [secret] });
});

afterAll(() => receiver.close());

/** Creates `count` runs with an every-status webhook to `path`, then claims and completes them all at once. */
async function finishedRuns(path: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let n = 0; n < count; n++) {
    const { run } = await tenant.runs().createRun({
      workflow,
      input: json({ n }),
      webhook: { url: receiver.url(path), intermediateStatus: true },
    });
    ids.push(run!.id);
  }
  const worker = workerClient(tenant, baseUrl);
  const leases = [];
  while (leases.length < count) {
    leases.push(
      ...(await worker.claimRuns({ workerId: "ordering", workflows: [workflow], maxRuns: count, waitTimeout: millis(2000) })).leases,
    );
  }
  await Promise.all(leases.map((lease) => worker.completeRun({ runId: lease.run!.id, leaseId: lease.leaseId, output: json(null) })));
  return ids;
}

/** The requests of one run to `path`, in arrival order. */
function arrivalsOf(path: string, runId: string): ReceivedWebhook[] {
  return receiver.received().filter((request) => request.path === path && request.runId === runId);
}

/** The run's lastSequence in a delivery's body (the status event's sequence). */
function sequenceOf(request: ReceivedWebhook): number {
  return Number((JSON.parse(request.body) as { data: { run: { lastSequence: string } } }).data.run.lastSequence);
}

const lifecycle = ["run.queued", "run.running", "run.succeeded"];

describe("per run and target, in sequence order", () => {
  it("holds run.running back until run.queued, answered 500 twice, has been accepted", async () => {
    const path = "/three-tries";
    const tries = new Map<string, number>();
    receiver.answerWith((request) => {
      if (request.path !== path) return undefined;
      const attempt = (tries.get(request.webhookId) ?? 0) + 1;
      tries.set(request.webhookId, attempt);
      return request.type === "run.queued" && attempt <= 2 ? { status: 500 } : undefined;
    });
    const [runId] = await finishedRuns(path, 1);
    await receiver.waitFor("run.succeeded", () => arrivalsOf(path, runId!).some((request) => request.type === "run.succeeded"));

    const arrivals = arrivalsOf(path, runId!);
    expect(arrivals.map((request) => request.type)).toEqual(["run.queued", "run.queued", "run.queued", ...lifecycle.slice(1)]);
    // Every retry is the same message: one webhook-id, one body.
    expect(new Set(arrivals.slice(0, 3).map((request) => request.webhookId)).size).toBe(1);
    expect(new Set(arrivals.slice(0, 3).map((request) => request.body)).size).toBe(1);
    expect(new Set(arrivals.map((request) => request.webhookId)).size).toBe(3);
    const sequences = arrivals.slice(2).map(sequenceOf);
    expect(sequences).toEqual([...sequences].sort((a, b) => a - b));
    for (const request of arrivals) expect(request.verifiedBy).toHaveLength(1);
  });

  it("keeps each of several runs in order when the first attempt of every delivery loses its connection", async () => {
    const path = "/dropped";
    const seen = new Set<string>();
    receiver.answerWith((request) => {
      if (request.path !== path || seen.has(request.webhookId)) return undefined;
      seen.add(request.webhookId);
      return { destroy: true };
    });
    const runIds = await finishedRuns(path, 5);
    await receiver.waitFor("every run's second run.succeeded", () =>
      runIds.every((runId) => arrivalsOf(path, runId).filter((request) => request.type === "run.succeeded").length === 2),
    );

    for (const runId of runIds) {
      const arrivals = arrivalsOf(path, runId);
      // Dropped, then accepted, for each status in turn: none overtook the one before.
      expect(arrivals.map((request) => request.type)).toEqual(lifecycle.flatMap((type) => [type, type]));
      expect(arrivals.map(sequenceOf)).toEqual([...arrivals.map(sequenceOf)].sort((a, b) => a - b));
      for (const pair of [0, 2, 4]) expect(arrivals[pair]!.webhookId).toBe(arrivals[pair + 1]!.webhookId);
    }
  });
});
