/**
 * What one call writes, for the `raw` group (issue 16): statements Postgres ran (from
 * pg_stat_statements, which run.ts preloads for this group), WAL bytes (the
 * pg_current_wal_lsn delta over the window: cluster-wide, so it includes whatever the
 * server does meanwhile, e.g. its sweepers) and the index entries a created run wrote
 * (each index of the run's tables whose predicate holds for the stored row). Together
 * they tell a create's cost made of rows and indexes from the one made of statements.
 */
import type pg from "pg";

/** Counters read before and after a window, through the cluster's admin connection. */
export interface WriteCounters {
  readonly walLsn: string;
  /** Statements executed in the side's database so far. */
  readonly statements: number;
}

/** Creates pg_stat_statements in the admin connection's database (the view lives there). */
export async function prepareWriteAccounting(admin: pg.Client): Promise<void> {
  await admin.query("create extension if not exists pg_stat_statements");
}

/** Reads the counters for `database` now. */
export async function readWriteCounters(admin: pg.Client, database: string): Promise<WriteCounters> {
  const { rows } = await admin.query<{ lsn: string; statements: string }>(
    `select pg_current_wal_lsn()::text as lsn,
       (select coalesce(sum(s.calls), 0) from pg_stat_statements s
        where s.dbid = (select oid from pg_database where datname = $1::text))::text as statements`,
    [database],
  );
  return { walLsn: rows[0]!.lsn, statements: Number(rows[0]!.statements) };
}

/** Per call between two readings: statements and WAL bytes. */
export async function writesPerCall(
  admin: pg.Client,
  from: WriteCounters,
  to: WriteCounters,
  calls: number,
): Promise<{ statements: number; walBytes: number }> {
  const { rows } = await admin.query<{ bytes: string }>(`select pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn)::text as bytes`, [
    to.walLsn,
    from.walLsn,
  ]);
  return { statements: (to.statements - from.statements) / calls, walBytes: Number(rows[0]!.bytes) / calls };
}

/** A stored row: its table (partitioned or not) and a condition that picks it alone. */
export interface SampleRow {
  readonly table: string;
  readonly where: string;
}

/**
 * Index entries the rows wrote when inserted: for each row, the indexes of the leaf
 * table it is stored in whose predicate (if any) it satisfies. A GIN index counts one
 * (an empty `labels` still stores an entry; a non-empty one stores one per key).
 */
export async function indexEntries(database: pg.Client, rows: readonly SampleRow[]): Promise<number> {
  let total = 0;
  for (const row of rows) {
    const leaf = await database.query<{ leaf: string }>(`select tableoid::regclass::text as leaf from ${row.table} where ${row.where}`);
    const leafName = leaf.rows[0]?.leaf;
    if (leafName === undefined) throw new Error(`no row of ${row.table} where ${row.where}`);
    const indexes = await database.query<{ predicate: string | null }>(
      `select pg_get_expr(indpred, indrelid) as predicate from pg_index where indrelid = $1::regclass`,
      [leafName],
    );
    const terms = indexes.rows.map((index) => (index.predicate === null ? "1" : `coalesce((${index.predicate})::int, 0)`));
    const counted = await database.query<{ entries: number }>(
      `select (${terms.join(" + ") || "0"})::int as entries from only ${leafName} where ${row.where}`,
    );
    total += counted.rows[0]!.entries;
  }
  return total;
}
