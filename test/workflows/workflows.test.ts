import { toJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { beforeAll, describe, expect, it } from "vitest";
import { createTenant, json, protocols, type TenantFixture } from "../support/clients.js";
import { startTestServer } from "../support/test-server.js";
import { codeOf } from "../support/expectations.js";

let tenant: TenantFixture;

beforeAll(async () => {
  const server = await startTestServer();
  tenant = await createTenant(server.url);
});

describe.each(protocols)("WorkflowsService over %s", (protocol) => {
  it("creates, reads, versions and lists workflows", async () => {
    const workflows = tenant.workflows(protocol);
    const slug = `wf-${protocol}`;
    const created = await workflows.createWorkflow({ slug, definition: json({ steps: ["a"] }), defaults: { maxAttempts: 3 } });
    expect(created.workflow!.latestVersion).toBe(1);
    expect(created.version!.contentHash).toMatch(/^[0-9a-f]{64}$/);
    expect((await workflows.getWorkflow({ workflow: slug })).workflow!.id).toBe(created.workflow!.id);
    expect((await workflows.getWorkflow({ workflow: created.workflow!.id })).workflow!.slug).toBe(slug);
    const v2 = await workflows.createWorkflowVersion({ workflow: slug, definition: json({ steps: ["a", "b"] }) });
    expect(v2.version!.version).toBe(2);
    // Same content as the latest: no new version.
    const same = await workflows.createWorkflowVersion({ workflow: slug, definition: json({ steps: ["a", "b"] }) });
    expect(same.version!.version).toBe(2);
    expect((await workflows.getWorkflow({ workflow: slug })).workflow!.latestVersion).toBe(2);
    expect(toJson(ValueSchema, (await workflows.getWorkflowVersion({ workflow: slug, version: 1 })).version!.definition!)).toEqual({
      steps: ["a"],
    });
    expect((await workflows.getWorkflowVersion({ workflow: slug, version: 0 })).version!.version).toBe(2);
    const versions = await workflows.listWorkflowVersions({ workflow: slug, pageSize: 1 });
    expect(versions.versions.map((v) => v.version)).toEqual([2]);
    const rest = await workflows.listWorkflowVersions({ workflow: slug, pageSize: 1, pageToken: versions.nextPageToken });
    expect(rest.versions.map((v) => v.version)).toEqual([1]);
    expect(rest.nextPageToken).toBe("");
    expect((await workflows.listWorkflows({})).workflows.map((w) => w.slug)).toContain(slug);
  });

  it("refuses bad input with the field named", async () => {
    const workflows = tenant.workflows(protocol);
    expect(await codeOf(workflows.createWorkflow({ slug: "Bad Slug", definition: json({}) }))).toBe(Code.InvalidArgument);
    expect(await codeOf(workflows.createWorkflow({ slug: `nodef-${protocol}` }))).toBe(Code.InvalidArgument);
    const error = await workflows
      .createWorkflow({ slug: `badschema-${protocol}`, definition: json({}), inputSchema: json({ type: "no-such-type" }) })
      .then(
        () => undefined,
        (caught: unknown) => caught as ConnectError,
      );
    expect(error?.code).toBe(Code.InvalidArgument);
    expect(error?.message).toContain("inputSchema");
    expect(await codeOf(workflows.getWorkflowVersion({ workflow: `wf-${protocol}`, version: 99 }))).toBe(Code.NotFound);
  });

  it("bounds the default timeout as CreateRun bounds a run's: at most 366 days", async () => {
    const workflows = tenant.workflows(protocol);
    const slug = `bounded-${protocol}`;
    const created = await workflows.createWorkflow({ slug, definition: json({}), defaults: { timeout: { seconds: 31_622_400n } } });
    expect(created.version!.defaults!.timeout).toMatchObject({ seconds: 31_622_400n });
    const error = await workflows
      .createWorkflowVersion({ workflow: slug, definition: json({}), defaults: { timeout: { seconds: 31_622_401n } } })
      .then(
        () => undefined,
        (caught: unknown) => caught as ConnectError,
      );
    expect([error?.code, error?.message]).toEqual([Code.InvalidArgument, expect.stringContaining("defaults.timeout")]);
  });
});

describe("run definition snapshots", () => {
  it("keep the version a run was created with after a new version is added", async () => {
    const workflows = tenant.workflows();
    await workflows.createWorkflow({ slug: "snap", definition: json({ step: "one" }) });
    const runs = tenant.runs();
    const { run } = await runs.createRun({ workflow: "snap", input: json(null) });
    const before = await runs.getRunDefinition({ runId: run!.id });
    await workflows.createWorkflowVersion({ workflow: "snap", definition: json({ step: "two" }) });
    const after = await runs.getRunDefinition({ runId: run!.id });
    expect(after.workflowVersion).toBe(1);
    expect(toJson(ValueSchema, after.definition!)).toEqual({ step: "one" });
    expect(after.contentHash).toBe(before.contentHash);
    // The server cached "latest = 1" for the first run; the new version must win anyway.
    const { run: newer } = await runs.createRun({ workflow: "snap", input: json(null) });
    expect(newer!.workflowVersion).toBe(2);
    await workflows.createWorkflowVersion({ workflow: "snap", definition: json({ step: "three" }) });
    const { run: keyed } = await runs.createRun({ workflow: "snap", input: json(null), idempotencyKey: "snap-latest" });
    expect(keyed!.workflowVersion).toBe(3);
    expect(toJson(ValueSchema, (await runs.getRunDefinition({ runId: newer!.id })).definition!)).toEqual({ step: "two" });
    expect(toJson(ValueSchema, (await runs.getRunDefinition({ runId: keyed!.id })).definition!)).toEqual({ step: "three" });
    // An explicit older version can still be run.
    expect((await runs.createRun({ workflow: "snap", workflowVersion: 1, input: json(null) })).run!.workflowVersion).toBe(1);
  });

  it("refuses a duplicate slug with ALREADY_EXISTS", async () => {
    expect(await codeOf(tenant.workflows().createWorkflow({ slug: "snap", definition: json({}) }))).toBe(Code.AlreadyExists);
  });
});
