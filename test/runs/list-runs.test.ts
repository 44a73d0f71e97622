import { Code } from "@connectrpc/connect";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { beforeAll, describe, expect, it } from "vitest";
import { RunStatus } from "../../gen/runline/v1/run_pb.js";
import { createCounterWorkflow, createTenant, json, type TenantFixture } from "../support/clients.js";
import { startTestServer } from "../support/test-server.js";
import { codeOf } from "../support/expectations.js";

let tenant: TenantFixture;

beforeAll(async () => {
  const server = await startTestServer();
  tenant = await createTenant(server.url);
  await createCounterWorkflow(tenant);
  await createCounterWorkflow(tenant, "other");
});

describe("ListRuns", () => {
  it("pages newest first with no run skipped or repeated while runs are inserted concurrently", async () => {
    const runs = tenant.runs("grpc");
    const before = [];
    for (let i = 0; i < 120; i++)
      before.push((await runs.createRun({ workflow: "counter", input: json({ n: i }), labels: { batch: "stable" } })).run!.id);
    let inserting = true;
    const inserter = (async () => {
      let n = 0;
      while (inserting && n < 500) await runs.createRun({ workflow: "counter", input: json({ n: n++ }), labels: { batch: "stable" } });
    })();
    const seen: string[] = [];
    let pageToken = "";
    do {
      const page = await runs.listRuns({ pageSize: 7, pageToken, labels: { batch: "stable" } });
      seen.push(...page.runs.map((run) => run.id));
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    inserting = false;
    await inserter;
    expect(new Set(seen).size).toBe(seen.length);
    for (const id of before) expect(seen).toContain(id);
    // Newest first: the pre-existing runs appear in reverse creation order.
    const positions = before.map((id) => seen.indexOf(id));
    expect([...positions].sort((a, b) => b - a)).toEqual(positions);
  });

  it("filters by status, workflow, creator, labels and time range", async () => {
    const runs = tenant.runs();
    const marker = `f${Date.now()}`;
    const a = (await runs.createRun({ workflow: "counter", input: json({ n: 1 }), labels: { marker, kind: "a" } })).run!;
    const b = (await runs.createRun({ workflow: "other", input: json({ n: 2 }), labels: { marker, kind: "b" } })).run!;
    await runs.cancelRun({ runId: b.id });
    const ids = async (request: Parameters<typeof runs.listRuns>[0]) =>
      (await runs.listRuns({ ...request, labels: { marker, ...(request.labels ?? {}) } })).runs.map((run) => run.id);
    expect(await ids({})).toEqual([b.id, a.id]);
    expect(await ids({ status: [RunStatus.CANCELLED] })).toEqual([b.id]);
    expect(await ids({ status: [RunStatus.CANCELLED, RunStatus.QUEUED] })).toEqual([b.id, a.id]);
    expect(await ids({ workflow: "counter" })).toEqual([a.id]);
    expect(await ids({ workflow: a.workflowId })).toEqual([a.id]);
    expect(await ids({ labels: { kind: "b" } })).toEqual([b.id]);
    expect(await ids({ createdBy: tenant.keyId })).toEqual([b.id, a.id]);
    expect(await ids({ createdBy: "someone-else" })).toEqual([]);
    expect(await ids({ createTimeAfter: timestampFromDate(new Date(Date.now() + 60_000)) })).toEqual([]);
    expect(await ids({ createTimeBefore: timestampFromDate(new Date(Date.now() + 60_000)) })).toEqual([b.id, a.id]);
    expect(await ids({ updateTimeAfter: b.createTime })).toContain(b.id);
  });

  it("SearchRuns returns the same result as ListRuns for the same filter", async () => {
    const runs = tenant.runs();
    const listed = await runs.listRuns({ pageSize: 5, workflow: "counter", status: [RunStatus.QUEUED] });
    const searched = await runs.searchRuns({ pageSize: 5, filter: { workflow: "counter", status: [RunStatus.QUEUED] } });
    expect(searched.runs.map((run) => run.id)).toEqual(listed.runs.map((run) => run.id));
  });

  it("applies the page size rules: 0 means 50, above 1000 means 1000, negative is refused", async () => {
    const runs = tenant.runs();
    expect((await runs.listRuns({})).runs).toHaveLength(50);
    expect((await runs.listRuns({ pageSize: 5000 })).runs.length).toBeLessThanOrEqual(1000);
    expect(await codeOf(runs.listRuns({ pageSize: -1 }))).toBe(Code.InvalidArgument);
  });

  it("refuses a page token with another filter, a forged token and an unspecified status", async () => {
    const runs = tenant.runs();
    const first = await runs.listRuns({ pageSize: 2, workflow: "counter" });
    expect(first.nextPageToken).not.toBe("");
    expect(await codeOf(runs.listRuns({ pageSize: 2, workflow: "other", pageToken: first.nextPageToken }))).toBe(Code.InvalidArgument);
    expect(await codeOf(runs.searchRuns({ pageSize: 2, pageToken: first.nextPageToken }))).toBe(Code.InvalidArgument);
    const [payload, signature] = first.nextPageToken.split(".");
    const forged = Buffer.from(JSON.stringify({ f: "x", c: ["2000-01-01 00:00:00+00", "00000000-0000-0000-0000-000000000000"] })).toString(
      "base64url",
    );
    expect(await codeOf(runs.listRuns({ pageSize: 2, workflow: "counter", pageToken: `${forged}.${signature}` }))).toBe(
      Code.InvalidArgument,
    );
    expect(await codeOf(runs.listRuns({ pageSize: 2, workflow: "counter", pageToken: `${payload}.AAAA` }))).toBe(Code.InvalidArgument);
    expect(await codeOf(runs.listRuns({ status: [RunStatus.UNSPECIFIED] }))).toBe(Code.InvalidArgument);
    // The genuine token with its own filter still works.
    expect((await runs.listRuns({ pageSize: 2, workflow: "counter", pageToken: first.nextPageToken })).runs).toHaveLength(2);
  });
});
