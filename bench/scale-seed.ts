/**
 * The `scale` group's data: a year of history for 100 tenants, written straight into
 * Postgres because the API would take hours to create it. Tenants, keys and workflows
 * come through the API (so keys, versions and hashes are the server's own); runs and
 * their events are generated server-side by `insert … select … from generate_series`,
 * runs and events of a chunk in one statement (pg-copy-streams is not installed, and
 * generating in Postgres sends no rows over the wire at all).
 *
 * Run n of `total` (1-based, in creation order) is made deterministically from n:
 * - tenant: every 5th run belongs to the big tenant (ordinal 0, a fifth of all runs),
 *   the others round-robin to tenants 1–99;
 * - create time: evenly over the year before the seed, oldest first, so the heap is in
 *   time order as a live server's would be; ids are UUIDv7-like (create time first);
 * - status: live runs (QUEUED 10 %, RUNNING 4 %, INTERRUPTED 4 %, SCHEDULED 2 %) among
 *   the newest 5 %; older runs are SUCCEEDED, FAILED (5.8 %), CANCELLED (2 %), TIMED_OUT
 *   (1 %) or, 0.2 % of them, still INTERRUPTED;
 * - labels env (3 values) and team (10 values); one of 4 workflows (the tenant's
 *   `counter` workflow gets none: the drain's runs are the only runs it has);
 * - events: 1 for QUEUED and SCHEDULED runs, 3–17 for the others (10 on average):
 *   a QUEUED (or SCHEDULED) status event first, RUNNING second once started, progress
 *   events, and the status the run ended in (or waits in) last; runs.last_sequence is
 *   the count.
 *
 * Live runs are left where the server leaves them alone: RUNNING leases expire in a
 * day, SCHEDULED runs come due within 1–30 days, and no run has a deadline.
 */
import pg from "pg";
import { WorkflowsService } from "../gen/runline/v1/workflows_service_pb.js";
import { say } from "./bench-context.js";
import { clientOf, createBenchTenant, jsonValue } from "./runline-side.js";

/** Tenants seeded; the first is the big one. */
export const tenantCount = 100;
/** The workflows each tenant's seeded runs use, besides `counter`. */
const seededWorkflows = ["ingest", "report", "email", "sync"];
/** Runs per statement: a chunk is one transaction of about 1/50 of the data at 5M. */
const chunkRuns = 100_000;

/** A tenant made through the API, with its admin key. */
export interface ScaleTenant {
  readonly ordinal: number;
  readonly slug: string;
  readonly key: string;
}

/** What seeding took, for the report. */
export interface SeedReport {
  readonly runs: number;
  readonly events: number;
  readonly insertSeconds: number;
  readonly indexSeconds: number;
  readonly vacuumSeconds: number;
  readonly databaseBytes: number;
}

/** Makes `tenantCount` tenants through the API, each with `counter` and the seeded workflows. */
export async function createScaleTenants(baseUrl: string, rootKey: string, count = tenantCount): Promise<ScaleTenant[]> {
  const tenants: ScaleTenant[] = [];
  for (let ordinal = 0; ordinal < count; ordinal++) {
    const slug = `scale-${String(ordinal).padStart(3, "0")}`;
    const key = await createBenchTenant(baseUrl, rootKey, slug);
    const workflows = clientOf(WorkflowsService, baseUrl, key);
    for (const workflow of seededWorkflows) await workflows.createWorkflow({ slug: workflow, definition: jsonValue({ kind: workflow }) });
    tenants.push({ ordinal, slug, key });
  }
  return tenants;
}

