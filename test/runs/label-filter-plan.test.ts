/**
 * ListRuns' label filter reads few buffers whether the label is common or rare in a big
 * tenant. A label pair rare within a big tenant but common elsewhere was the scale
 * bench's miss: the planner walked the tenant's runs newest first to the oldest (every run
 * read for a page) or read the pair's runs of every tenant through the global GIN index,
 * and flipped between the two with ANALYZE's sample. Now a common label is found by a
 * bounded walk of runs_newest (one statement), a rare one through runs_tenant_labels
 * (migration 0010) after that walk came short. What each statement reads is taken from
 * EXPLAIN's nodes and buffer counts and pg_stat_statements, not from timings, so the
 * test does not depend on the machine's speed.
 */
import { randomBytes, randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database, type Sql } from "../../src/db/database.js";
import { createPageTokens } from "../../src/runs/page-token.js";
import { everyRun, listRuns, type RunFilter } from "../../src/runs/run-queries.js";
import { createTestDatabase } from "../support/test-database.js";

const bigTenant = randomUUID();
const otherTenants = Array.from({ length: 10 }, () => randomUUID());
const workflow = randomUUID();
/** The big tenant's runs; the rare pair is on its oldest `rareRuns` of them. */
const bigRuns = 30_000;
const rareRuns = 12;
/** Each other tenant's runs, every one of them with the rare pair. */
const otherRuns = 3_000;
const rarePair = { team: "team-3", env: "dev" };
const filter = (labels: Record<string, string>): RunFilter => ({ ...everyRun, labels });

interface PlanNode {
  "Node Type": string;
  "Index Name"?: string;
  "Shared Hit Blocks": number;
  "Shared Read Blocks": number;
  Plans?: PlanNode[];
}

/** Every node of a plan as "type" or "type:index", depth first. */
function nodesOf(node: PlanNode): string[] {
  return [
    `${node["Node Type"]}${node["Index Name"] === undefined ? "" : `:${node["Index Name"]}`}`,
    ...(node.Plans ?? []).flatMap(nodesOf),
  ];
}

