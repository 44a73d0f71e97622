/**
 * The claim's plan must not depend on what ANALYZE happened to see. Queued runs are
 * transient: an ANALYZE between two bursts sees none, estimates a queue of one row, and
 * the generic plan it then allows reads every queued run of every tenant through
 * runs_ready_due and sorts them (found in the bench: 38 ms a claim, 5,000 runs read
 * for one). With the executors' pool's settings (executorSettings) the claim walks
 * runs_queue in queue order, whatever the statistics say.
 */
import { describe, expect, it } from "vitest";
import pg from "pg";
import { openDatabase, withExecutorSettings } from "../../src/db/database.js";
import { claimCtes, claimedColumns, claimOnlyHintedStatement } from "../../src/runs/lifecycle/claim-statements.js";
import { completeAndClaimOnlyHintedStatement } from "../../src/runs/lifecycle/completion-statements.js";
import { createClaimer } from "../../src/workers/claim-runs.js";
import { createQueueHints } from "../../src/workers/queue-hints.js";
import { createTestDatabase } from "../support/test-database.js";

const tenantId = "01a21000-0000-7000-8000-0000000000c1";
const workflowId = "01a21000-0000-7000-8000-0000000000c2";

/** Index scans and sorts of the plan, as "Index Scan runs_queue", "Sort" … */
function nodesOf(plan: Record<string, unknown>): string[] {
  const here = [`${String(plan["Node Type"])}${plan["Index Name"] === undefined ? "" : ` ${String(plan["Index Name"])}`}`];
  return [...here, ...((plan["Plans"] as Record<string, unknown>[] | undefined) ?? []).flatMap(nodesOf)];
}

/** The claim's generic plan on a connection to `url` (simple protocol: its $n stay unbound). */
async function claimPlan(url: string, text = `with ${claimCtes("only", true)} select ${claimedColumns} from r`): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ "QUERY PLAN": [{ Plan: Record<string, unknown> }] }>(
      `explain (generic_plan, format json) ${text}`,
    );
    return nodesOf(rows[0]!["QUERY PLAN"][0].Plan).filter((node) => node.includes("Scan") || node.includes("Sort"));
  } finally {
    await client.end();
  }
}

/** A database with the test's tenant and workflow and 20,000 finished runs, analyzed as such. */
async function databaseWithHistory(admin: pg.Client): Promise<void> {
  await admin.query(`insert into tenants (id, slug) values ($1, 'plans')`, [tenantId]);
  await admin.query(`insert into workflows (tenant_id, id, slug, latest_version) values ($1, $2, 'w', 1)`, [tenantId, workflowId]);
  await admin.query(
    `insert into workflow_versions (tenant_id, workflow_id, version, definition, content_hash) values ($1, $2, 1, '{}', 'x')`,
    [tenantId, workflowId],
  );
  // History: 20,000 finished runs, none queued, analyzed as such.
  await admin.query(
    `insert into runs (tenant_id, id, workflow_id, workflow_version, status, created_by, end_time)
    select $1::uuid, gen_random_uuid(), $2::uuid, 1, 'SUCCEEDED', 'k', now() from generate_series(1, 20000)`,
    [tenantId, workflowId],
  );
  await admin.query("analyze runs");
}

describe("the claim's plan after an ANALYZE that saw no queued run", () => {
  it("walks runs_queue in order on the executors' pool, and claims in queue order", async () => {
    const url = await createTestDatabase();
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    const database = await openDatabase({ url, poolSize: 4 });
    try {
      await databaseWithHistory(admin);
      // Then a burst: 3,000 queued, priorities mixed, the highest ones queued last.
      await admin.query(
        `insert into runs (tenant_id, id, workflow_id, workflow_version, status, created_by, priority, ready_time)
        select $1::uuid, gen_random_uuid(), $2::uuid, 1, 'QUEUED', 'k', case when n > 2990 then 5 else 0 end, now() - (3000 - n) * interval '1 millisecond'
        from generate_series(1, 3000) as n`,
        [tenantId, workflowId],
      );

      const plan = await claimPlan(withExecutorSettings(url));
      expect(plan).toContain("Index Scan runs_queue");
      expect(plan).not.toContain("Index Scan runs_ready_due");
      // The settings are what make it so: with Postgres' defaults the plan sorts the queue.
      const defaultPlan = await claimPlan(url);
      expect(defaultPlan).toContain("Index Scan runs_ready_due");

      const claimer = createClaimer(database.workerSql, createQueueHints({ headScanMs: 1000 }));
      const leases = await claimer.claim(tenantId, { workerId: "w", workflowIds: [workflowId], maxRuns: 12, leaseMs: 30_000 });
      expect(leases.map((lease) => lease.priority)).toEqual([...Array<number>(10).fill(5), 0, 0]);
    } finally {
      await database.close();
      await admin.end();
    }
  });

  // A batch of runs made by one statement (BatchCreateRuns, CreateRuns batched) shares one
  // ready_time. The hinted claims' range `(ready_time, id) >= hint` is an index condition
  // for runs_ready_due too; walked that way, the rows come in ready_time order only, and an
  // incremental sort by id read the hint's whole group (up to 500 rows in the scale bench's
  // drains, ≈ 0.3 ms of a 1.3 ms completion) to claim a few runs.
  it("starts hinted claims and completions in runs_queue, without an incremental sort", async () => {
    const url = await createTestDatabase();
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      await databaseWithHistory(admin);
      await admin.query(
        `insert into runs (tenant_id, id, workflow_id, workflow_version, status, created_by, ready_time)
        select $1::uuid, gen_random_uuid(), $2::uuid, 1, 'QUEUED', 'k', now() from generate_series(1, 2000)`,
        [tenantId, workflowId],
      );
      for (const statement of [claimOnlyHintedStatement, completeAndClaimOnlyHintedStatement]) {
        const plan = await claimPlan(withExecutorSettings(url), statement.text);
        expect(plan).toContain("Index Scan runs_queue");
        expect(plan).not.toContain("Index Scan runs_ready_due");
        expect(plan).not.toContain("Incremental Sort");
      }
    } finally {
      await admin.end();
    }
  });
});
