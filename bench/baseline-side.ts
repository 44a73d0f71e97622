/**
 * The raw `pg` baseline: the SQL work Runline does per CreateRun and per
 * IngestRunEvents, and nothing else (no HTTP, no protobuf, no auth, no ORM, no schema
 * validation), on a `pg.Pool` with one connection per caller.
 *
 * CreateRun runs the server's own statement (lifecycle/create-statements.ts,
 * `insertRunStatement`, with its latest-version guard), so the two sides cannot drift
 * apart. The other statements are copies of the private ones in src/runs/create-run.ts
 * (`resolveTargetBySlug`) and src/runs/event-append.ts (`lockRun`, `appendStatement`);
 * when those change, change these, or the ratio compares different work. Like the server's version cache
 * (`createRunTargetCache`), the baseline resolves the workflow's version once and then
 * creates each run in one statement that re-checks "still latest". Like the server's
 * event hub, the baseline keeps one LISTEN connection on the events channel: a NOTIFY
 * costs more when a backend of the same database listens.
 */
import pg from "pg";
import { migrateDatabase, openDatabase } from "../src/db/database.js";
import { eventsChannel, notifyExpression } from "../src/runs/lifecycle/notify-channel.js";
import { newId } from "../src/ids.js";
import { insertRunStatement } from "../src/runs/lifecycle/create-statements.js";
import type { Operation } from "./load.js";

// Copy of create-run.ts resolveTargetBySlug: workflows (tenant_id, slug) unique index,
// then the workflow_versions primary key.
const resolveTargetBySlug = `
  select w.id as workflow_id, v.version, v.input_schema, v.defaults, v.content_hash
  from workflows w
  join workflow_versions v on v.tenant_id = w.tenant_id and v.workflow_id = w.id
   and v.version = case when $3::int = 0 then w.latest_version else $3::int end
  where w.tenant_id = $1::uuid and w.slug = $2::text`;

// Copy of event-append.ts lockRun: the runs primary key; the row lock orders appenders.
const lockRun = `select status, last_sequence from runs where tenant_id = $1::uuid and id = $2::uuid for update`;

// Copy of event-append.ts appendStatement: the batch, last_sequence, one NOTIFY.
const appendStatement = `
  with e as (
    insert into run_events (tenant_id, run_id, sequence, type, data, event_id)
    select $1::uuid, $2::uuid, $3::bigint + x.ordinality, x.type, x.data, x.event_id
    from unnest($4::text[], $5::jsonb[], $6::text[]) with ordinality as x(type, data, event_id, ordinality)
    returning run_id, sequence, type, data, status, event_id, create_time
  ), r as (
    update runs set last_sequence = $3::bigint + (select count(*) from e)
    where tenant_id = $1::uuid and id = $2::uuid
    returning tenant_id, id, last_sequence
  ), n as (select ${notifyExpression("r")} from r)
  select e.*, (select count(*) from n) as notified from e order by e.sequence`;

const workflowSlug = "counter";
const createdBy = "bench-baseline";

/** A migrated, seeded baseline database and its pool. */
export interface Baseline {
  /** One CreateRun's SQL with a warm version cache: insert run and status event, re-checking the version. */
  readonly createRun: Operation;
  /** One IngestRunEvents' SQL for the caller's own run, `batch` events per call. */
  readonly ingestEvents: Operation;
  close(): Promise<void>;
}

/** Applies Runline's migrations to the empty database at `url` with Runline's own code. */
async function migrate(url: string): Promise<void> {
  const database = await openDatabase({ url, poolSize: 2 });
  try {
    await migrateDatabase(database, url);
  } finally {
    await database.close();
  }
}

