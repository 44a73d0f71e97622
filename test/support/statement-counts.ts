/**
 * What Postgres ran for a test's database between two moments, from pg_stat_statements
 * (loaded by global-setup.ts): calls per normalised statement, as differences of two
 * snapshots rather than a reset, since the counts are cluster-wide and other test files
 * run beside this one. Statements reading pg_stat_statements itself are left out.
 */
import pg from "pg";

/** Calls per statement text during a window. */
export interface StatementCounts {
  /** Every statement's calls. */
  readonly total: number;
  /** Calls of the statements whose text matches `pattern`. */
  matching(pattern: RegExp): number;
  /** The busiest statements, for a failure message or a report. */
  busiest(top?: number): string;
}

/** A window being counted. */
export interface StatementWindow {
  /** Ends the window: what ran since it began. */
  end(): Promise<StatementCounts>;
  close(): Promise<void>;
}

const snapshotStatement = `
  select s.queryid::text as id, s.query, s.calls::float8 as calls from pg_stat_statements s
  where s.dbid = (select oid from pg_database where datname = current_database()) and s.query not like '%pg_stat_statements%'`;

async function snapshot(client: pg.Client): Promise<Map<string, { query: string; calls: number }>> {
  const { rows } = await client.query<{ id: string; query: string; calls: number }>(snapshotStatement);
  return new Map(rows.map((row) => [row.id, { query: row.query, calls: row.calls }]));
}

/** Begins counting what runs in the database at `databaseUrl`. */
export async function countStatements(databaseUrl: string): Promise<StatementWindow> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  await client.query("create extension if not exists pg_stat_statements");
  const before = await snapshot(client);
  return {
    async end() {
      const after = await snapshot(client);
      const ran = [...after].map(([id, { query, calls }]) => ({ query, calls: calls - (before.get(id)?.calls ?? 0) }));
      const counted = ran.filter((row) => row.calls > 0).sort((a, b) => b.calls - a.calls);
      return {
        total: counted.reduce((sum, row) => sum + row.calls, 0),
        matching: (pattern) => counted.filter((row) => pattern.test(row.query)).reduce((sum, row) => sum + row.calls, 0),
        busiest: (top = 8) =>
          counted
            .slice(0, top)
            .map((row) => `${row.calls}\t${row.query.replace(/\s+/g, " ").slice(0, 90)}`)
            .join("\n"),
      };
    },
    close: () => client.end(),
  };
}