// One chunk: runs n = $1..$2 of $3, dated back from $4, and their events.
const seedChunk = `
  with g as (
    select n, abs(hashint4(n)) % 1000 as pick, abs(hashint4(n + 7919)) as spread,
      $4::timestamptz - interval '8760 hours' + (n::float8 / $3::int) * interval '8760 hours' as ct,
      n > $3::int * 0.95 as recent,
      case when n % 5 = 0 then 0 else 1 + (n / 5) % 99 end as tenant_ordinal
    from generate_series($1::int, $2::int) n
  ), s as (
    select g.*, case
        when recent and pick < 100 then 'QUEUED'
        when recent and pick < 140 then 'RUNNING'
        when recent and pick < 180 then 'INTERRUPTED'
        when recent and pick < 200 then 'SCHEDULED'
        when pick < 2 then 'INTERRUPTED'
        when pick < 60 then 'FAILED'
        when pick < 80 then 'CANCELLED'
        when pick < 90 then 'TIMED_OUT'
        else 'SUCCEEDED' end as status
    from g
  ), c as (
    select s.*, case
        when status in ('QUEUED', 'SCHEDULED') then 1
        when status = 'RUNNING' then 2 + spread % 9
        when status = 'INTERRUPTED' then 3 + spread % 9
        else 3 + (spread / 7) % 15 end as events
    from s
  ), r as (
    insert into runs (tenant_id, id, workflow_id, workflow_version, status, input, labels, attempt, max_attempts,
      created_by, schedule_time, create_time, update_time, start_time, end_time, last_sequence, ready_time,
      lease_id, lease_expire_time, worker_id, result, error, interrupt)
    select t.tenant_id,
      (lpad(to_hex((extract(epoch from c.ct) * 1000)::bigint), 12, '0') || '7' || lpad(to_hex(c.n % 4096), 3, '0')
        || '8000' || lpad(to_hex(c.n), 12, '0'))::uuid,
      w.workflow_id, 1, c.status,
      jsonb_build_object('n', c.n, 'batch', 'seed-' || c.n / 1000),
      jsonb_build_object('env', (array['prod', 'staging', 'dev'])[1 + c.pick % 3], 'team', 'team-' || c.spread % 10),
      case when c.status in ('QUEUED', 'SCHEDULED') then 0 else 1 end, 3, 'seed',
      case when c.status = 'SCHEDULED' then $4::timestamptz + (1 + c.pick % 30) * interval '24 hours' end,
      c.ct, c.ct + c.events * interval '1 second',
      case when c.status not in ('QUEUED', 'SCHEDULED') then c.ct + interval '1 second' end,
      case when c.status in ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT') then c.ct + c.events * interval '1 second' end,
      c.events,
      case when c.status = 'SCHEDULED' then $4::timestamptz + (1 + c.pick % 30) * interval '24 hours' else c.ct end,
      case when c.status = 'RUNNING' then gen_random_uuid() end,
      case when c.status = 'RUNNING' then $4::timestamptz + interval '24 hours' end,
      case when c.status = 'RUNNING' then 'seed-worker-' || c.spread % 16 end,
      case when c.status = 'SUCCEEDED' then jsonb_build_object('ok', true, 'count', c.spread % 100) end,
      case when c.status = 'FAILED' then '{"message": "step 3 failed", "code": "STEP_FAILED"}'::jsonb
           when c.status = 'TIMED_OUT' then '{"message": "the run timed out", "code": "TIMED_OUT"}'::jsonb end,
      case when c.status = 'INTERRUPTED' then '{"id": "approval", "reason": "waiting for a reviewer"}'::jsonb end
    from c
    join scale_tenants t on t.ordinal = c.tenant_ordinal
    join scale_workflows w on w.tenant_ordinal = c.tenant_ordinal and w.ordinal = c.spread % 4
    returning tenant_id, id, status, last_sequence, create_time
  )
  insert into run_events (tenant_id, run_id, sequence, type, status, data, create_time)
  select r.tenant_id, r.id, e.s,
    case when e.s <= 2 or (e.s = r.last_sequence and r.status <> 'RUNNING') then 'status' else 'progress' end,
    case when e.s = 1 then case when r.status = 'SCHEDULED' then 'SCHEDULED' else 'QUEUED' end
         when e.s = 2 then 'RUNNING'
         when e.s = r.last_sequence and r.status <> 'RUNNING' then r.status end,
    case when e.s > 2 and e.s < r.last_sequence
      then jsonb_build_object('step', e.s, 'message', 'step ' || e.s || ' done', 'fraction', round(e.s::numeric / r.last_sequence, 2)) end,
    r.create_time + e.s * interval '1 second'
  from r cross join lateral generate_series(1, r.last_sequence::int) e(s)`;

/** The tenants' and workflows' ids by ordinal, in temporary tables the chunks join. */
async function loadOrdinals(client: pg.Client, tenants: readonly ScaleTenant[]): Promise<void> {
  await client.query(`create temporary table scale_tenants (ordinal int primary key, tenant_id uuid not null)`);
  await client.query(
    `insert into scale_tenants select o.ordinal, t.id from unnest($1::text[]) with ordinality o(slug, ordinal) join tenants t using (slug)`,
    [tenants.map((tenant) => tenant.slug)],
  );
  await client.query(`update scale_tenants set ordinal = ordinal - 1`);
  await client.query(
    `
    create temporary table scale_workflows as
    select s.ordinal as tenant_ordinal, o.ordinal - 1 as ordinal, w.id as workflow_id
    from scale_tenants s cross join unnest($1::text[]) with ordinality o(slug, ordinal)
    join workflows w on w.tenant_id = s.tenant_id and w.slug = o.slug`,
    [seededWorkflows],
  );
  // Keep every run: where the schema has a retention period, new tenants get one (see above).
  await client.query(`
    do $$ begin
      if exists (select 1 from information_schema.columns where table_name = 'tenants' and column_name = 'retention_seconds') then
        execute 'update tenants set retention_seconds = 0 where id in (select tenant_id from scale_tenants)';
      end if;
    end $$`);
}

