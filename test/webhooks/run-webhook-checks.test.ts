/**
 * A run's own webhook URL is held to the same rules as a tenant endpoint's when the run
 * is created (API.md "Webhooks": bad URLs are INVALID_ARGUMENT at create time, naming
 * the field), and the delivery metrics count what the dispatcher did.
 */
import { Code } from "@connectrpc/connect";
import { BadRequestSchema } from "../../gen/google/rpc/error_details_pb.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebhooksService } from "../../gen/runline/v1/webhooks_service_pb.js";
import { clientFor, createTenant, json, type TenantFixture } from "../support/clients.js";
import { eventually, rejection } from "../support/expectations.js";
import { startTestServer } from "../support/test-server.js";
import { startWebhookReceiver, type WebhookReceiver } from "../support/webhook-receiver.js";
import { createWorkflowWith, millis, workerClient } from "../workers/worker-fixtures.js";

const workflow = "checked";
/** Runs of the metrics test only, so that no run of the checks above is claimed there. */
const metered = "metered";
let baseUrl: string;
let tenant: TenantFixture;
let receiver: WebhookReceiver;

beforeAll(async () => {
  // Only 127.0.0.1 is allowed: every other private or loopback target stays refused.
  const server = await startTestServer(undefined, { RUNLINE_WEBHOOK_ALLOW: "127.0.0.1/32" });
  baseUrl = server.url;
  tenant = await createTenant(baseUrl);
  await createWorkflowWith(tenant, workflow);
  await createWorkflowWith(tenant, metered);
  const { secret } = await clientFor(WebhooksService, "connect-json", baseUrl, tenant.key).getRunWebhookSecret({});
  receiver = await startWebhookReceiver({ secrets: [secret] });
});

afterAll(async () => {
  await receiver.close();
});

describe("a run's webhook URL at create time", () => {
  const refused = [
    ["plain http to a public host", "http://example.com/hook"],
    ["a private address", "https://10.1.2.3/hook"],
    ["loopback outside the allow-list", "https://127.0.0.2/hook"],
    ["the cloud metadata address", "http://169.254.169.254/latest/meta-data"],
    ["credentials in the URL", "https://user:secret@example.com/hook"],
    ["not a URL", "hooks.example.com/no-scheme"],
  ] as const;

  it.each(refused)("refuses %s as INVALID_ARGUMENT naming webhook.url", async (_what, url) => {
    const error = await rejection(
      tenant.runs().createRun({ workflow, input: json({ n: 1 }), webhook: { url, intermediateStatus: false } }),
    );
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.findDetails(BadRequestSchema)[0]!.fieldViolations.map((violation) => violation.field)).toEqual(["webhook.url"]);
  });

  it("names the batch entry whose webhook is refused, and creates none of the batch", async () => {
    const before = (await tenant.runs().listRuns({ pageSize: 100 })).runs.length;
    const error = await rejection(
      tenant.runs().batchCreateRuns({
        requests: [
          { workflow, input: json({ n: 1 }), webhook: { url: "https://example.com/hook", intermediateStatus: false } },
          { workflow, input: json({ n: 1 }), webhook: { url: "https://192.168.0.1/hook", intermediateStatus: false } },
        ],
      }),
    );
    expect(error.findDetails(BadRequestSchema)[0]!.fieldViolations[0]!.field).toBe("requests[1].webhook.url");
    expect((await tenant.runs().listRuns({ pageSize: 100 })).runs.length).toBe(before);
  });

  it("accepts a public https URL and an allowed loopback receiver", async () => {
    const pub = await tenant
      .runs()
      .createRun({ workflow, input: json({ n: 1 }), webhook: { url: "https://hooks.example.com/runline", intermediateStatus: false } });
    expect(pub.run!.webhook!.url).toBe("https://hooks.example.com/runline");
    const local = await tenant
      .runs()
      .createRun({ workflow, input: json({ n: 1 }), webhook: { url: receiver.url("/ok"), intermediateStatus: false } });
    expect(local.run!.webhook!.url).toBe(receiver.url("/ok"));
  });
});

describe("webhook metrics", () => {
  /** The value of the series `name{labels}` in a /metrics scrape (0 when absent). */
  async function series(name: string, labels: string): Promise<number> {
    const text = await (await fetch(`${baseUrl}/metrics`)).text();
    const line = text
      .split("\n")
      .find((candidate) => candidate.startsWith(`${name}{${labels}}`) || (labels === "" && candidate.startsWith(`${name} `)));
    return line === undefined ? 0 : Number(line.split(" ").at(-1));
  }

  it("count a delivery that succeeded, time its attempt, and show no pending age once it is sent", async () => {
    const succeededBefore = await series("runline_webhook_deliveries_total", 'outcome="succeeded"');
    const attemptsBefore = await series("runline_webhook_attempt_duration_seconds_count", "");
    const { run } = await tenant
      .runs()
      .createRun({ workflow: metered, input: json({ n: 1 }), webhook: { url: receiver.url("/metrics-run"), intermediateStatus: false } });
    const worker = workerClient(tenant, baseUrl);
    const { leases } = await worker.claimRuns({ workerId: "w", workflows: [metered], maxRuns: 1, waitTimeout: millis(2000) });
    expect(leases[0]!.run!.id).toBe(run!.id);
    await worker.completeRun({ runId: run!.id, leaseId: leases[0]!.leaseId, output: json("done") });
    await eventually(10_000, "the succeeded delivery counted", async () =>
      (await series("runline_webhook_deliveries_total", 'outcome="succeeded"')) > succeededBefore ? true : undefined,
    );
    expect(await series("runline_webhook_attempt_duration_seconds_count", "")).toBeGreaterThan(attemptsBefore);
    expect(await series("runline_webhook_oldest_pending_seconds", "")).toBe(0);
  });

  it("show how long the oldest due delivery has waited while its receiver is slow to answer", async () => {
    receiver.answerWith((request) => (request.path === "/metrics-slow" ? { status: 200, delayMs: 3_000 } : undefined));
    const { run } = await tenant
      .runs()
      .createRun({ workflow: metered, input: json({ n: 2 }), webhook: { url: receiver.url("/metrics-slow"), intermediateStatus: false } });
    const worker = workerClient(tenant, baseUrl);
    const { leases } = await worker.claimRuns({ workerId: "w", workflows: [metered], maxRuns: 1, waitTimeout: millis(2000) });
    await worker.completeRun({ runId: run!.id, leaseId: leases[0]!.leaseId, output: json("done") });
    // Due since the change, and PENDING until its answer is recorded: at least a second old a second later.
    await eventually(2_800, "a pending age of a second or more", async () =>
      (await series("runline_webhook_oldest_pending_seconds", "")) >= 1 ? true : undefined,
    );
    await receiver.waitFor("the slow delivery", (requests) => requests.some((request) => request.path === "/metrics-slow"));
    await eventually(10_000, "no pending age once it is recorded", async () =>
      (await series("runline_webhook_oldest_pending_seconds", "")) === 0 ? true : undefined,
    );
  });
});
