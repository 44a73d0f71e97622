/**
 * Reads survive stored values the API cannot carry. Runs stored before the boundary
 * checked them (or edited by hand; written here by SQL) can hold a timeout beyond
 * protobuf's Duration, a time outside the Timestamp range (year 10000, BC, `infinity`)
 * or a JSON number beyond a double. Every JSON read including such a run used to be a
 * 500 ("cannot encode message google.protobuf.Duration to JSON"), so one bad run broke
 * the tenant's whole run list. Now reads show the nearest value the type can carry, on
 * every protocol; claims still refuse such runs (test/workers/undeliverable-leases).
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCounterWorkflow, createTenant, json, protocols, type TenantFixture } from "../support/clients.js";
import { dropTimeBounds } from "../support/stored-before-bounds.js";
import { startTestServer } from "../support/test-server.js";
import { restClient, type RestClient, type RunEventJson } from "../rest/rest-client.js";

const maxDuration = "315576000000s";
const maxTime = "9999-12-31T23:59:59.999Z";
const minTime = "0001-01-01T00:00:00Z";

/** Stored values (SQL assignments to a run row) and what REST shows of each. */
const stored = {
  "a timeout of 10^15 s": { set: "timeout_ms = 1000000000000000000", shows: { timeout: maxDuration } },
  "a timeout just beyond the Duration range": { set: "timeout_ms = 315576000001000", shows: { timeout: maxDuration } },
  "a schedule_time in year 10000": { set: "schedule_time = '10000-01-01', status = 'SCHEDULED'", shows: { scheduleTime: maxTime } },
  "a schedule_time in 4000 BC": { set: "schedule_time = '4000-01-01 BC'", shows: { scheduleTime: minTime } },
  "a schedule_time of infinity": { set: "schedule_time = 'infinity'", shows: { scheduleTime: maxTime } },
  "server times beyond both ends": {
    set: "create_time = '12000-01-01', start_time = '-infinity', end_time = 'infinity'",
    shows: { createTime: maxTime, startTime: minTime, endTime: maxTime },
  },
  "an input number beyond a double": {
    set: `input = '{"n": 1e400, "m": [-1e400]}'::jsonb`,
    shows: { input: { n: Number.MAX_VALUE, m: [-Number.MAX_VALUE] } },
  },
  // In range, but `new Date("0001-01-01 00:00:00+00")` reads year 2001.
  "a schedule_time in year 1": { set: "schedule_time = '0001-01-01 00:00:00+00'", shows: { scheduleTime: minTime } },
} as const;

let baseUrl: string;
let database: pg.Client;
let tenant: TenantFixture;
let rest: RestClient;
const runIds = new Map<string, string>();

beforeAll(async () => {
  const server = await startTestServer();
  baseUrl = server.url;
  database = new pg.Client({ connectionString: server.databaseUrl });
  await database.connect();
  await dropTimeBounds(database);
  tenant = await createTenant(baseUrl);
  rest = restClient(baseUrl, tenant.key);
  const workflowId = await createCounterWorkflow(tenant);
  const names = Object.keys(stored);
  const { runs } = await tenant.runs().batchCreateRuns({ template: { workflow: "counter" }, inputs: names.map((_, n) => json({ n })) });
  for (const [index, name] of names.entries()) {
    runIds.set(name, runs[index]!.id);
    await database.query(`update runs set ${stored[name as keyof typeof stored].set} where id = $1`, [runs[index]!.id]);
  }
  // The event log and a version's defaults: left as stored by migration 0004, clamped by reads.
  // An event time of -infinity: the oldest leaf of run_events takes it (0009 partitions the
  // log by time; no leaf holds `infinity`, and 0009 restamps stored times in the future).
  await database.query(`update run_events set create_time = '-infinity', data = '{"x": -1e400}' where run_id = $1`, [runs[0]!.id]);
  await database.query(`update workflow_versions set defaults = '{"timeoutMs": 1e18, "backoffMs": 1e18}' where workflow_id = $1`, [
    workflowId,
  ]);
});

afterAll(() => database.end());

