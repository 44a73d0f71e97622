/**
 * A restricted access token sees NOT_FOUND outside its restriction, worded as for a run
 * that does not exist, on every RPC that names a run, streams included, and lists hold
 * only what it may see, with pages still full and consistent.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { beforeAll, describe, expect, it } from "vitest";
import { Scope } from "../../gen/runline/v1/admin_service_pb.js";
import { RunStatus } from "../../gen/runline/v1/run_pb.js";
import { WebhooksService } from "../../gen/runline/v1/webhooks_service_pb.js";
import { WorkerService } from "../../gen/runline/v1/worker_service_pb.js";
import { WorkflowsService } from "../../gen/runline/v1/workflows_service_pb.js";
import { mintToken, runsWithToken } from "../support/access-tokens.js";
import { clientFor, createCounterWorkflow, createTenant, json, protocols, type TenantFixture } from "../support/clients.js";
import { codeOf, rejection } from "../support/expectations.js";
import { startTestServer } from "../support/test-server.js";

let baseUrl: string;
let tenant: TenantFixture;
/** counter/team=a, counter/team=b, other/team=a. */
let runs: { counterA: string; counterB: string; otherA: string };

beforeAll(async () => {
  baseUrl = (await startTestServer()).url;
  tenant = await createTenant(baseUrl);
  await createCounterWorkflow(tenant, "counter");
  await createCounterWorkflow(tenant, "other");
  const create = async (workflow: string, team: string) =>
    (await tenant.runs().createRun({ workflow, input: json({ n: 1 }), labels: { team } })).run!.id;
  runs = { counterA: await create("counter", "a"), counterB: await create("counter", "b"), otherA: await create("other", "a") };
});

async function streamCode(stream: AsyncIterable<unknown>): Promise<Code | "message"> {
  try {
    for await (const _message of stream) return "message";
    return "message";
  } catch (error) {
    return ConnectError.from(error).code;
  }
}

/** The code of every RPC that names `runId`, as the holder of `token` calls them over `protocol`. */
async function runRpcCodes(token: string, runId: string, protocol: (typeof protocols)[number]) {
  const client = runsWithToken(baseUrl, token, protocol);
  const webhooks = clientFor(WebhooksService, protocol, baseUrl, token);
  return {
    getRun: await codeOf(client.getRun({ runId })),
    getRunDefinition: await codeOf(client.getRunDefinition({ runId })),
    getRunOutput: await codeOf(client.getRunOutput({ runId })),
    listRunEvents: await codeOf(client.listRunEvents({ runId })),
    streamRunEvents: await streamCode(client.streamRunEvents({ runId })),
    ingestRunEvents: await codeOf(client.ingestRunEvents({ runId, events: [{ type: "note" }] })),
    resumeRun: await codeOf(client.resumeRun({ runId, input: json({}) })),
    rerunRun: await codeOf(client.rerunRun({ runId })),
    listWebhookDeliveries: await codeOf(webhooks.listWebhookDeliveries({ runId })),
  };
}

describe.each(protocols)("a token restricted to one run, over %s", (protocol) => {
  it("answers NOT_FOUND on every run RPC for any other run, and serves its own", async () => {
    const { token } = await mintToken(baseUrl, tenant.key, { scopes: [Scope.ADMIN], runIds: [runs.counterA] });
    const outside = await runRpcCodes(token, runs.counterB, protocol);
    expect(
      Object.values(outside).every((code) => code === Code.NotFound),
      JSON.stringify(outside),
    ).toBe(true);
    const inside = await runRpcCodes(token, runs.counterA, protocol);
    expect(inside).toMatchObject({
      getRun: undefined,
      getRunDefinition: undefined,
      streamRunEvents: "message",
      listWebhookDeliveries: undefined,
    });
    // Not interrupted: the run's own rule answers, not the restriction.
    expect(inside.resumeRun).toBe(Code.FailedPrecondition);
    // A rerun is a new run, and a token restricted to named runs creates none.
    expect(inside.rerunRun).toBe(Code.PermissionDenied);
  });
});

describe("NOT_FOUND outside a restriction", () => {
  it("reads exactly as for a run that does not exist", async () => {
    const { token } = await mintToken(baseUrl, tenant.key, { scopes: [Scope.READ], labels: { team: "b" } });
    const client = runsWithToken(baseUrl, token);
    const hidden = await rejection(client.getRun({ runId: runs.counterA }));
    const missing = crypto.randomUUID();
    const unknown = await rejection(client.getRun({ runId: missing }));
    expect(hidden.rawMessage).toBe(unknown.rawMessage.replace(missing, runs.counterA));
    expect(hidden.code).toBe(Code.NotFound);
  });

  it("also covers cancel and delete, which change nothing outside", async () => {
    const { token } = await mintToken(baseUrl, tenant.key, { scopes: [Scope.WRITE, Scope.READ], workflows: ["other"] });
    const client = runsWithToken(baseUrl, token);
    expect(await codeOf(client.cancelRun({ runId: runs.counterA }))).toBe(Code.NotFound);
    expect(await codeOf(client.deleteRun({ runId: runs.counterB }))).toBe(Code.NotFound);
    expect((await tenant.runs().getRun({ runId: runs.counterA })).run!.status).toBe(RunStatus.QUEUED);
    expect((await tenant.runs().getRun({ runId: runs.counterB })).run!.id).toBe(runs.counterB);
  });
});