describe("ListRuns filtered by a label pair rare in a big tenant", () => {
  let database: Database;
  let client: pg.Client;
  const pageTokens = createPageTokens(randomBytes(32));
  /** The statements listRuns ran, as it ran them. */
  const statements: { text: string; parameters: readonly unknown[] }[] = [];
  let recording: Sql;

  /** Inserts `count` runs of `tenant`, the oldest `paired` of them labelled with the rare pair. */
  async function insertRuns(tenant: string, slug: string, count: number, paired: number): Promise<void> {
    await client.query(`insert into tenants (id, slug) values ($1, $2)`, [tenant, slug]);
    await client.query(`insert into workflows (tenant_id, id, slug, latest_version) values ($1, $2, 'w', 1)`, [tenant, workflow]);
    await client.query(
      `insert into workflow_versions (tenant_id, workflow_id, version, definition, defaults, content_hash)
       values ($1, $2, 1, '{}', '{}', 'h')`,
      [tenant, workflow],
    );
    await client.query(
      `insert into runs (tenant_id, id, workflow_id, workflow_version, status, created_by, labels, create_time)
       select $1, gen_random_uuid(), $2, 1, 'SUCCEEDED', 'k',
         case when n <= $4::int then '{"team": "team-3", "env": "dev"}'::jsonb
              else jsonb_build_object('team', 'team-' || n % 10 || 'x', 'env', (array['prod', 'staging', 'dev'])[1 + n % 3]) end,
         now() - ($3::int - n) * interval '1 minute'
       from generate_series(1, $3::int) n`,
      [tenant, workflow, count, paired],
    );
  }

  beforeAll(async () => {
    const url = await createTestDatabase();
    database = await openDatabase({ url, poolSize: 2 });
    client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query("create extension if not exists pg_stat_statements");
    await insertRuns(bigTenant, "big", bigRuns, rareRuns);
    for (const [index, tenant] of otherTenants.entries()) await insertRuns(tenant, `other-${index}`, otherRuns, otherRuns);
    await client.query("vacuum analyze runs");
    recording = {
      query: (text, parameters = []) => {
        statements.push({ text, parameters });
        return database.sql.query(text, parameters);
      },
      transaction: (work) => database.sql.transaction(work),
    };
  }, 120_000);

  afterAll(async () => {
    await client?.end();
    await database?.close();
  });

  /** EXPLAIN (ANALYZE, BUFFERS) of a statement listRuns ran: its nodes and the buffers it read. */
  async function explained(statement: { text: string; parameters: readonly unknown[] }): Promise<{ nodes: string[]; buffers: number }> {
    const { rows } = await client.query<{ "QUERY PLAN": [{ Plan: PlanNode }] }>(
      `explain (analyze, buffers, format json) ${statement.text}`,
      [...statement.parameters],
    );
    const plan = rows[0]!["QUERY PLAN"][0].Plan;
    return { nodes: nodesOf(plan), buffers: plan["Shared Hit Blocks"] + plan["Shared Read Blocks"] };
  }

  it("finds exactly the tenant's runs with the pair", async () => {
    const page = await listRuns(database.sql, pageTokens, bigTenant, filter(rarePair), 50, "");
    expect(page.runs).toHaveLength(rareRuns);
    expect(page.runs.every((run) => run.tenant_id === bigTenant && run.labels["env"] === "dev" && run.labels["team"] === "team-3")).toBe(
      true,
    );
    expect(page.nextPageToken).toBe("");
  });

  it("finds a rare pair through runs_tenant_labels after a bounded walk: a few hundred buffers, not the tenant's runs", async () => {
    statements.length = 0;
    expect((await listRuns(recording, pageTokens, bigTenant, filter(rarePair), 50, "")).runs).toHaveLength(rareRuns);
    expect(statements).toHaveLength(2);
    const walk = await explained(statements[0]!);
    expect(walk.nodes).toContain("Index Scan:runs_newest");
    const found = await explained(statements[1]!);
    expect(found.nodes).toContain("Bitmap Index Scan:runs_tenant_labels");
    // Not AND-ed with the tenant's range of a btree index (about 280 buffers here).
    expect(found.nodes).not.toContain("BitmapAnd");
    expect(found.buffers).toBeLessThan(60);
    // The walk reads 51 × 40 runs; walking to the tenant's oldest runs read 1,218 buffers.
    expect(walk.buffers + found.buffers).toBeLessThan(300);
  });

  it("finds a common label by walking runs_newest in one statement", async () => {
    statements.length = 0;
    const page = await listRuns(recording, pageTokens, bigTenant, filter({ team: "team-1x" }), 50, "");
    expect(page.runs).toHaveLength(50);
    expect(page.runs.every((run) => run.tenant_id === bigTenant && run.labels["team"] === "team-1x")).toBe(true);
    expect(statements).toHaveLength(1);
    const walk = await explained(statements[0]!);
    expect(walk.nodes).toContain("Index Scan:runs_newest");
    // 51 of 1 run in 10: about 510 runs read. Through the index: its 3,000 runs, then a sort.
    expect(walk.buffers).toBeLessThan(150);
  });

  it("keeps reading few buffers once the statements are prepared and run many times", async () => {
    const buffers = async (): Promise<number> => {
      const { rows } = await client.query<{ blocks: number }>(
        `select coalesce(sum(shared_blks_hit + shared_blks_read), 0)::float8 as blocks from pg_stat_statements
         where dbid = (select oid from pg_database where datname = current_database()) and query like '%r.labels%'`,
      );
      return rows[0]!.blocks;
    };
    const before = await buffers();
    const calls = 12; // more than the five executions after which a prepared statement may go generic
    for (let call = 0; call < calls; call++) {
      expect((await listRuns(database.sql, pageTokens, bigTenant, filter(rarePair), 50, "")).runs).toHaveLength(rareRuns);
      expect((await listRuns(database.sql, pageTokens, bigTenant, filter({ team: "team-1x" }), 50, "")).runs).toHaveLength(50);
    }
    expect(((await buffers()) - before) / calls).toBeLessThan(450);
  });
});
