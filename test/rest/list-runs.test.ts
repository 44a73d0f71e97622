/**
 * ListRuns and SearchRuns over REST (API.md "ListRuns", "SearchRuns"): `GET /api/v1/runs`
 * with its filters as query parameters (repeated `status`, `workflow`, `createdBy`,
 * labels as `labels[key]=value` or `labels.key=value`, RFC 3339 time bounds) and keyset
 * pages (`pageSize`, an opaque `pageToken` bound to its filter), and
 * `POST /api/v1/runs:search` with the filter in the body. One tenant of its own holds
 * five runs, so every expected page is exact.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { startTestServer } from "../support/test-server.js";
import {
  createRestKey,
  createRestRun,
  createRestTenant,
  createRestWorkflow,
  expectStatus,
  fieldViolations,
  type RestTenant,
  type RunJson,
} from "./rest-client.js";

let lister: RestTenant;
/** The five runs, oldest first: alpha (team a), alpha (a, cancelled), beta (b), alpha (a), beta (b). */
let runs: RunJson[];
let alphaId: string;
let cancelTime: string;
let idleKeyId: string;

beforeAll(async () => {
  const baseUrl = (await startTestServer()).url;
  lister = await createRestTenant(baseUrl);
  alphaId = await createRestWorkflow(lister.rest, "alpha");
  await createRestWorkflow(lister.rest, "beta");
  runs = [];
  for (const [workflow, team] of [
    ["alpha", "a"],
    ["alpha", "a"],
    ["beta", "b"],
    ["alpha", "a"],
    ["beta", "b"],
  ] as const) {
    runs.push(await createRestRun(lister.rest, { workflow, input: { n: runs.length }, labels: { team } }));
  }
  const cancelled = await lister.rest.post<{ run: RunJson }>(`/api/v1/runs/${runs[1]!.id}/cancel`, { reason: "list fixture" });
  cancelTime = cancelled.body.run.updateTime;
  // A second key of the tenant that creates nothing.
  idleKeyId = (await createRestKey(baseUrl, lister.slug, ["SCOPE_READ"])).keyId;
});

