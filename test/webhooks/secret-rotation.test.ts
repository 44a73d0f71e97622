/**
 * Rotating a signing secret (issue 13, API.md "Webhooks"): during the overlap each
 * delivery carries two signatures, the new secret's and the previous one's, and a
 * receiver holding either verifies it with standardwebhooks' own `verify`; once the
 * overlap is over only the new one signs. Both the tenant's run-webhook secret and a
 * tenant endpoint's secret. Two servers share the database: one rotates with the
 * default overlap (24 h), the other with none, so no test waits for time to pass.
 */
import type { Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebhooksService } from "../../gen/runline/v1/webhooks_service_pb.js";
import { clientFor, createTenant, json, type TenantFixture } from "../support/clients.js";
import { startTestServer } from "../support/test-server.js";
import { startWebhookReceiver, type ReceivedWebhook, type WebhookReceiver } from "../support/webhook-receiver.js";
import { createWorkflowWith, millis, workerClient } from "../workers/worker-fixtures.js";

const workflow = "rotated";
let baseUrl: string;
let tenant: TenantFixture;
let receiver: WebhookReceiver;
/** Rotates with the default overlap (24 h). */
let webhooks: Client<typeof WebhooksService>;
/** The same tenant through a server whose rotations keep no overlap. */
let webhooksWithoutOverlap: Client<typeof WebhooksService>;

beforeAll(async () => {
  const settings = { RUNLINE_WEBHOOK_ALLOW: "127.0.0.1/32" };
  const server = await startTestServer(undefined, settings);
  const noOverlap = await startTestServer(server.databaseUrl, { ...settings, RUNLINE_WEBHOOK_SECRET_OVERLAP_MS: "0" });
  baseUrl = server.url;
  tenant = await createTenant(baseUrl);
  await createWorkflowWith(tenant, workflow);
  webhooks = clientFor(WebhooksService, "connect-json", baseUrl, tenant.key);
  webhooksWithoutOverlap = clientFor(WebhooksService, "connect-json", noOverlap.url, tenant.key);
  receiver = await startWebhookReceiver();
});

afterAll(() => receiver.close());

/**
 * Runs one run (with a terminal-only webhook to `path` when `ownWebhook`) to SUCCEEDED
 * and returns the run.succeeded delivery that reaches `path`, checked against `secrets`.
 */
async function deliveryOfNextRun(path: string, secrets: readonly string[], ownWebhook: boolean): Promise<ReceivedWebhook> {
  receiver.setSecrets(secrets);
  const { run } = await tenant.runs().createRun({
    workflow,
    input: json({ n: 1 }),
    ...(ownWebhook ? { webhook: { url: receiver.url(path), intermediateStatus: false } } : {}),
  });
  const worker = workerClient(tenant, baseUrl);
  const { leases } = await worker.claimRuns({ workerId: "rotation", workflows: [workflow], waitTimeout: millis(2000) });
  expect(leases.map((lease) => lease.run!.id)).toEqual([run!.id]);
  await worker.completeRun({ runId: run!.id, leaseId: leases[0]!.leaseId, output: json(null) });
  const isIt = (request: ReceivedWebhook) => request.path === path && request.runId === run!.id && request.type === "run.succeeded";
  const received = await receiver.waitFor(`run.succeeded of ${run!.id} at ${path}`, (all) => all.some(isIt));
  return received.find(isIt)!;
}

const signatureCount = (request: ReceivedWebhook) => request.headers["webhook-signature"]!.split(" ").length;

describe("the tenant's run-webhook secret", () => {
  it("signs with both the new and the previous secret during the overlap; each verifies on its own", async () => {
    const { secret: previous } = await webhooks.getRunWebhookSecret({});
    const before = await deliveryOfNextRun("/run-before", [previous], true);
    expect([signatureCount(before), before.verifiedBy]).toEqual([1, [previous]]);

    const { secret: current } = await webhooks.rotateRunWebhookSecret({});
    expect(current).toMatch(/^whsec_/);
    expect(current).not.toBe(previous);
    expect((await webhooks.getRunWebhookSecret({})).secret).toBe(current);
    const during = await deliveryOfNextRun("/run-during", [previous, current], true);
    expect(signatureCount(during)).toBe(2);
    expect(during.verifiedBy).toEqual([previous, current]);
  });

  it("signs with the new secret only once the overlap is over", async () => {
    const { secret: previous } = await webhooks.getRunWebhookSecret({});
    const { secret: current } = await webhooksWithoutOverlap.rotateRunWebhookSecret({});
    const after = await deliveryOfNextRun("/run-after", [previous, current], true);
    expect([signatureCount(after), after.verifiedBy]).toEqual([1, [current]]);
  });
});

describe("a tenant endpoint's secret", () => {
  it("is shown at create and by RotateWebhookSecret; both sign during the overlap, only the new one after", async () => {
    const path = "/endpoint";
    const created = await webhooks.createWebhook({ webhook: { url: receiver.url(path), eventTypes: ["run.succeeded"] } });
    const id = created.webhook!.id;
    const first = created.secret;
    expect(first).toMatch(/^whsec_/);
    expect((await deliveryOfNextRun(path, [first], false)).verifiedBy).toEqual([first]);

    const { secret: second } = await webhooks.rotateWebhookSecret({ id });
    expect(second).not.toBe(first);
    const during = await deliveryOfNextRun(path, [first, second], false);
    expect([signatureCount(during), during.verifiedBy]).toEqual([2, [first, second]]);

    const { secret: third } = await webhooksWithoutOverlap.rotateWebhookSecret({ id });
    const after = await deliveryOfNextRun(path, [first, second, third], false);
    expect([signatureCount(after), after.verifiedBy]).toEqual([1, [third]]);
    await webhooks.deleteWebhook({ id });
  });
});
