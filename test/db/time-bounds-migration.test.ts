/**
 * Migration 0004 on a database as deployments have it: runs stored before the boundary
 * bounded them (a timeout of 10^18 ms, schedule times in year 10000, before year 1 or
 * `infinity`) and times only a hand edit could write. After it, every time and duration
 * those tables show through the API is within what the API can carry and allows, the
 * rest is as it was, and the database refuses such values from then on.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrateDatabase, openDatabase, type Database } from "../../src/db/database.js";
import { createEmptyDatabase } from "../support/test-database.js";

const tenant = "00000000-0000-4000-8000-00000000a001";
const workflow = "00000000-0000-4000-8000-00000000a002";
const run = (n: number) => `00000000-0000-4000-8000-0000000000${String(n).padStart(2, "0")}`;
const max = "9999-12-31 23:59:59.999999+00";
const min = "0001-01-01 00:00:00+00";

/** Runs as stored before 0004, by the columns each one poisons. */
const storedRuns: Record<number, { status: string; columns: Record<string, string> }> = {
  // Claimed with its 10^15 s timeout: its deadline was fixed at start + 10,000 years.
  1: {
    status: "RUNNING",
    columns: { timeout_ms: "1000000000000000000", start_time: "2026-01-01 00:00:00+00", deadline_time: "12026-01-01 00:00:00+00" },
  },
  2: { status: "QUEUED", columns: { timeout_ms: "400000000000000" } },
  3: { status: "SCHEDULED", columns: { schedule_time: "10000-01-01 00:00:00+00", ready_time: "10000-01-01 00:00:00+00" } },
  4: { status: "QUEUED", columns: { schedule_time: "4000-01-01 00:00:00+00 BC" } },
  5: { status: "SCHEDULED", columns: { schedule_time: "infinity" } },
  6: {
    status: "SUCCEEDED",
    columns: {
      create_time: "0100-01-01 00:00:00+00 BC",
      update_time: "12000-01-01 00:00:00+00",
      start_time: "-infinity",
      end_time: "infinity",
    },
  },
  // Within bounds (the largest timeout allowed; a schedule far ahead but representable): untouched.
  7: { status: "SCHEDULED", columns: { timeout_ms: "31622400000", schedule_time: "9000-01-01 00:00:00+00" } },
  8: { status: "RUNNING", columns: { timeout_ms: "60000", start_time: "2026-01-01 00:00:00+00", deadline_time: "2026-01-01 00:01:00+00" } },
};

let database: Database;
let client: pg.Client;
let before: Map<string, Record<string, unknown>>;

/** Each run row as JSON, by id. */
async function runRows(): Promise<Map<string, Record<string, unknown>>> {
  const { rows } = await client.query<{ id: string; row: Record<string, unknown> }>("select id, to_jsonb(r) as row from runs r");
  return new Map(rows.map((row) => [row.id, row.row]));
}

/** The listed columns of run `n`, as Postgres prints them (UTC). */
async function columnsOf(n: number, columns: readonly string[]): Promise<Record<string, string | null>> {
  const { rows } = await client.query<Record<string, string | null>>(
    `select ${columns.map((column) => `${column}::text`).join(", ")} from runs where id = $1`,
    [run(n)],
  );
  return rows[0]!;
}

beforeAll(async () => {
  const url = await createEmptyDatabase();
  database = await openDatabase({ url, poolSize: 2 });
  await database.orm.migrator.up({ to: "0003-tenant-estimates" });
  client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query("set timezone = 'UTC'");
  await client.query(`insert into tenants (id, slug, create_time) values ($1, 't', '20000-01-01')`, [tenant]);
  await client.query(`insert into api_keys (tenant_id, id, secret_hash, scopes, revoke_time) values ($1, $1, '\\x00', '{}', 'infinity')`, [
    tenant,
  ]);
  await client.query(`insert into workflows (tenant_id, id, slug, latest_version, create_time) values ($1, $2, 'w', 1, 'infinity')`, [
    tenant,
    workflow,
  ]);
  await client.query(
    `insert into workflow_versions (tenant_id, workflow_id, version, definition, defaults, content_hash, create_time)
    values ($1, $2, 1, '{}', '{"timeoutMs": 1000000000000000000, "backoffMs": 1000000000000000000}', 'h', '-infinity')`,
    [tenant, workflow],
  );
  for (const [n, { status, columns }] of Object.entries(storedRuns)) {
    const names = Object.keys(columns);
    await client.query(
      `insert into runs (tenant_id, id, workflow_id, workflow_version, status, created_by${names.map((name) => `, ${name}`).join("")})
       values ($1, $2, $3, 1, $4, 'k'${names.map((_, index) => `, $${index + 5}`).join("")})`,
      [tenant, run(Number(n)), workflow, status, ...Object.values(columns)],
    );
  }
  before = await runRows();
  expect(await migrateDatabase(database, url)).toEqual([
    "0004-time-bounds",
    "0005-webhooks",
    "0006-webhook-hosts",
    "0007-rerun-of",
    "0008-access-tokens",
    "0009-event-partitions",
    "0010-tenant-labels",
  ]);
});