describe("GET /api/v1/runs and POST /api/v1/runs:search", () => {
  const idsOf = (page: { runs?: RunJson[] }) => (page.runs ?? []).map((run) => run.id);
  const newestFirst = (indexes: number[]) => indexes.map((index) => runs[index]!.id);

  it("lists newest first and pages with pageSize and pageToken, no run skipped or repeated, until nextPageToken is absent", async () => {
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const page = await lister.rest.get<{ runs: RunJson[]; nextPageToken?: string }>(
        `/api/v1/runs?pageSize=2${token === undefined ? "" : `&pageToken=${encodeURIComponent(token)}`}`,
      );
      expect(page.status).toBe(200);
      expect(page.body.runs.length).toBeLessThanOrEqual(2);
      seen.push(...idsOf(page.body));
      token = page.body.nextPageToken;
      pages++;
    } while (token !== undefined && token !== "" && pages < 10);
    expect(pages).toBe(3);
    expect(seen).toEqual(newestFirst([4, 3, 2, 1, 0]));
  });

  it("reads pageSize 0 as the default (50) and a pageSize above 1000 as 1000", async () => {
    for (const pageSize of [0, 5000]) {
      const page = await lister.rest.get<{ runs: RunJson[]; nextPageToken?: string }>(`/api/v1/runs?pageSize=${pageSize}`);
      expect(page.status).toBe(200);
      expect(idsOf(page.body)).toEqual(newestFirst([4, 3, 2, 1, 0]));
      expect(page.body.nextPageToken).toBeUndefined();
    }
  });

  it("filters by several statuses given as repeated status parameters", async () => {
    const cancelled = await lister.rest.get<{ runs: RunJson[] }>("/api/v1/runs?status=RUN_STATUS_CANCELLED");
    expect(idsOf(cancelled.body)).toEqual(newestFirst([1]));
    const either = await lister.rest.get<{ runs: RunJson[] }>("/api/v1/runs?status=RUN_STATUS_QUEUED&status=RUN_STATUS_CANCELLED");
    expect(idsOf(either.body)).toEqual(newestFirst([4, 3, 2, 1, 0]));
    const queued = await lister.rest.get<{ runs: RunJson[] }>("/api/v1/runs?status=RUN_STATUS_QUEUED");
    expect(idsOf(queued.body)).toEqual(newestFirst([4, 3, 2, 0]));
  });

  it("filters by workflow (slug or id) and by labels in both query forms, labels[key]=value and labels.key=value", async () => {
    expect(idsOf((await lister.rest.get<{ runs: RunJson[] }>("/api/v1/runs?workflow=alpha")).body)).toEqual(newestFirst([3, 1, 0]));
    expect(idsOf((await lister.rest.get<{ runs: RunJson[] }>(`/api/v1/runs?workflow=${alphaId}`)).body)).toEqual(newestFirst([3, 1, 0]));
    expect(idsOf((await lister.rest.get<{ runs: RunJson[] }>(`/api/v1/runs?${encodeURI("labels[team]=b")}`)).body)).toEqual(
      newestFirst([4, 2]),
    );
    expect(idsOf((await lister.rest.get<{ runs: RunJson[] }>("/api/v1/runs?labels.team=a")).body)).toEqual(newestFirst([3, 1, 0]));
    expect(
      idsOf((await lister.rest.get<{ runs: RunJson[] }>("/api/v1/runs?labels.team=a&status=RUN_STATUS_QUEUED&workflow=alpha")).body),
    ).toEqual(newestFirst([3, 0]));
  });

  it("filters by createTimeAfter given as an RFC 3339 timestamp (at or after)", async () => {
    const after = encodeURIComponent(runs[2]!.createTime);
    const listed = await lister.rest.get<{ runs: RunJson[] }>(`/api/v1/runs?createTimeAfter=${after}`);
    expect(listed.status).toBe(200);
    expect(idsOf(listed.body)).toEqual(newestFirst([4, 3, 2]));
    const malformed = expectStatus(await lister.rest.get("/api/v1/runs?createTimeAfter=yesterday"), 400, 3);
    expect(fieldViolations(malformed).map((violation) => violation.field)).toEqual(["createTimeAfter"]);
  });

  it("filters by createdBy, createTimeBefore (strictly before) and updateTimeAfter", async () => {
    expect(idsOf((await lister.rest.get<{ runs: RunJson[] }>(`/api/v1/runs?createdBy=${lister.keyId}`)).body)).toEqual(
      newestFirst([4, 3, 2, 1, 0]),
    );
    expect(idsOf((await lister.rest.get<{ runs?: RunJson[] }>(`/api/v1/runs?createdBy=${idleKeyId}`)).body)).toEqual([]);
    const before = encodeURIComponent(runs[2]!.createTime);
    expect(idsOf((await lister.rest.get<{ runs: RunJson[] }>(`/api/v1/runs?createTimeBefore=${before}`)).body)).toEqual(
      newestFirst([1, 0]),
    );
    // Only the cancel changed a run after every run was created.
    expect(
      idsOf((await lister.rest.get<{ runs: RunJson[] }>(`/api/v1/runs?updateTimeAfter=${encodeURIComponent(cancelTime)}`)).body),
    ).toEqual(newestFirst([1]));
  });

  it("refuses a pageToken reused with another filter with 400 INVALID_ARGUMENT on pageToken", async () => {
    const first = await lister.rest.get<{ nextPageToken: string }>("/api/v1/runs?pageSize=1&workflow=alpha");
    expect(first.body.nextPageToken).toEqual(expect.any(String));
    const reused = await lister.rest.get(`/api/v1/runs?pageSize=1&workflow=beta&pageToken=${encodeURIComponent(first.body.nextPageToken)}`);
    const refused = expectStatus(reused, 400, 3);
    expect(fieldViolations(refused).map((violation) => violation.field)).toEqual(["pageToken"]);
    expectStatus(await lister.rest.get("/api/v1/runs?pageToken=forged"), 400, 3);
  });

  it("searches with the filter in the body, with the same result shape and paging as the list", async () => {
    const filter = { workflow: "alpha", labels: { team: "a" }, status: ["RUN_STATUS_QUEUED", "RUN_STATUS_CANCELLED"] };
    const first = await lister.rest.post<{ runs: RunJson[]; nextPageToken: string }>("/api/v1/runs:search", { pageSize: 2, filter });
    expect(first.status).toBe(200);
    expect(idsOf(first.body)).toEqual(newestFirst([3, 1]));
    const second = await lister.rest.post<{ runs: RunJson[]; nextPageToken?: string }>("/api/v1/runs:search", {
      pageSize: 2,
      pageToken: first.body.nextPageToken,
      filter,
    });
    expect(idsOf(second.body)).toEqual(newestFirst([0]));
    expect(second.body.nextPageToken ?? "").toBe("");
    const listed = await lister.rest.get<{ runs: RunJson[] }>("/api/v1/runs?workflow=alpha&labels.team=a");
    expect(listed.body.runs).toEqual([...first.body.runs, ...second.body.runs]);
  });
});
