/**
 * runline_runs: exact for live runs at any size, and for finished runs while the table is
 * small; past 100,000 runs, finished runs are estimated from the table's statistics, so a
 * scrape never counts millions of rows (the `scale` bench measured ≈ 130 ms at 220,000).
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCounterWorkflow, createTenant, json, type TenantFixture } from "../support/clients.js";
import { sample, scrape } from "../support/metrics-scrape.js";
import { startTestServer } from "../support/test-server.js";

let baseUrl: string;
let tenant: TenantFixture;
let database: pg.Client;
let workflowId: string;

beforeAll(async () => {
  const server = await startTestServer();
  baseUrl = server.url;
  tenant = await createTenant(baseUrl);
  workflowId = await createCounterWorkflow(tenant);
  database = new pg.Client({ connectionString: server.databaseUrl });
  await database.connect();
});

afterAll(async () => {
  await database.end();
});

/** Stores `count` runs of the tenant in `status` straight in the table (the API cannot finish runs in bulk). */
async function storeRuns(count: number, status: string): Promise<void> {
  await database.query(
    `insert into runs (tenant_id, id, workflow_id, workflow_version, status, created_by)
     select $1::uuid, gen_random_uuid(), $2::uuid, 1, $3::text, 'test' from generate_series(1, $4::int)`,
    [tenant.tenantId, workflowId, status, count],
  );
}

const runs = async (status: string) => sample(await scrape(baseUrl), "runline_runs", { status });

describe("runline_runs", () => {
  it("counts every status exactly while there are fewer than 100,000 runs", async () => {
    for (let n = 0; n < 3; n++) await tenant.runs().createRun({ workflow: "counter", input: json({ n }) });
    await storeRuns(30, "SUCCEEDED");
    await storeRuns(5, "FAILED");
    await storeRuns(2, "INTERRUPTED");
    expect(await runs("QUEUED")).toBe(3);
    expect(await runs("SUCCEEDED")).toBe(30);
    expect(await runs("FAILED")).toBe(5);
    expect(await runs("INTERRUPTED")).toBe(2);
  });

  it("past 100,000 runs, still counts live runs exactly and estimates finished ones from statistics", async () => {
    await storeRuns(108_000, "SUCCEEDED");
    await storeRuns(12_000, "FAILED");
    await storeRuns(4, "INTERRUPTED");
    await database.query("analyze runs");
    await storeRuns(1, "INTERRUPTED");
    // Exact: includes the run stored after the ANALYZE.
    expect(await runs("INTERRUPTED")).toBe(7);
    expect(await runs("QUEUED")).toBe(3);
    const succeeded = (await runs("SUCCEEDED")) ?? 0;
    const failed = (await runs("FAILED")) ?? 0;
    // ANALYZE samples 30,000 rows: each share is good to well within 10 %.
    expect(Math.abs(succeeded - 108_030) / 108_030).toBeLessThan(0.1);
    expect(Math.abs(failed - 12_005) / 12_005).toBeLessThan(0.1);
    // A run stored after the ANALYZE is not in the estimate: it is one, not a count.
    await storeRuns(1, "SUCCEEDED");
    expect(await runs("SUCCEEDED")).toBe(succeeded);
  });
});
