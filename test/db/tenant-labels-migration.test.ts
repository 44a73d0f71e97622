/**
 * Migration 0010 on runs stored by 0009: runs_tenant_labels (labels keyed by tenant)
 * replaces the global runs_labels, built concurrently outside a transaction; runs stored
 * before it are found by their labels, within their tenant only. An interrupted apply
 * (a failed concurrent build leaves an INVALID index; a crash after the build leaves a
 * valid one, unrecorded) is finished by the next one.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import { migrateDatabase, openDatabase, type Database } from "../../src/db/database.js";
import { createPageTokens } from "../../src/runs/page-token.js";
import { everyRun, listRuns } from "../../src/runs/run-queries.js";
import { createEmptyDatabase } from "../support/test-database.js";

const tenants = ["00000000-0000-4000-8000-00000000c001", "00000000-0000-4000-8000-00000000c002"];
const workflow = "00000000-0000-4000-8000-00000000c0ff";
/** Runs as 0009 stored them: [tenant index, labels]. */
const stored: [tenant: number, labels: Record<string, string>][] = [
  [0, { team: "a", env: "dev" }],
  [0, { team: "a", env: "prod" }],
  [0, { team: "b", env: "dev" }],
  [0, {}],
  [1, { team: "a", env: "dev" }],
  [1, { team: "a" }],
];
const run = (n: number) => `00000000-0000-4000-8000-0000000000${String(n).padStart(2, "0")}`;
const pageTokens = createPageTokens(randomBytes(32));

let url: string;
let database: Database;
let client: pg.Client;

/** The runs' indexes as pg_indexes and pg_index show them. */
async function runIndexes(): Promise<Map<string, { definition: string; valid: boolean }>> {
  const { rows } = await client.query<{ name: string; definition: string; valid: boolean }>(
    `select c.relname as name, pg_get_indexdef(i.indexrelid) as definition, i.indisvalid as valid
     from pg_index i join pg_class c on c.oid = i.indexrelid where i.indrelid = 'runs'::regclass`,
  );
  return new Map(rows.map((row) => [row.name, { definition: row.definition, valid: row.valid }]));
}

/** Ids of tenant `tenant`'s runs carrying `labels`, as ListRuns finds them, sorted. */
async function labelled(tenant: number, labels: Record<string, string>): Promise<string[]> {
  const page = await listRuns(database.sql, pageTokens, tenants[tenant]!, { ...everyRun, labels }, 50, "");
  return page.runs.map((found) => found.id).sort();
}

beforeAll(async () => {
  url = await createEmptyDatabase();
  database = await openDatabase({ url, poolSize: 2 });
  await database.orm.migrator.up({ to: "0009-event-partitions" });
  client = new pg.Client({ connectionString: url });
  await client.connect();
  for (const [index, tenant] of tenants.entries()) {
    await client.query(`insert into tenants (id, slug) values ($1, $2)`, [tenant, `t${index}`]);
    await client.query(`insert into workflows (tenant_id, id, slug, latest_version) values ($1, $2, 'w', 1)`, [tenant, workflow]);
    await client.query(
      `insert into workflow_versions (tenant_id, workflow_id, version, definition, defaults, content_hash)
       values ($1, $2, 1, '{}', '{}', 'h')`,
      [tenant, workflow],
    );
  }
  for (const [n, [tenant, labels]] of stored.entries()) {
    await client.query(
      `insert into runs (tenant_id, id, workflow_id, workflow_version, status, created_by, labels)
       values ($1, $2, $3, 1, 'SUCCEEDED', 'k', $4::jsonb)`,
      [tenants[tenant], run(n), workflow, JSON.stringify(labels)],
    );
  }
  // An earlier apply whose concurrent build failed: it left an INVALID index of that name
  // (here with another expression: the division fails on the first row).
  await client.query(`create index concurrently runs_tenant_labels on runs ((1 / (length(id::text) - 36)))`).then(
    () => expect.fail("the build should fail"),
    (error: unknown) => expect(String(error)).toMatch(/division by zero/),
  );
  expect((await runIndexes()).get("runs_tenant_labels")?.valid).toBe(false);
  expect(await migrateDatabase(database, url)).toEqual(["0010-tenant-labels"]);
});

afterAll(async () => {
  await client.end();
  await database.close();
});

it("replaces runs_labels by a valid runs_tenant_labels keyed by tenant, rebuilding a failed build", async () => {
  const indexes = await runIndexes();
  expect(indexes.has("runs_labels")).toBe(false);
  expect(indexes.get("runs_tenant_labels")).toEqual({
    definition:
      "CREATE INDEX runs_tenant_labels ON public.runs USING gin (jsonb_set('{}'::jsonb, ARRAY[(tenant_id)::text], labels) jsonb_path_ops)",
    valid: true,
  });
});

it("finds the runs stored before it by their labels, in their own tenant only", async () => {
  expect(await labelled(0, { team: "a" })).toEqual([run(0), run(1)]);
  expect(await labelled(0, { team: "a", env: "dev" })).toEqual([run(0)]);
  expect(await labelled(0, { env: "dev" })).toEqual([run(0), run(2)]);
  expect(await labelled(0, { team: "c" })).toEqual([]);
  expect(await labelled(1, { team: "a" })).toEqual([run(4), run(5)]);
  expect(await labelled(1, { team: "b" })).toEqual([]);
});

it("finds runs written after it, through the new index", async () => {
  await client.query(
    `insert into runs (tenant_id, id, workflow_id, workflow_version, status, created_by, labels)
     values ($1, $2, $3, 1, 'QUEUED', 'k', '{"team": "b", "env": "dev"}')`,
    [tenants[1], run(50), workflow],
  );
  expect(await labelled(1, { team: "b" })).toEqual([run(50)]);
  expect(await labelled(0, { team: "b" })).toEqual([run(2)]);
});

it("applies again after a crash between the build and its record, keeping the valid index", async () => {
  const { rows: built } = await client.query<{ oid: number }>(`select 'runs_tenant_labels'::regclass::oid as oid`);
  await client.query(`delete from runline_migrations where name = '0010-tenant-labels'`);
  expect(await migrateDatabase(database, url)).toEqual(["0010-tenant-labels"]);
  const { rows: kept } = await client.query<{ oid: number }>(`select 'runs_tenant_labels'::regclass::oid as oid`);
  expect(kept).toEqual(built);
  expect((await runIndexes()).has("runs_labels")).toBe(false);
  expect(await migrateDatabase(database, url)).toEqual([]);
});
