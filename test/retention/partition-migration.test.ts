/**
 * Migration 0009 on a database with events stored the old way: every row of run_events
 * is still there, column for column, now in the first leaf (run_events_legacy, up to
 * the migration's time), except one stamped in the future by hand, restamped with that
 * time. Runs, keys and tenants are untouched (existing tenants keep runs forever), the
 * foreign keys that cascaded row by row are gone, and a server on the migrated database
 * appends after the stored sequences and still recognises stored event ids.
 */
import pg from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import { migrateDatabase, openDatabase, type Database } from "../../src/db/database.js";
import { RunsService } from "../../gen/runline/v1/runs_service_pb.js";
import { AdminService, Scope } from "../../gen/runline/v1/admin_service_pb.js";
import { clientFor, json } from "../support/clients.js";
import { createEmptyDatabase } from "../support/test-database.js";
import { startTestServer, testRootKey } from "../support/test-server.js";
import { historyLeaves } from "./retention-fixtures.js";

const tenant = "00000000-0000-4000-8000-00000000c001";
const workflow = "00000000-0000-4000-8000-00000000c002";
const run = (n: number) => `00000000-0000-4000-8000-0000000001${String(n).padStart(2, "0")}`;
const runCount = 20;
const eventsPerRun = 250;
/** Run 0's last event, stamped far ahead by hand. */
const future = "2999-01-01 00:00:00+00";

let url: string;
let database: Database;
let client: pg.Client;
let before: Map<string, Record<string, unknown>>;
let otherTables: Record<string, unknown[]>;
let migratedAt: { before: number; after: number };

/** Every event as JSON (without the column 0009 adds), by "run/sequence". */
async function events(): Promise<Map<string, Record<string, unknown>>> {
  const { rows } = await client.query<{ key: string; row: Record<string, unknown> }>(
    `select run_id || '/' || sequence as key, to_jsonb(e) - 'kept' as row from run_events e`,
  );
  return new Map(rows.map((row) => [row.key, row.row]));
}

async function tables(): Promise<Record<string, unknown[]>> {
  const result: Record<string, unknown[]> = {};
  for (const table of ["runs", "idempotency_keys", "workflows", "workflow_versions"]) {
    result[table] = (await client.query(`select to_jsonb(t) as row from ${table} t order by to_jsonb(t)::text`)).rows;
  }
  return result;
}

beforeAll(async () => {
  url = await createEmptyDatabase();
  database = await openDatabase({ url, poolSize: 2 });
  await database.orm.migrator.up({ to: "0008-access-tokens" });
  client = new pg.Client({ connectionString: url, options: "-c TimeZone=UTC" });
  await client.connect();
  await client.query(`insert into tenants (id, slug) values ($1, 'old')`, [tenant]);
  await client.query(`insert into workflows (tenant_id, id, slug, latest_version) values ($1, $2, 'counter', 1)`, [tenant, workflow]);
  await client.query(
    `insert into workflow_versions (tenant_id, workflow_id, version, definition, defaults, content_hash) values ($1, $2, 1, '{}', '{}', 'h')`,
    [tenant, workflow],
  );
  for (let n = 0; n < runCount; n++) {
    await client.query(
      `insert into runs (tenant_id, id, workflow_id, workflow_version, status, created_by, idempotency_key, last_sequence)
       values ($1, $2, $3, 1, $4, 'k', $5, $6)`,
      [tenant, run(n), workflow, n % 2 === 0 ? "SUCCEEDED" : "RUNNING", `key-${n}`, eventsPerRun],
    );
    await client.query(
      `insert into idempotency_keys (tenant_id, key, request_hash, run_id, expire_time) values ($1, $2, 'h', $3, now() + interval '1 day')`,
      [tenant, `key-${n}`, run(n)],
    );
    // Events of every kind, over the last three years, with and without ids and data.
    await client.query(
      `insert into run_events (tenant_id, run_id, sequence, type, data, status, event_id, create_time)
       select $1, $2, s, case when s = 1 then 'status' else 'progress' end,
         case when s % 3 = 0 then null else jsonb_build_object('s', s, 'text', repeat('x', s)) end,
         case when s = 1 then 'QUEUED' end,
         case when s % 2 = 0 then 'id-' || s end,
         case when $3::int = 0 and s = $4::int then $5::timestamptz
              else now() - (s * interval '4 days') - ($3::int * interval '1 hour') end
       from generate_series(1, $4::int) s`,
      [tenant, run(n), n, eventsPerRun, future],
    );
  }
  before = await events();
  otherTables = await tables();
  migratedAt = { before: Date.now(), after: 0 };
  expect(await migrateDatabase(database, url)).toEqual(["0009-event-partitions", "0010-tenant-labels"]);
  migratedAt.after = Date.now();
});

