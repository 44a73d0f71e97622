/**
 * The weekly leaves of run_events_history (migration 0009 explains the layout): made
 * ahead of time by the server, and dropped whole once old, after the events of runs
 * that still exist have been moved to run_events_kept.
 *
 * Leaves run from Monday 00:00 UTC to the next, named `run_events_YYYYMMDD` after their
 * first day; the first leaf, run_events_legacy, holds what was stored before 0009. Bounds
 * are read back from the catalog, so the catalog is the one record of which weeks exist.
 * Every statement names its leaf in its text (DDL takes no parameters): names and
 * bounds come from Postgres itself and are checked against patterns before use.
 */
import type { Sql } from "../db/database.js";

/** A leaf of run_events_history. */
export interface EventLeaf {
  readonly name: string;
  /** Lower bound as Postgres writes a timestamptz; "-infinity" for the legacy leaf (MINVALUE). */
  readonly lowerBound: string;
  readonly upperBound: string;
}

// Leaves with their bounds as values. A bound reads `FOR VALUES FROM ('…') TO ('…')`
// (MINVALUE unquoted), written in the session's time zone, so the cast back is exact.
const leaves = `
  leaves as (
    select c.relname::text as name,
      coalesce((regexp_match(b.bound, 'FROM \\(''([^'']+)''\\)'))[1]::timestamptz, '-infinity') as lower_bound,
      (regexp_match(b.bound, 'TO \\(''([^'']+)''\\)'))[1]::timestamptz as upper_bound,
      i.inhdetachpending as detach_pending
    from pg_inherits i
    join pg_class c on c.oid = i.inhrelid
    cross join lateral (select pg_get_expr(c.relpartbound, c.oid) as bound) b
    where i.inhparent = 'run_events_history'::regclass
  )`;

// The next leaf to make when the last one ends before $1: from its end to the next
// Monday, or, after weeks without a server, to the Monday that began this week (one leaf
// spans the gap). Hours, not days: a day is not 24 h in a time zone with summer time.
const nextLeaf = `
  with ${leaves}, edge as (
    select coalesce(max(upper_bound), date_trunc('week', now(), 'UTC')) as lower_bound from leaves
  )
  select 'run_events_' || to_char(lower_bound at time zone 'UTC', 'YYYYMMDD') as name,
    lower_bound::text as "lowerBound",
    greatest(date_trunc('week', lower_bound, 'UTC') + interval '168 hours', date_trunc('week', now(), 'UTC'))::text as "upperBound"
  from edge
  where lower_bound < $1::timestamptz`;

// Leaves that were being detached when their detacher stopped.
const pendingDetaches = `with ${leaves} select name from leaves where detach_pending`;

// Leaves whose week ended a horizon before the clock ($1), and before Postgres's own
// now(): a week that the database still writes into (only a test's clock can pass it)
// is never dropped. The horizon is the longest finite retention of any tenant, so that
// by then most of the week's runs have expired and few events are moved; capped at $2
// seconds, so that one tenant's long retention does not keep every week for everyone
// (its runs' events are moved instead); $3 seconds when every tenant keeps runs forever.
const dueLeaves = `
  with ${leaves}, horizon as (
    select coalesce(least(max(retention_seconds), $2::int), $3::int) as seconds from tenants where retention_seconds > 0
  )
  select name, lower_bound::text as "lowerBound", upper_bound::text as "upperBound" from leaves, horizon
  where not detach_pending and upper_bound <= $1::timestamptz - horizon.seconds * interval '1 second' and upper_bound <= now()
  order by upper_bound`;

// One batch of a due leaf's runs, the next $3 after the cursor ($1, $2) in its primary
// key's order, found by a loose index scan (one descent per run, not a read of every
// event: 1M events of 10,000 runs took 1.2 s to scan, see bench/RESULTS.md). Those
// that still exist have all their rows of this week moved to run_events_kept (the
// UPDATE of the partition key moves them; the bounds prune it to this leaf). The rows
// of runs gone stay, to go with the leaf.
const moveBatch = (leaf: string) => `
  with recursive seen as (
    (select tenant_id, run_id from ${leaf}
     where (tenant_id, run_id) > ($1::uuid, $2::uuid) order by tenant_id, run_id limit 1)
    union all
    select next.tenant_id, next.run_id from seen cross join lateral (
      select tenant_id, run_id from ${leaf}
      where (tenant_id, run_id) > (seen.tenant_id, seen.run_id) order by tenant_id, run_id limit 1
    ) next
  ), batch as (
    select tenant_id, run_id from seen limit $3::int
  ), surviving as (
    select b.tenant_id, b.run_id from batch b
    where exists (select 1 from runs r where r.tenant_id = b.tenant_id and r.id = b.run_id)
  ), moved as (
    update run_events e set kept = true
    from surviving s
    where e.tenant_id = s.tenant_id and e.run_id = s.run_id
      and not e.kept and e.create_time >= $4::timestamptz and e.create_time < $5::timestamptz
    returning 1
  )
  select last.tenant_id, last.run_id, (select count(*) from moved)::int as moved
  from (select tenant_id, run_id from batch order by tenant_id desc, run_id desc limit 1) last`;