describe("GetRun of a run stored with a value the API cannot carry", () => {
  for (const [name, { shows }] of Object.entries(stored)) {
    it(`with ${name}: 200 over REST, showing the nearest value the type can carry`, async () => {
      const got = await rest.get<{ run: Record<string, unknown> }>(`/api/v1/runs/${runIds.get(name)!}`);
      expect(got.status, got.text).toBe(200);
      expect(got.body.run).toMatchObject(shows);
    });
  }

  for (const protocol of protocols) {
    it(`over ${protocol}: every such run reads, with the same values`, async () => {
      const runs = tenant.runs(protocol);
      const timeout = await runs.getRun({ runId: runIds.get("a timeout of 10^15 s")! });
      expect(timeout.run!.timeout).toMatchObject({ seconds: 315_576_000_000n, nanos: 0 });
      const scheduled = await runs.getRun({ runId: runIds.get("a schedule_time in year 10000")! });
      expect(scheduled.run!.scheduleTime).toMatchObject({ seconds: 253_402_300_799n, nanos: 999_000_000 });
      for (const runId of runIds.values()) expect((await runs.getRun({ runId })).run!.id).toBe(runId);
    });
  }
});

describe("ListRuns and SearchRuns of a tenant holding such runs", () => {
  it("over REST: 200 with every run, on one page and page by page", async () => {
    const listed = await rest.get<{ runs: { id: string }[] }>("/api/v1/runs");
    expect(listed.status, listed.text).toBe(200);
    expect(listed.body.runs.map((run) => run.id).sort()).toEqual([...runIds.values()].sort());
    const searched = await rest.post<{ runs: { id: string }[] }>("/api/v1/runs:search", { filter: {} });
    expect(searched.status, searched.text).toBe(200);
    expect(searched.body.runs).toHaveLength(runIds.size);
    const seen: string[] = [];
    let pageToken = "";
    do {
      const page = await rest.get<{ runs: { id: string }[]; nextPageToken?: string }>(`/api/v1/runs?pageSize=3&pageToken=${pageToken}`);
      expect(page.status, page.text).toBe(200);
      seen.push(...page.body.runs.map((run) => run.id));
      pageToken = page.body.nextPageToken ?? "";
    } while (pageToken !== "");
    expect(seen.sort()).toEqual([...runIds.values()].sort());
  });

  for (const protocol of protocols) {
    it(`over ${protocol}: every run listed and found`, async () => {
      const runs = tenant.runs(protocol);
      expect((await runs.listRuns({})).runs.map((run) => run.id).sort()).toEqual([...runIds.values()].sort());
      expect((await runs.searchRuns({})).runs).toHaveLength(runIds.size);
    });
  }
});

describe("other reads of values migration 0004 leaves as stored", () => {
  it("ListRunEvents shows an event time of -infinity and a number beyond a double clamped (REST and Connect JSON)", async () => {
    const runId = [...runIds.values()][0]!;
    const events = await rest.get<{ events: RunEventJson[] }>(`/api/v1/runs/${runId}/events`);
    expect(events.status, events.text).toBe(200);
    expect(events.body.events[0]).toMatchObject({ createTime: minTime, data: { x: -Number.MAX_VALUE } });
    expect((await tenant.runs("connect-json").listRunEvents({ runId })).events[0]!.createTime).toMatchObject({ seconds: -62_135_596_800n });
  });

  it("GetWorkflowVersion shows defaults beyond the Duration range clamped (REST and Connect JSON)", async () => {
    const version = await rest.get<{ version: { defaults: Record<string, unknown> } }>("/api/v1/workflows/counter/versions/1");
    expect(version.status, version.text).toBe(200);
    expect(version.body.version.defaults).toMatchObject({ timeout: maxDuration, backoff: maxDuration });
    expect(
      (await tenant.workflows("connect-json").getWorkflowVersion({ workflow: "counter", version: 1 })).version!.defaults!.timeout,
    ).toMatchObject({ seconds: 315_576_000_000n });
  });

  it("CreateRun on that version takes its default timeout cut to 366 days", async () => {
    const { run } = await tenant.runs().createRun({ workflow: "counter", input: json({ n: 1 }) });
    expect(run!.timeout).toMatchObject({ seconds: 31_622_400n, nanos: 0 });
  });
});