afterAll(async () => {
  await client.end();
  await database.close();
});

it("keeps every event row as it was, in run_events_legacy; only the one stamped in the future is restamped", async () => {
  const after = await events();
  expect(after.size).toBe(runCount * eventsPerRun);
  const restamped = `${run(0)}/${eventsPerRun}`;
  for (const [key, row] of before) {
    if (key === restamped) continue;
    expect(after.get(key)).toEqual(row);
  }
  const { create_time: stamp, ...rest } = after.get(restamped)!;
  const { create_time: _, ...restBefore } = before.get(restamped)!;
  expect(rest).toEqual(restBefore);
  expect(Date.parse(stamp as string)).toBeGreaterThanOrEqual(migratedAt.before - 1000);
  expect(Date.parse(stamp as string)).toBeLessThanOrEqual(migratedAt.after);
  const { rows } = await client.query(`select distinct tableoid::regclass::text as leaf, kept from run_events`);
  expect(rows).toEqual([{ leaf: "run_events_legacy", kept: false }]);
});

it("leaves runs, keys and workflows untouched, and existing tenants keeping runs forever", async () => {
  expect(await tables()).toEqual(otherTables);
  const { rows } = await client.query(`select retention_seconds from tenants`);
  expect(rows).toEqual([{ retention_seconds: 0 }]);
});

it("makes run_events a tree of leaves: kept, and history by week from the legacy leaf on", async () => {
  const { rows: tree } = await client.query(
    `select p.relname as parent, c.relname as child from pg_inherits i
     join pg_class p on p.oid = i.inhparent join pg_class c on c.oid = i.inhrelid
     where p.relname in ('run_events', 'run_events_history') order by 1, 2`,
  );
  expect(tree.filter((row) => row.parent === "run_events")).toEqual([
    { parent: "run_events", child: "run_events_history" },
    { parent: "run_events", child: "run_events_kept" },
  ]);
  const leaves = await historyLeaves(client);
  expect(leaves.map((leaf) => leaf.name)).toEqual([
    "run_events_legacy",
    expect.stringMatching(/^run_events_\d{8}$/),
    expect.stringMatching(/^run_events_\d{8}$/),
  ]);
  expect(leaves[0]!.lowerMs).toBeNull();
  expect(leaves[0]!.upperMs).toBeGreaterThanOrEqual(migratedAt.before - 1000);
  expect(leaves[1]!.lowerMs).toBe(leaves[0]!.upperMs);
  expect(leaves[2]!.lowerMs).toBe(leaves[1]!.upperMs);
  const { rows: keys } = await client.query(
    `select conname from pg_constraint where contype = 'f' and confrelid = 'runs'::regclass order by 1`,
  );
  expect(keys).toEqual([]);
});

it("lets a server append after the stored sequences and recognise a stored event id", async () => {
  const server = await startTestServer(url);
  const admin = clientFor(AdminService, "connect-json", server.url, testRootKey);
  const { secret } = await admin.createApiKey({ tenant, scopes: [Scope.ADMIN] });
  const runs = clientFor(RunsService, "connect-json", server.url, secret);
  const { events: appended } = await runs.ingestRunEvents({
    runId: run(1),
    events: [
      { type: "progress", data: json({ n: 1 }), eventId: "id-2" },
      { type: "progress", data: json({ n: 2 }), eventId: "new" },
    ],
  });
  expect(appended.map((event) => event.sequence)).toEqual([2n, BigInt(eventsPerRun + 1)]);
  const { events: read } = await runs.listRunEvents({ runId: run(1), afterSequence: BigInt(eventsPerRun - 1) });
  expect(read.map((event) => event.sequence)).toEqual([BigInt(eventsPerRun), BigInt(eventsPerRun + 1)]);
});
