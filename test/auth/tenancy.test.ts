import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { beforeAll, describe, expect, it } from "vitest";
import { toJson } from "@bufbuild/protobuf";
import { AdminService, ListApiKeysResponseSchema, Scope } from "../../gen/runline/v1/admin_service_pb.js";
import { RunsService } from "../../gen/runline/v1/runs_service_pb.js";
import { WorkerService } from "../../gen/runline/v1/worker_service_pb.js";
import { WorkflowsService } from "../../gen/runline/v1/workflows_service_pb.js";
import { clientFor, createCounterWorkflow, createTenant, json, protocols, type TenantFixture } from "../support/clients.js";
import { startTestServer, testRootKey } from "../support/test-server.js";
import { codeOf } from "../support/expectations.js";

let baseUrl: string;
let owner: TenantFixture;
let stranger: TenantFixture;
let runId: string;

beforeAll(async () => {
  const server = await startTestServer();
  baseUrl = server.url;
  owner = await createTenant(baseUrl);
  stranger = await createTenant(baseUrl);
  await createCounterWorkflow(owner);
  runId = (await owner.runs().createRun({ workflow: "counter", input: json({ n: 1 }) })).run!.id;
});

async function firstMessageCode(stream: AsyncIterable<unknown>): Promise<Code | undefined> {
  try {
    for await (const _message of stream) return undefined;
    return undefined;
  } catch (error) {
    return (error as ConnectError).code;
  }
}

describe.each(protocols)("tenant isolation over %s", (protocol) => {
  it("answers NOT_FOUND for another tenant's run on every run RPC, streams included", async () => {
    const runs = stranger.runs(protocol);
    expect(await codeOf(runs.getRun({ runId }))).toBe(Code.NotFound);
    expect(await codeOf(runs.cancelRun({ runId }))).toBe(Code.NotFound);
    expect(await codeOf(runs.deleteRun({ runId }))).toBe(Code.NotFound);
    expect(await codeOf(runs.getRunDefinition({ runId }))).toBe(Code.NotFound);
    expect(await codeOf(runs.getRunOutput({ runId }))).toBe(Code.NotFound);
    expect(await codeOf(runs.listRunEvents({ runId }))).toBe(Code.NotFound);
    expect(await codeOf(runs.ingestRunEvents({ runId, events: [{ type: "x" }] }))).toBe(Code.NotFound);
    expect(await firstMessageCode(runs.streamRunEvents({ runId }))).toBe(Code.NotFound);
    expect((await runs.listRuns({})).runs.map((run) => run.id)).not.toContain(runId);
    expect((await runs.searchRuns({})).runs.map((run) => run.id)).not.toContain(runId);
    // Another tenant's workflow cannot be run or read either.
    expect(await codeOf(runs.createRun({ workflow: "counter", input: json({ n: 1 }) }))).toBe(Code.NotFound);
    expect(await codeOf(stranger.workflows(protocol).getWorkflow({ workflow: "counter" }))).toBe(Code.NotFound);
    expect(await codeOf(stranger.workflows(protocol).listWorkflowVersions({ workflow: "counter" }))).toBe(Code.NotFound);
    expect((await stranger.workflows(protocol).listWorkflows({})).workflows).toHaveLength(0);
    // The owner still sees it.
    expect((await owner.runs(protocol).getRun({ runId })).run!.id).toBe(runId);
  });

  it("refuses a missing or unknown key with UNAUTHENTICATED", async () => {
    expect(await codeOf(clientFor(RunsService, protocol, baseUrl, undefined).getRun({ runId }))).toBe(Code.Unauthenticated);
    expect(await codeOf(clientFor(RunsService, protocol, baseUrl, "rl_not-a-real-key").getRun({ runId }))).toBe(Code.Unauthenticated);
    expect(await firstMessageCode(clientFor(RunsService, protocol, baseUrl, "rl_nope").streamRunEvents({ runId }))).toBe(
      Code.Unauthenticated,
    );
  });
});

