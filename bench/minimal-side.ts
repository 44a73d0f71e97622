/**
 * The minimal baseline of issue 16: what this box does for a run service with no
 * schema to speak of. A narrow runs table (id, tenant, workflow, status, input,
 * create_time; a primary key and nothing else) taking one `insert … on conflict do
 * nothing` per run, and a narrow events table taking a batch of 100 rows in one
 * statement. No status event, no NOTIFY, no idempotency table, no secondary index:
 * the floor that Runline's CreateRun and IngestRunEvents are measured against, beside
 * the same-SQL baseline (baseline-side.ts) that tells the schema's cost from the
 * server's.
 */
import pg from "pg";
import { newId } from "../src/ids.js";
import type { Operation } from "./load.js";

// Named, so each connection plans them once, as the server's statements are.
const insertRun = {
  name: "minimal_insert_run",
  text: `insert into minimal_runs (id, tenant_id, workflow, status, input)
         values ($1::uuid, $2::uuid, $3::text, 'QUEUED', $4::jsonb) on conflict do nothing`,
};
const insertEvents = {
  name: "minimal_insert_events",
  text: `insert into minimal_events (run_id, sequence, type, data)
         select $1::uuid, $2::bigint + x.ordinality, x.type, x.data
         from unnest($3::text[], $4::jsonb[]) with ordinality as x(type, data, ordinality)`,
};

/** The minimal tables in the database of `url` and a pool over them. */
export interface MinimalBaseline {
  /** One run inserted, idempotent by its id. */
  readonly createRun: Operation;
  /** One batch of events for the caller's own run, sequences from a counter of its own. */
  readonly ingestEvents: Operation;
  close(): Promise<void>;
}

/** Creates the two tables (in a database that already exists) and returns their operations. */
export async function openMinimalBaseline(
  url: string,
  callers: number,
  events: readonly { type: string; data: unknown }[],
): Promise<MinimalBaseline> {
  const pool = new pg.Pool({ connectionString: url, max: callers });
  await pool.query(`
    create table minimal_runs (
      id uuid primary key,
      tenant_id uuid not null,
      workflow text not null,
      status text not null,
      input jsonb,
      create_time timestamptz not null default now())`);
  await pool.query(`
    create table minimal_events (
      run_id uuid not null,
      sequence bigint not null,
      type text not null,
      data jsonb,
      create_time timestamptz not null default now(),
      primary key (run_id, sequence))`);
  const tenantId = newId();
  const runIds = Array.from({ length: callers }, () => newId());
  const sequences = runIds.map(() => 0);
  const types = events.map((event) => event.type);
  const data = events.map((event) => JSON.stringify(event.data));
  let created = 0;
  return {
    createRun: async () => {
      await pool.query({ ...insertRun, values: [newId(), tenantId, "counter", JSON.stringify({ n: created++ })] });
      return 1;
    },
    ingestEvents: async (caller) => {
      const after = sequences[caller]!;
      sequences[caller] = after + events.length;
      const inserted = await pool.query({ ...insertEvents, values: [runIds[caller], after, types, data] });
      return inserted.rowCount ?? 0;
    },
    close: () => pool.end(),
  };
}