/** What AdminService.CreateTenant and WorkflowsService.CreateWorkflow would have stored. */
async function seedWorkflow(pool: pg.Pool): Promise<string> {
  const tenantId = newId();
  const workflowId = newId();
  await pool.query(`insert into tenants (id, slug) values ($1::uuid, 'baseline')`, [tenantId]);
  await pool.query(`insert into workflows (tenant_id, id, slug, latest_version) values ($1::uuid, $2::uuid, $3::text, 1)`, [
    tenantId,
    workflowId,
    workflowSlug,
  ]);
  const schema = { type: "object", properties: { n: { type: "integer" } }, required: ["n"] };
  await pool.query(
    `insert into workflow_versions (tenant_id, workflow_id, version, definition, input_schema, content_hash) values ($1::uuid, $2::uuid, 1, $3::jsonb, $4::jsonb, 'bench')`,
    [tenantId, workflowId, JSON.stringify({ kind: "counter" }), JSON.stringify(schema)],
  );
  return tenantId;
}

interface TargetRow {
  workflow_id: string;
  version: number;
}

/** Resolves the workflow's latest version, as a cold cache does on the first CreateRun. */
async function resolveTarget(pool: pg.Pool, tenantId: string): Promise<TargetRow> {
  const { rows } = await pool.query<TargetRow>(resolveTargetBySlug, [tenantId, workflowSlug, 0]);
  return rows[0]!;
}

/** The parameters create-run.ts binds for a run with no options set and a cached target. */
async function insertOneRun(pool: pg.Pool, tenantId: string, target: TargetRow, n: number): Promise<string> {
  const parameters = insertRunStatement.values({
    tenantId,
    runId: newId(),
    workflowId: target.workflow_id,
    version: target.version,
    input: JSON.stringify({ n }),
    labels: JSON.stringify({}),
    maxAttempts: 1,
    priority: 0,
    timeoutMs: null,
    backoffMs: 1000,
    createdBy,
    idempotencyKey: null,
    webhookUrl: null,
    webhookIntermediate: false,
    scheduleTime: null,
    checkLatest: true,
  });
  const inserted = await pool.query<{ id: string }>({ name: "baseline_insert_run", text: insertRunStatement.text, values: parameters });
  if (inserted.rows.length === 0) throw new Error("the cached workflow version is no longer the latest");
  return inserted.rows[0]!.id;
}

/** One transaction as appendEvents runs it (no event ids, so no de-duplication read). */
async function appendBatch(
  pool: pg.Pool,
  tenantId: string,
  runId: string,
  events: readonly { type: string; data: unknown }[],
): Promise<number> {
  const client = await pool.connect();
  try {
    await client.query("begin");
    const locked = await client.query<{ last_sequence: string }>({ name: "baseline_lock_run", text: lockRun, values: [tenantId, runId] });
    const inserted = await client.query({
      name: "baseline_append",
      text: appendStatement,
      values: [
        tenantId,
        runId,
        locked.rows[0]!.last_sequence,
        events.map((event) => event.type),
        events.map((event) => JSON.stringify(event.data)),
        events.map(() => null),
      ],
    });
    await client.query("commit");
    return inserted.rowCount ?? 0;
  } catch (error) {
    await client.query("rollback");
    throw error;
  } finally {
    client.release();
  }
}

/** Migrates and seeds the database at `url`, with one run per caller for ingestion. */
export async function openBaseline(url: string, callers: number, events: readonly { type: string; data: unknown }[]): Promise<Baseline> {
  await migrate(url);
  const pool = new pg.Pool({ connectionString: url, max: callers });
  const listener = new pg.Client({ connectionString: url });
  await listener.connect();
  await listener.query(`listen ${eventsChannel}`);
  const tenantId = await seedWorkflow(pool);
  const target = await resolveTarget(pool, tenantId);
  const runIds: string[] = [];
  for (let caller = 0; caller < callers; caller++) runIds.push(await insertOneRun(pool, tenantId, target, caller));
  let created = 0;
  return {
    createRun: async () => {
      await insertOneRun(pool, tenantId, target, created++);
      return 1;
    },
    ingestEvents: (caller) => appendBatch(pool, tenantId, runIds[caller]!, events),
    close: async () => {
      await listener.end();
      await pool.end();
    },
  };
}
