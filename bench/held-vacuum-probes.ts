/**
 * What the `held-vacuum` group looks at besides throughput: a connection that holds the
 * xmin horizon back (and pg_stat_activity's word that it does), the dead row versions
 * the tables carry, and the plans of the claim and of the Work session's
 * complete-and-claim statement, each run once on the executors' session settings in a
 * transaction that is rolled back.
 */
import pg from "pg";
import { executorSettings } from "../src/db/database.js";
import { claimOnlyStatement } from "../src/runs/lifecycle/claim-statements.js";
import { completeAndClaimOnlyStatement } from "../src/runs/lifecycle/completion-statements.js";

/** A transaction left open on its own connection, as an analytics query or a stuck migration would. */
export interface SnapshotHolder {
  /** The holder as pg_stat_activity shows it: state, xid, xmin and how many transactions behind. */
  describe(admin: pg.Client): Promise<string>;
  /** Commits and disconnects: the horizon moves on. */
  release(): Promise<void>;
}

/**
 * Opens a REPEATABLE READ transaction on `url`'s database and takes its snapshot and an
 * xid at once. The horizon is per database: a holder elsewhere would not hold back
 * `runs` (ComputeXidHorizons counts only backends of the same database).
 */
export async function holdSnapshot(url: string): Promise<SnapshotHolder> {
  const client = new pg.Client({ connectionString: url, application_name: "held-vacuum holder" });
  await client.connect();
  await client.query("begin isolation level repeatable read");
  const { rows } = await client.query<{ pid: number }>("select pg_backend_pid() as pid, txid_current()");
  const pid = rows[0]!.pid;
  return {
    async describe(admin) {
      const { rows: activity } = await admin.query<{ state: string; xid: string; xmin: string; behind: number; open: string }>(
        `select state, backend_xid::text as xid, backend_xmin::text as xmin, age(backend_xmin) as behind,
           round(extract(epoch from now() - xact_start))::text as open
         from pg_stat_activity where pid = $1::int`,
        [pid],
      );
      const row = activity[0];
      if (row === undefined) return `holder pid ${pid}: not in pg_stat_activity`;
      return `holder pid ${pid}: ${row.state}, backend_xid ${row.xid}, backend_xmin ${row.xmin} (${row.behind} transactions behind), open ${row.open} s`;
    },
    async release() {
      await client.query("commit");
      await client.end();
    },
  };
}

/** Dead row versions of one table (pg_stat_user_tables: approximate, flushed by backends within seconds). */
export interface TableDeadTuples {
  readonly table: string;
  readonly live: number;
  readonly dead: number;
  readonly autovacuums: number;
}

/** Every table the bench's statements touched, with its live and dead tuples. */
export async function deadTuples(database: pg.Client): Promise<TableDeadTuples[]> {
  const { rows } = await database.query<TableDeadTuples>(
    `select relname as table, n_live_tup::int as live, n_dead_tup::int as dead, autovacuum_count::int as autovacuums
     from pg_stat_user_tables
     where n_tup_ins + n_tup_upd + n_tup_del > 0
     order by n_dead_tup desc, relname`,
  );
  return rows;
}

/** Exact counts for `runs` (pgstattuple) and the size of the queue index claims walk. */
export async function runsVersions(database: pg.Client): Promise<string> {
  await database.query("create extension if not exists pgstattuple");
  const { rows } = await database.query<{ live: number; dead: number; pages: number; leaves: number }>(
    `select t.tuple_count::int as live, t.dead_tuple_count::int as dead,
       (pg_relation_size('runs') / 8192)::int as pages, i.leaf_pages::int as leaves
     from pgstattuple('runs') t, pgstatindex('runs_queue_by_workflow') i`,
  );
  const row = rows[0]!;
  return `runs: ${row.live} live and ${row.dead} dead versions in ${row.pages} pages; runs_queue_by_workflow: ${row.leaves} leaf pages`;
}

/** VACUUM (VERBOSE) of `runs`: what it removed and what it had to leave (its INFO lines on tuples). */
export async function vacuumRuns(database: pg.Client): Promise<{ ms: number; tuples: string }> {
  const lines: string[] = [];
  const listener = (notice: { message: string | undefined }) => {
    const message = notice.message ?? "";
    for (const line of message.split("\n")) if (/tuples:|removable cutoff/.test(line)) lines.push(line.trim());
  };
  database.on("notice", listener);
  const started = performance.now();
  try {
    await database.query("vacuum (verbose) runs");
  } finally {
    database.off("notice", listener);
  }
  return { ms: performance.now() - started, tuples: lines.join("; ") };
}

/** One statement's EXPLAIN (ANALYZE, BUFFERS): its text, and the execution time it reports. */
export interface Plan {
  readonly lines: readonly string[];
  readonly executionMs: number;
}

const literalArray = (client: pg.Client, values: readonly (string | number)[], type: string) =>
  `array[${values.map((value) => client.escapeLiteral(String(value))).join(", ")}]::${type}[]`;

async function explain(client: pg.Client, statement: string, argumentsSql: string): Promise<Plan> {
  const { rows } = await client.query<{ "QUERY PLAN": string }>(`explain (analyze, buffers) execute ${statement}(${argumentsSql})`);
  const lines = rows.map((row) => row["QUERY PLAN"]);
  const execution = lines.map((line) => /Execution Time: ([\d.]+) ms/.exec(line)?.[1]).find((value) => value !== undefined);
  return { lines, executionMs: Number(execution ?? Number.NaN) };
}

/**
 * Plans of the Work session's complete-and-claim (completing a run claimed just before
 * and claiming a replacement) and of a claim that then finds the queue empty, as the
 * executors' pool runs them (generic plans, no sorts). The caller queues two runs of
 * `workflowId` for it first and cancels them after: everything here is rolled back.
 */
export async function explainClaims(
  url: string,
  tenantId: string,
  workflowId: string,
): Promise<{ completeAndClaim: Plan; emptyClaim: Plan }> {
  const client = new pg.Client({ connectionString: url, options: executorSettings });
  await client.connect();
  try {
    await client.query("begin");
    await client.query(`prepare hv_claim as ${claimOnlyStatement.text}`);
    await client.query(`prepare hv_complete_and_claim as ${completeAndClaimOnlyStatement.text}`);
    const tenant = client.escapeLiteral(tenantId);
    const workers = literalArray(client, ["held-vacuum-probe"], "text");
    const leases = literalArray(client, [300_000], "bigint");
    const workflows = literalArray(client, [workflowId], "uuid");
    const { rows } = await client.query<{ id: string; lease_id: string }>(
      `execute hv_claim(${tenant}, ${workers}, ${leases}, ${workflows})`,
    );
    const claimed = rows[0];
    if (claimed === undefined) throw new Error("the probe's claim found no queued run");
    const completeAndClaim = await explain(
      client,
      "hv_complete_and_claim",
      [
        tenant,
        literalArray(client, [claimed.id], "uuid"),
        literalArray(client, [claimed.lease_id], "uuid"),
        literalArray(client, ["null"], "jsonb"),
        workers,
        leases,
        workflows,
      ].join(", "),
    );
    // The replacement took the second probe run: this claim walks the whole queue index and finds none.
    const emptyClaim = await explain(client, "hv_claim", `${tenant}, ${workers}, ${leases}, ${workflows}`);
    return { completeAndClaim, emptyClaim };
  } finally {
    await client.query("rollback").catch(() => undefined);
    await client.end();
  }
}
