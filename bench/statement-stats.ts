/**
 * What Postgres ran during a measured phase, from pg_stat_statements (BENCH_STATEMENTS=1;
 * run.ts then preloads the extension): calls, rows and execution time of the busiest
 * statements, to tell which statements a change added and what each costs per row.
 */
import type pg from "pg";
import { say } from "./bench-context.js";

/** Whether BENCH_STATEMENTS asks for statement counts. */
export function statementStatsWanted(): boolean {
  return process.env.BENCH_STATEMENTS === "1";
}

/** Creates the extension in `database` and forgets what it counted so far (a no-op unless wanted). */
export async function resetStatementStats(database: pg.Client): Promise<void> {
  if (!statementStatsWanted()) return;
  await database.query("create extension if not exists pg_stat_statements");
  await database.query("select pg_stat_statements_reset()");
}

/**
 * Prints the `top` statements by calls since the last reset, under `title` (a no-op unless
 * wanted): those of `databaseName`, by default the database `database` is connected to.
 */
export async function printStatementStats(database: pg.Client, title: string, top = 6, databaseName?: string): Promise<void> {
  if (!statementStatsWanted()) return;
  const { rows } = await database.query<{
    calls: string;
    rows: string;
    ms: string;
    wal: string;
    dirtied: string;
    read: string;
    text: string;
  }>(
    `select s.calls::text, s.rows::text, round(s.total_exec_time::numeric, 1)::text || case when s.total_plan_time > 0 then '+' || round(s.total_plan_time::numeric, 1)::text else '' end as ms,
       round(s.wal_bytes / 1024)::text as wal, s.shared_blks_dirtied::text as dirtied, s.shared_blks_read::text as read,
       left(regexp_replace(s.query, '\\s+', ' ', 'g'), 80) as text
     from pg_stat_statements s where s.dbid = (select oid from pg_database where datname = coalesce($2::text, current_database()))
     order by s.calls desc limit $1::int`,
    [top, databaseName ?? null],
  );
  say(`\nStatements of ${title} (pg_stat_statements: calls, rows, total ms, WAL kB, blocks dirtied, blocks read, text):\n`);
  for (const row of rows) say(`    ${row.calls}\t${row.rows}\t${row.ms}\t${row.wal}\t${row.dirtied}\t${row.read}\t${row.text}`);
}
