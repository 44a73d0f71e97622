/**
 * /metrics as Prometheus' own checker judges it: `promtool check metrics` on a scrape of
 * a live server that has served every protocol (unary calls, refusals, a server stream,
 * a call the client abandoned, a webhook delivered) prints nothing and exits 0. Skipped
 * on a developer machine without promtool; under CI=true a missing promtool fails the
 * test, since .ci/run installs it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WorkflowsService } from "../../gen/runline/v1/workflows_service_pb.js";
import { clientFor, createCounterWorkflow, createTenant, json, protocols, type TenantFixture } from "../support/clients.js";
import { eventually, sleep } from "../support/expectations.js";
import { findPromtool, labelValues, promtoolCheck, sample, scrape } from "../support/metrics-scrape.js";
import { startTestServer } from "../support/test-server.js";
import { startWebhookReceiver, type WebhookReceiver } from "../support/webhook-receiver.js";
import { millis, workerClient } from "../workers/worker-fixtures.js";

const promtool = findPromtool();
const inCi = process.env.CI === "true";
const missingRun = "00000000-0000-7000-8000-000000000000";

let baseUrl: string;
let tenant: TenantFixture;
let receiver: WebhookReceiver;

beforeAll(async () => {
  const server = await startTestServer(undefined, { RUNLINE_WEBHOOK_ALLOW: "127.0.0.1/32" });
  baseUrl = server.url;
  receiver = await startWebhookReceiver();
  tenant = await createTenant(baseUrl);
  await createCounterWorkflow(tenant);
  await serveEveryKindOfCall();
});

afterAll(() => receiver.close());

/** Unary calls and refusals over each protocol and REST, a stream to its end, an abandoned call, a webhook. */
async function serveEveryKindOfCall(): Promise<void> {
  for (const protocol of protocols) {
    await clientFor(WorkflowsService, protocol, baseUrl, tenant.key).listWorkflows({});
    await tenant
      .runs(protocol)
      .getRun({ runId: missingRun })
      .catch(() => undefined);
  }
  const headers = { authorization: `Bearer ${tenant.key}` };
  expect((await fetch(`${baseUrl}/api/v1/runs?pageSize=1`, { headers })).status).toBe(200);
  expect((await fetch(`${baseUrl}/api/v1/runs/${missingRun}`, { headers })).status).toBe(404);

  const { run } = await tenant.runs().createRun({ workflow: "counter", input: json({ n: 1 }), webhook: { url: receiver.url("/hook") } });
  const leaving = new AbortController();
  const waiting = tenant
    .runs("grpc")
    .runAndWait({ run: { workflow: "counter", input: json({ n: 2 }) } }, { signal: leaving.signal })
    .catch(() => undefined);
  await sleep(200);
  leaving.abort();
  await waiting;

  const worker = workerClient(tenant, baseUrl);
  const { leases } = await worker.claimRuns({ workerId: "promtool", workflows: ["counter"], maxRuns: 2, waitTimeout: millis(2000) });
  for (const lease of leases) await worker.completeRun({ runId: lease.run!.id, leaseId: lease.leaseId, output: json("done") });
  for await (const _message of tenant.runs("grpc-web").streamRunEvents({ runId: run!.id }));
  await eventually(10_000, "the webhook delivery counted", async () =>
    (sample(await scrape(baseUrl), "runline_webhook_deliveries_total", { outcome: "succeeded" }) ?? 0) >= 1 ? true : undefined,
  );
}

describe("promtool check metrics", () => {
  it.skipIf(promtool === undefined && !inCi)("accepts a live scrape: no output, exit 0", async () => {
    expect(promtool, "promtool is missing: .ci/run installs Debian's prometheus package").toBeDefined();
    const text = await scrape(baseUrl);
    const codes = labelValues(text, "runline_rpc_requests_total", "code");
    // The traffic above reached these codes; the check is meaningless on an idle server.
    expect([...codes].sort()).toEqual(expect.arrayContaining(["canceled", "not_found", "ok"]));
    const checked = promtoolCheck(promtool!, text);
    console.info(
      `promtool check metrics on ${text.split("\n").length} lines: exit ${checked.status}, output ${JSON.stringify(checked.output)}`,
    );
    expect(checked).toEqual({ status: 0, output: "" });
  });
});