describe("scopes", () => {
  it("lets a read key read but not write, with PERMISSION_DENIED", async () => {
    const admin = clientFor(AdminService, "connect-json", baseUrl, testRootKey);
    const { secret } = await admin.createApiKey({ tenant: owner.slug, scopes: [Scope.READ] });
    const runs = clientFor(RunsService, "grpc", baseUrl, secret);
    expect((await runs.getRun({ runId })).run!.id).toBe(runId);
    expect(await codeOf(runs.createRun({ workflow: "counter", input: json({ n: 1 }) }))).toBe(Code.PermissionDenied);
    expect(await codeOf(runs.cancelRun({ runId }))).toBe(Code.PermissionDenied);
    expect(await codeOf(clientFor(WorkflowsService, "grpc", baseUrl, secret).createWorkflow({ slug: "x", definition: json({}) }))).toBe(
      Code.PermissionDenied,
    );
    expect(await codeOf(clientFor(WorkerService, "grpc", baseUrl, secret).claimRuns({ workerId: "w" }))).toBe(Code.PermissionDenied);
  });

  it("keeps a worker key off IngestRunEvents (executors report under their lease, with ReportRunEvents) and off reading runs", async () => {
    const admin = clientFor(AdminService, "connect-json", baseUrl, testRootKey);
    const { secret } = await admin.createApiKey({ tenant: owner.tenantId, scopes: [Scope.WORKER] });
    const runs = clientFor(RunsService, "connect-json", baseUrl, secret);
    expect(await codeOf(runs.ingestRunEvents({ runId, events: [{ type: "progress", data: json({ pct: 10 }) }] }))).toBe(
      Code.PermissionDenied,
    );
    expect(await codeOf(runs.getRun({ runId }))).toBe(Code.PermissionDenied);
  });

  it("keeps AdminService for the root key and tenant data away from the root key", async () => {
    expect(await codeOf(clientFor(AdminService, "grpc", baseUrl, owner.key).createTenant({ slug: "sneaky" }))).toBe(Code.PermissionDenied);
    expect(await codeOf(clientFor(RunsService, "grpc", baseUrl, testRootKey).getRun({ runId }))).toBe(Code.PermissionDenied);
  });

  it("stops accepting a key once it is revoked", async () => {
    const admin = clientFor(AdminService, "connect-json", baseUrl, testRootKey);
    const { secret, apiKey } = await admin.createApiKey({ tenant: owner.slug, scopes: [Scope.READ], displayName: "short-lived" });
    const runs = clientFor(RunsService, "connect-json", baseUrl, secret);
    expect((await runs.getRun({ runId })).run!.id).toBe(runId);
    const revoked = await admin.revokeApiKey({ tenant: owner.slug, apiKeyId: apiKey!.id });
    expect(revoked.apiKey!.revokeTime).toBeDefined();
    expect(await codeOf(runs.getRun({ runId }))).toBe(Code.Unauthenticated);
    const listed = await admin.listApiKeys({ tenant: owner.slug });
    expect(listed.apiKeys.find((key) => key.id === apiKey!.id)?.revokeTime).toBeDefined();
    expect(JSON.stringify(toJson(ListApiKeysResponseSchema, listed))).not.toContain(secret);
  });

  it("refuses malformed admin input with the field named", async () => {
    const admin = clientFor(AdminService, "connect-json", baseUrl, testRootKey);
    const error = await admin.createTenant({ slug: "Not A Slug" }).then(
      () => undefined,
      (caught: unknown) => caught as ConnectError,
    );
    expect(error?.code).toBe(Code.InvalidArgument);
    expect(error?.message).toContain("slug");
    expect(await codeOf(admin.createTenant({ slug: owner.slug }))).toBe(Code.AlreadyExists);
    expect(await codeOf(admin.createApiKey({ tenant: owner.slug, scopes: [] }))).toBe(Code.InvalidArgument);
    expect(await codeOf(admin.createApiKey({ tenant: "no-such-tenant", scopes: [Scope.READ] }))).toBe(Code.NotFound);
  });

  it("sends the key in plain HTTP headers for Connect callers too", async () => {
    const transport = createConnectTransport({ baseUrl, httpVersion: "1.1" });
    const runs = createClient(RunsService, transport);
    const { run } = await runs.getRun({ runId }, { headers: { authorization: `Bearer ${owner.key}` } });
    expect(run!.id).toBe(runId);
  });
});