afterAll(async () => {
  await client.end();
  await database.close();
});

describe("migration 0004 repairs stored runs", () => {
  it("cuts a timeout above 366 days to 366 days, and a deadline fixed from it to start + 366 days", async () => {
    expect(await columnsOf(1, ["timeout_ms", "deadline_time", "status"])).toEqual({
      timeout_ms: "31622400000",
      deadline_time: "2027-01-02 00:00:00+00",
      status: "RUNNING",
    });
    expect(await columnsOf(2, ["timeout_ms", "deadline_time", "status"])).toEqual({
      timeout_ms: "31622400000",
      deadline_time: null,
      status: "QUEUED",
    });
  });

  it("moves a schedule_time outside 0001..9999 to the nearest end of it, status untouched (year 10000 stays SCHEDULED)", async () => {
    expect(await columnsOf(3, ["schedule_time", "status"])).toEqual({ schedule_time: max, status: "SCHEDULED" });
    expect(await columnsOf(4, ["schedule_time", "status"])).toEqual({ schedule_time: min, status: "QUEUED" });
    expect(await columnsOf(5, ["schedule_time", "status"])).toEqual({ schedule_time: max, status: "SCHEDULED" });
  });

  it("moves the server-written times into the Timestamp range too", async () => {
    expect(await columnsOf(6, ["create_time", "update_time", "start_time", "end_time"])).toEqual({
      create_time: min,
      update_time: max,
      start_time: min,
      end_time: max,
    });
  });

  it("changes no other column of a repaired run, and nothing of the runs within bounds", async () => {
    const after = await runRows();
    for (const [n, { columns }] of Object.entries(storedRuns)) {
      const repaired = new Set(Number(n) <= 6 ? [...Object.keys(columns), "deadline_time"] : []);
      const stored = before.get(run(Number(n)))!;
      // Columns that later migrations add (0007's rerun_of) did not exist before: not compared.
      const unchanged = (row: Record<string, unknown>) =>
        Object.fromEntries(Object.entries(row).filter(([column]) => !repaired.has(column) && column in stored));
      expect(unchanged(after.get(run(Number(n)))!), `run ${n}`).toEqual(unchanged(stored));
    }
  });

  it("repairs the times shown for workflows, versions, tenants and keys, and leaves versions' defaults as created (their hash covers them)", async () => {
    const { rows } = await client.query(`
      select (select create_time::text from workflows) as workflow, (select create_time::text from workflow_versions) as version,
             (select defaults from workflow_versions) as defaults, (select create_time::text from tenants) as tenant,
             (select revoke_time::text from api_keys) as revoked`);
    expect(rows[0]).toEqual({ workflow: max, version: min, defaults: { timeoutMs: 1e18, backoffMs: 1e18 }, tenant: max, revoked: max });
  });
});

describe("after migration 0004 the database refuses", () => {
  it("a run timeout above 366 days, and a schedule_time outside the Timestamp range (validated constraints)", async () => {
    await expect(client.query("update runs set timeout_ms = 31622400001 where id = $1", [run(8)])).rejects.toMatchObject({ code: "23514" });
    await expect(client.query("update runs set schedule_time = '10000-01-01' where id = $1", [run(7)])).rejects.toMatchObject({
      code: "23514",
    });
    await expect(client.query("update runs set schedule_time = '0001-01-01 BC' where id = $1", [run(7)])).rejects.toMatchObject({
      code: "23514",
    });
    const { rows } = await client.query<{ conname: string; convalidated: boolean }>(
      "select conname, convalidated from pg_constraint where conname in ('runs_timeout_bounded', 'runs_schedule_time_in_range', 'workflow_versions_default_timeout_bounded') order by 1",
    );
    expect(rows).toEqual([
      { conname: "runs_schedule_time_in_range", convalidated: true },
      { conname: "runs_timeout_bounded", convalidated: true },
      // Old versions keep their defaults; only new ones are checked.
      { conname: "workflow_versions_default_timeout_bounded", convalidated: false },
    ]);
  });

  it("a new workflow version whose default timeout is above 366 days (366 days exactly is fine)", async () => {
    const insert = (version: number, timeoutMs: number) =>
      client.query(
        `insert into workflow_versions (tenant_id, workflow_id, version, definition, defaults, content_hash) values ($1, $2, $3, '{}', $4, 'h')`,
        [tenant, workflow, version, { timeoutMs }],
      );
    await expect(insert(2, 31_622_400_001)).rejects.toMatchObject({ code: "23514" });
    await expect(insert(2, 31_622_400_000)).resolves.toBeDefined();
  });
});