/** The secondary indexes of runs (not keys), dropped before the load and built after it. */
async function dropRunIndexes(client: pg.Client): Promise<string[]> {
  const { rows } = await client.query<{ name: string; definition: string }>(`
    select i.indexrelid::regclass::text as name, pg_get_indexdef(i.indexrelid) as definition
    from pg_index i
    where i.indrelid = 'runs'::regclass and not exists (select 1 from pg_constraint c where c.conindid = i.indexrelid)`);
  for (const row of rows) await client.query(`drop index ${row.name}`);
  return rows.map((row) => row.definition);
}

const seconds = (since: number) => (performance.now() - since) / 1000;

/**
 * Seeds `total` runs (and about ten times as many events) for `tenants` into the
 * database at `url`, which no server may use meanwhile (runs' indexes are rebuilt).
 */
export async function seedRuns(url: string, tenants: readonly ScaleTenant[], total: number): Promise<SeedReport> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await loadOrdinals(client, tenants);
    // A bulk load by the superuser: foreign keys are not checked row by row (replica role);
    // every reference is built from the tables just loaded, and checkConsistency proves it.
    await client.query(`set session_replication_role = replica`);
    await client.query(`set maintenance_work_mem = '1GB'`);
    const definitions = await dropRunIndexes(client);
    const { rows: clock } = await client.query<{ now: string }>(`select now()::text as now`);
    const loadStart = performance.now();
    for (let first = 1; first <= total; first += chunkRuns) {
      const last = Math.min(total, first + chunkRuns - 1);
      await client.query(seedChunk, [first, last, total, clock[0]!.now]);
      if (last % 1_000_000 === 0 || last === total)
        say(`  seeded ${last.toLocaleString("en-US")} runs in ${seconds(loadStart).toFixed(0)} s`);
    }
    const insertSeconds = seconds(loadStart);
    const indexStart = performance.now();
    for (const definition of definitions) await client.query(definition);
    const indexSeconds = seconds(indexStart);
    await client.query(`set session_replication_role = origin`);
    const vacuumStart = performance.now();
    await client.query(`vacuum (analyze) runs`);
    await client.query(`vacuum (analyze) run_events`);
    const vacuumSeconds = seconds(vacuumStart);
    const { rows: big } = await client.query<{ id: string }>(`select tenant_id as id from scale_tenants where ordinal = 0`);
    const counts = await checkConsistency(client, big[0]!.id);
    const { rows: size } = await client.query<{ bytes: string }>(`select pg_database_size(current_database())::text as bytes`);
    return { ...counts, insertSeconds, indexSeconds, vacuumSeconds, databaseBytes: Number(size[0]!.bytes) };
  } finally {
    await client.end();
  }
}

/**
 * The events add up to runs.last_sequence in total and, run by run, for the big tenant's
 * last two days (every status is there); the queue's partial index holds exactly the
 * QUEUED runs a plain scan finds. Throws when not.
 */
async function checkConsistency(client: pg.Client, bigTenant: string): Promise<{ runs: number; events: number }> {
  const { rows } = await client.query<{ runs: string; sequences: string; events: string; mismatched: string }>(
    `select (select count(*) from runs)::text as runs,
      (select sum(last_sequence) from runs)::text as sequences,
      (select count(*) from run_events)::text as events,
      (select count(*) from runs r where r.tenant_id = $1::uuid and r.create_time > now() - interval '48 hours'
        and (r.last_sequence, 1) <> (select count(*), min(e.sequence) from run_events e where e.tenant_id = r.tenant_id and e.run_id = r.id)
      )::text as mismatched`,
    [bigTenant],
  );
  const row = rows[0]!;
  if (row.sequences !== row.events || row.mismatched !== "0") {
    throw new Error(`seeded events do not match runs.last_sequence: ${JSON.stringify(row)}`);
  }
  const queued = `select count(*)::text as count from runs where status = 'QUEUED' and ready_time <= now()`;
  // Through the partial index (the planner's only cheap way), then by a plain scan.
  const { rows: viaIndex } = await client.query<{ count: string }>(queued);
  await client.query(`set enable_indexscan = off; set enable_bitmapscan = off; set enable_indexonlyscan = off`);
  const { rows: scanned } = await client.query<{ count: string }>(queued);
  await client.query(`reset enable_indexscan; reset enable_bitmapscan; reset enable_indexonlyscan`);
  if (viaIndex[0]!.count !== scanned[0]!.count) {
    throw new Error(`the queue index sees ${viaIndex[0]!.count} QUEUED runs, the table ${scanned[0]!.count}`);
  }
  return { runs: Number(row.runs), events: Number(row.events) };
}
