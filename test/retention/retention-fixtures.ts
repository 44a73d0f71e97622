/**
 * What the retention tests share: runs made through the API (finished or live, with
 * events, an idempotency key and a webhook), a look at the database as it is (rows by
 * run, leaves of run_events), and history made old by moving its times back.
 */
import pg from "pg";
import { afterAll } from "vitest";
import { AdminService } from "../../gen/runline/v1/admin_service_pb.js";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { clientFor, createCounterWorkflow, createTenant, json, type TenantFixture } from "../support/clients.js";
import { dayMs } from "../support/retention-clock.js";
import { testRootKey } from "../support/test-server.js";

/** A connection to the test database, closed after the file; times print in UTC. */
export async function databaseClient(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, options: "-c TimeZone=UTC" });
  await client.connect();
  afterAll(() => client.end());
  return client;
}

/** Sets a tenant's retention through AdminService. */
export async function setRetentionDays(baseUrl: string, tenantId: string, days: number): Promise<void> {
  await clientFor(AdminService, "connect-json", baseUrl, testRootKey).updateTenant({
    tenant: { id: tenantId, retention: durationFromMs(days * dayMs) },
    updateMask: { paths: ["retention"] },
  });
}

/** A tenant with the counter workflow and `retentionDays` (undefined: the default). */
export async function retentionTenant(baseUrl: string, retentionDays?: number): Promise<TenantFixture> {
  const tenant = await createTenant(baseUrl);
  await createCounterWorkflow(tenant);
  if (retentionDays !== undefined) await setRetentionDays(baseUrl, tenant.tenantId, retentionDays);
  return tenant;
}

/** Options of makeRuns. */
export interface RunShape {
  /** Cancelled at once (CANCELLED, terminal), or left QUEUED. */
  readonly finished: boolean;
  /** Events ingested before it is cancelled (besides its status events). */
  readonly events?: number;
  /** A per-run webhook to this URL (a delivery per terminal status). */
  readonly webhookUrl?: string;
}

/** Makes `count` runs of the counter workflow, each with its own idempotency key; returns their ids. */
export async function makeRuns(tenant: TenantFixture, count: number, shape: RunShape): Promise<string[]> {
  const runs = tenant.runs();
  const ids: string[] = [];
  for (let index = 0; index < count; index++) {
    const { run } = await runs.createRun({
      workflow: "counter",
      input: json({ n: index }),
      idempotencyKey: `key-${Date.now()}-${Math.random()}`,
      ...(shape.webhookUrl === undefined ? {} : { webhook: { url: shape.webhookUrl } }),
    });
    const events = Array.from({ length: shape.events ?? 3 }, (_, n) => ({ type: "progress", data: json({ n }), eventId: `e${n}` }));
    await runs.ingestRunEvents({ runId: run!.id, events });
    if (shape.finished) await runs.cancelRun({ runId: run!.id, reason: "done" });
    ids.push(run!.id);
  }
  return ids;
}

/** Every row of `table` whose `column` is one of `ids`, as JSON, in a stable order. */
export async function rowsOf(client: pg.Client, table: string, column: string, ids: readonly string[]): Promise<unknown[]> {
  const { rows } = await client.query<{ row: unknown }>(
    `select to_jsonb(t) as row from ${table} t where ${column} = any($1::uuid[]) order by to_jsonb(t)::text`,
    [ids],
  );
  return rows.map((row) => row.row);
}

/** A run's events as stored, wherever they are (any leaf), with the leaf's name. */
export async function storedEvents(
  client: pg.Client,
  ids: readonly string[],
): Promise<{ leaf: string; run_id: string; sequence: string }[]> {
  const { rows } = await client.query<{ leaf: string; run_id: string; sequence: string }>(
    `select tableoid::regclass::text as leaf, run_id, sequence from run_events where run_id = any($1::uuid[]) order by run_id, sequence`,
    [ids],
  );
  return rows;
}

/** A leaf of run_events_history: its bound as Postgres writes it, and as epoch milliseconds. */
export interface HistoryLeaf {
  readonly name: string;
  readonly bound: string;
  readonly pending: boolean;
  /** null for MINVALUE. */
  readonly lowerMs: number | null;
  readonly upperMs: number;
}

/** The leaves of run_events_history, oldest first. */
export async function historyLeaves(client: pg.Client): Promise<HistoryLeaf[]> {
  const { rows } = await client.query<HistoryLeaf>(
    `select c.relname as name, b.bound, i.inhdetachpending as pending,
       (extract(epoch from (regexp_match(b.bound, 'FROM \\(''([^'']+)''\\)'))[1]::timestamptz) * 1000)::float8 as "lowerMs",
       (extract(epoch from (regexp_match(b.bound, 'TO \\(''([^'']+)''\\)'))[1]::timestamptz) * 1000)::float8 as "upperMs"
     from pg_inherits i join pg_class c on c.oid = i.inhrelid
     cross join lateral (select pg_get_expr(c.relpartbound, c.oid) as bound) b
     where i.inhparent = 'run_events_history'::regclass
     order by 5`,
  );
  return rows;
}

/**
 * Makes runs look `days` older than they are: their times, and their events' times
 * (which moves those rows into an older leaf, as an UPDATE of the partition key does).
 */
export async function ageRuns(client: pg.Client, ids: readonly string[], days: number): Promise<void> {
  const shift = `interval '${days * 24} hours'`;
  await client.query(
    `update runs set create_time = create_time - ${shift}, update_time = update_time - ${shift},
       ready_time = ready_time - ${shift}, end_time = end_time - ${shift}
     where id = any($1::uuid[])`,
    [ids],
  );
  await client.query(`update run_events set create_time = create_time - ${shift} where run_id = any($1::uuid[])`, [ids]);
}