const leafName = /^run_events_(legacy|\d{8})$/;
const timestampText = /^-?infinity$|^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d+)?[+-]\d{2}(:\d{2})?$/;

function checkedName(name: string): string {
  if (!leafName.test(name)) throw new Error(`not a run_events leaf: ${JSON.stringify(name)}`);
  return name;
}

function checkedTime(text: string): string {
  if (!timestampText.test(text)) throw new Error(`not a timestamp: ${JSON.stringify(text)}`);
  return text;
}

/**
 * Makes weekly leaves until they cover `until` (a timestamptz). Safe from several
 * processes at once: each leaf is made in a transaction that holds an advisory lock and
 * looks for the next leaf again under it. ATTACH takes SHARE UPDATE EXCLUSIVE on
 * run_events_history, so reads and writes of events go on meanwhile (CREATE TABLE …
 * PARTITION OF would take ACCESS EXCLUSIVE). Returns the leaves made.
 */
export async function ensureEventLeaves(sql: Sql, until: string): Promise<string[]> {
  const made: string[] = [];
  for (;;) {
    const [candidate] = await sql.query<EventLeaf>(nextLeaf, [until]);
    if (candidate === undefined) return made;
    const leaf = await sql.transaction(async (transaction) => {
      await transaction.query(`select pg_advisory_xact_lock($1)`, [leafLockKey]);
      const [next] = await transaction.query<EventLeaf>(nextLeaf, [until]);
      if (next === undefined) return undefined;
      const name = checkedName(next.name);
      await transaction.query(`create table ${name} (like run_events including defaults including constraints)`);
      await transaction.query(`alter table ${name} alter column tenant_id set statistics 0`);
      await transaction.query(`alter table ${name} add constraint ${name}_pkey primary key (tenant_id, run_id, sequence)`);
      await transaction.query(`create unique index ${name}_event_id on ${name} (tenant_id, run_id, event_id) where event_id is not null`);
      await transaction.query(
        `alter table run_events_history attach partition ${name} for values from ('${checkedTime(next.lowerBound)}') to ('${checkedTime(next.upperBound)}')`,
      );
      return name;
    });
    if (leaf !== undefined) made.push(leaf);
  }
}

/** The lock that serialises leaf creation across processes (any constant of ours). */
const leafLockKey = 727_017;

/** Longest horizon (see dueLeaves): 90 days. */
export const longestHorizonSeconds = 90 * 86_400;
/** Horizon when every tenant keeps its runs forever: 30 days. */
export const defaultHorizonSeconds = 30 * 86_400;

/** Leaves due for dropping at `clockTime` (a timestamptz), oldest first. */
export async function dueEventLeaves(sql: Sql, clockTime: string): Promise<EventLeaf[]> {
  return sql.query<EventLeaf>(dueLeaves, [clockTime, longestHorizonSeconds, defaultHorizonSeconds]);
}

/**
 * Moves the events of the leaf's runs that still exist to run_events_kept, `batchRuns`
 * runs at a time (each batch its own short transaction, so no snapshot is held across
 * the leaf). Returns how many rows moved.
 */
export async function moveSurvivingEvents(sql: Sql, leaf: EventLeaf, batchRuns: number): Promise<number> {
  const statement = moveBatch(checkedName(leaf.name));
  let cursor = ["00000000-0000-0000-0000-000000000000", "00000000-0000-0000-0000-000000000000"];
  let moved = 0;
  for (;;) {
    const [last] = await sql.query<{ tenant_id: string; run_id: string; moved: number }>(statement, [
      ...cursor,
      batchRuns,
      leaf.lowerBound,
      leaf.upperBound,
    ]);
    if (last === undefined) return moved;
    moved += last.moved;
    cursor = [last.tenant_id, last.run_id];
  }
}

/**
 * Detaches a leaf without blocking readers or writers of run_events (CONCURRENTLY: two
 * transactions, the second waiting out every snapshot that may still read the leaf),
 * then drops it. Must run outside a transaction block. A detach cut short leaves the
 * leaf "detach pending"; finishPendingDetaches completes it.
 */
export async function dropEventLeaf(sql: Sql, name: string): Promise<void> {
  await sql.query(`alter table run_events_history detach partition ${checkedName(name)} concurrently`);
  await sql.query(`drop table ${name}`);
}

/** Completes and drops detaches that were cut short; returns their leaves. */
export async function finishPendingDetaches(sql: Sql): Promise<string[]> {
  const pending = await sql.query<{ name: string }>(pendingDetaches);
  for (const { name } of pending) {
    await sql.query(`alter table run_events_history detach partition ${checkedName(name)} finalize`);
    await sql.query(`drop table ${name}`);
  }
  return pending.map((row) => row.name);
}
