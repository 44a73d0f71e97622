/**
 * WorkflowsService over REST (API.md "WorkflowsService"): `POST|GET /api/v1/workflows`,
 * `GET /api/v1/workflows/{workflow}` (id or slug), and the versions under it —
 * `POST|GET /api/v1/workflows/{workflow}/versions`, `GET …/versions/{version}`.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { startTestServer } from "../support/test-server.js";
import { createRestTenant, expectStatus, type RestTenant } from "./rest-client.js";

interface WorkflowJson {
  readonly id: string;
  readonly slug: string;
  readonly latestVersion: number;
  readonly createTime: string;
}

interface VersionJson {
  readonly workflowId: string;
  readonly version: number;
  readonly definition: unknown;
  readonly inputSchema?: unknown;
  readonly defaults?: Record<string, unknown>;
  readonly contentHash: string;
  readonly createTime: string;
}

let baseUrl: string;
let tenant: RestTenant;

beforeAll(async () => {
  baseUrl = (await startTestServer()).url;
  tenant = await createRestTenant(baseUrl);
});

const schema = { type: "object", properties: { n: { type: "integer" } }, required: ["n"] };

describe("workflows", () => {
  it("creates a workflow with its version 1 and reads it back by id and by slug", async () => {
    const created = await tenant.rest.post<{ workflow: WorkflowJson; version: VersionJson }>("/api/v1/workflows", {
      slug: "greeter",
      definition: { steps: ["greet"] },
      inputSchema: schema,
      defaults: { timeout: "30s", maxAttempts: 3, backoff: "1.5s", concurrencyLimit: 2 },
    });
    expect(created.status).toBe(200);
    const { workflow, version } = created.body;
    expect(workflow).toEqual({ id: expect.any(String), slug: "greeter", latestVersion: 1, createTime: expect.any(String) });
    expect(version).toMatchObject({
      workflowId: workflow.id,
      version: 1,
      definition: { steps: ["greet"] },
      inputSchema: schema,
      defaults: { timeout: "30s", maxAttempts: 3, backoff: "1.500s", concurrencyLimit: 2 },
      contentHash: expect.stringMatching(/^[0-9a-f]{64}$/),
    });

    const byId = await tenant.rest.get<{ workflow: WorkflowJson }>(`/api/v1/workflows/${workflow.id}`);
    const bySlug = await tenant.rest.get<{ workflow: WorkflowJson }>("/api/v1/workflows/greeter");
    expect(byId.status).toBe(200);
    expect(byId.body.workflow).toEqual(workflow);
    expect(bySlug.body.workflow).toEqual(workflow);
  });

  it("refuses a slug already used in the tenant with 409, and an unknown workflow is 404", async () => {
    await tenant.rest.post("/api/v1/workflows", { slug: "taken", definition: {} });
    expectStatus(await tenant.rest.post("/api/v1/workflows", { slug: "taken", definition: {} }), 409, 6);
    expectStatus(await tenant.rest.get("/api/v1/workflows/no-such-workflow"), 404, 5);
  });

  it("lists workflows newest first, page by page with pageSize and pageToken until nextPageToken is absent", async () => {
    const lister = await createRestTenant(baseUrl);
    for (const slug of ["w-one", "w-two", "w-three"])
      expect((await lister.rest.post("/api/v1/workflows", { slug, definition: {} })).status).toBe(200);
    const first = await lister.rest.get<{ workflows: WorkflowJson[]; nextPageToken?: string }>("/api/v1/workflows?pageSize=2");
    expect(first.status).toBe(200);
    expect(first.body.workflows.map((workflow) => workflow.slug)).toEqual(["w-three", "w-two"]);
    expect(first.body.nextPageToken).toEqual(expect.any(String));
    const second = await lister.rest.get<{ workflows: WorkflowJson[]; nextPageToken?: string }>(
      `/api/v1/workflows?pageSize=2&pageToken=${encodeURIComponent(first.body.nextPageToken!)}`,
    );
    expect(second.body.workflows.map((workflow) => workflow.slug)).toEqual(["w-one"]);
    // proto3 JSON leaves an empty string out: the last page has no nextPageToken at all.
    expect(second.body.nextPageToken ?? "").toBe("");
  });
});

describe("workflow versions", () => {
  it("adds versions, returns the latest again for equal content, and reads and lists them", async () => {
    await tenant.rest.post("/api/v1/workflows", { slug: "versioned", definition: { v: 1 } });
    const v2 = await tenant.rest.post<{ version: VersionJson }>("/api/v1/workflows/versioned/versions", {
      definition: { v: 2 },
      inputSchema: schema,
    });
    expect(v2.status).toBe(200);
    expect(v2.body.version).toMatchObject({ version: 2, definition: { v: 2 }, inputSchema: schema });

    const same = await tenant.rest.post<{ version: VersionJson }>("/api/v1/workflows/versioned/versions", {
      definition: { v: 2 },
      inputSchema: schema,
    });
    expect(same.body.version).toEqual(v2.body.version);
    expect((await tenant.rest.get<{ workflow: WorkflowJson }>("/api/v1/workflows/versioned")).body.workflow.latestVersion).toBe(2);

    const one = await tenant.rest.get<{ version: VersionJson }>("/api/v1/workflows/versioned/versions/1");
    expect(one.status).toBe(200);
    expect(one.body.version).toMatchObject({ version: 1, definition: { v: 1 } });
    // Version 0 means the latest.
    expect((await tenant.rest.get<{ version: VersionJson }>("/api/v1/workflows/versioned/versions/0")).body.version.version).toBe(2);

    const listed = await tenant.rest.get<{ versions: VersionJson[] }>("/api/v1/workflows/versioned/versions");
    expect(listed.status).toBe(200);
    expect(listed.body.versions.map((version) => version.version)).toEqual([2, 1]);
    const paged = await tenant.rest.get<{ versions: VersionJson[]; nextPageToken?: string }>(
      "/api/v1/workflows/versioned/versions?pageSize=1",
    );
    expect(paged.body.versions.map((version) => version.version)).toEqual([2]);
    const rest = await tenant.rest.get<{ versions: VersionJson[] }>(
      `/api/v1/workflows/versioned/versions?pageSize=1&pageToken=${encodeURIComponent(paged.body.nextPageToken!)}`,
    );
    expect(rest.body.versions.map((version) => version.version)).toEqual([1]);
  });

  it("answers 404 for a version that does not exist and 400 naming the path variable for one that is not a number", async () => {
    await tenant.rest.post("/api/v1/workflows", { slug: "single", definition: {} });
    expectStatus(await tenant.rest.get("/api/v1/workflows/single/versions/9"), 404, 5);
    const malformed = expectStatus(await tenant.rest.get("/api/v1/workflows/single/versions/latest"), 400, 3);
    expect(malformed.message).toContain("version");
  });
});