describe("lists of a restricted token", () => {
  it("hold only allowed runs, in full pages, none repeated or skipped", async () => {
    const page = await mintToken(baseUrl, tenant.key, { scopes: [Scope.WRITE] });
    const writer = runsWithToken(baseUrl, page.token);
    const label = `paging-${Date.now()}`;
    const created: string[] = [];
    for (let index = 0; index < 14; index++) {
      const labels = { batch: label, half: index % 2 === 0 ? "even" : "odd" };
      created.push((await writer.createRun({ workflow: "counter", input: json({ n: index }), labels })).run!.id);
    }
    const even = created.filter((_, index) => index % 2 === 0);
    const { token } = await mintToken(baseUrl, tenant.key, { scopes: [Scope.READ], labels: { half: "even" } });
    const reader = runsWithToken(baseUrl, token);
    for (const list of [
      (pageToken: string) => reader.listRuns({ pageSize: 3, pageToken, labels: { batch: label } }),
      (pageToken: string) => reader.searchRuns({ pageSize: 3, pageToken, filter: { labels: { batch: label } } }),
    ]) {
      const seen: string[] = [];
      const sizes: number[] = [];
      let pageToken = "";
      do {
        const answer = await list(pageToken);
        sizes.push(answer.runs.length);
        seen.push(...answer.runs.map((run) => run.id));
        pageToken = answer.nextPageToken;
      } while (pageToken !== "");
      expect(seen.sort()).toEqual([...even].sort());
      expect(sizes).toEqual([3, 3, 1]);
    }
    // A filter that contradicts the restriction matches nothing.
    expect((await reader.listRuns({ labels: { half: "odd" } })).runs).toEqual([]);
  });

  it("of a run-restricted token hold its runs only", async () => {
    const { token } = await mintToken(baseUrl, tenant.key, { scopes: [Scope.READ], runIds: [runs.otherA, runs.counterB] });
    const listed = (await runsWithToken(baseUrl, token).listRuns({ pageSize: 1000 })).runs.map((run) => run.id);
    expect(listed.sort()).toEqual([runs.otherA, runs.counterB].sort());
  });
});

describe("a token restricted to workflows", () => {
  it("sees only those workflows, and runs only of them", async () => {
    const { token } = await mintToken(baseUrl, tenant.key, { scopes: [Scope.READ, Scope.WRITE], workflows: ["other"] });
    const workflows = clientFor(WorkflowsService, "connect-json", baseUrl, token);
    expect((await workflows.listWorkflows({})).workflows.map((workflow) => workflow.slug)).toEqual(["other"]);
    expect((await workflows.getWorkflow({ workflow: "other" })).workflow!.slug).toBe("other");
    expect(await codeOf(workflows.getWorkflow({ workflow: "counter" }))).toBe(Code.NotFound);
    expect(await codeOf(workflows.listWorkflowVersions({ workflow: "counter" }))).toBe(Code.NotFound);
    expect(await codeOf(workflows.getWorkflowVersion({ workflow: "counter", version: 1 }))).toBe(Code.NotFound);
    expect(await codeOf(workflows.createWorkflow({ slug: "third", definition: json({}) }))).toBe(Code.PermissionDenied);
    const client = runsWithToken(baseUrl, token);
    expect(await codeOf(client.createRun({ workflow: "counter", input: json({ n: 1 }) }))).toBe(Code.NotFound);
    const created = (await client.createRun({ workflow: "other", input: json({ n: 1 }) })).run!;
    expect((await client.getRun({ runId: created.id })).run!.id).toBe(created.id);
    const listed = (await client.listRuns({ pageSize: 1000 })).runs;
    expect(new Set(listed.map((run) => run.workflowId))).toEqual(new Set([created.workflowId]));
  });
});

describe("tenant settings, for a restricted token", () => {
  it("are hidden (NOT_FOUND, empty lists) or refused (PERMISSION_DENIED)", async () => {
    const { token } = await mintToken(baseUrl, tenant.key, { scopes: [Scope.ADMIN], labels: { team: "a" } });
    const webhooks = clientFor(WebhooksService, "connect-json", baseUrl, token);
    expect((await webhooks.listWebhooks({})).webhooks).toEqual([]);
    expect(await codeOf(webhooks.getWebhook({ id: crypto.randomUUID() }))).toBe(Code.NotFound);
    expect(await codeOf(webhooks.getRunWebhookSecret({}))).toBe(Code.PermissionDenied);
    expect(await codeOf(webhooks.createWebhook({ webhook: { url: "https://example.com/hook" } }))).toBe(Code.PermissionDenied);
    const deliveries = await rejection(webhooks.listWebhookDeliveries({}));
    expect(deliveries.code).toBe(Code.InvalidArgument);
    expect(deliveries.rawMessage).toMatch(/^runId: is required with an access token restricted/);
    const worker = clientFor(WorkerService, "connect-json", baseUrl, token);
    expect(await codeOf(worker.claimRuns({ workerId: "w", workflows: ["counter"] }))).toBe(Code.PermissionDenied);
  });
});
