/**
 * The dispatcher's claim keeps an index plan when webhook_deliveries fills in a burst
 * after an idle start. Its prepared statement runs every second from start-up, so the
 * plan Postgres caches is made while the table is empty; with a cached generic plan the
 * first claim after a burst read the whole table for every candidate row (4.5–6 s a claim
 * in the webhooks bench). What a claim read is taken from pg_stat_statements' buffer
 * counts, so the test does not depend on the machine's speed.
 */
import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../src/db/database.js";
import { claimDeliveries } from "../../src/webhooks/delivery-writes.js";
import { createTestDatabase } from "../support/test-database.js";

const host = "receiver.test:8080";
const noRoom = { hosts: [], free: [], hostRoom: 16 };

describe("the dispatcher's claim after an idle start", () => {
  let url: string;
  let database: Database;
  let client: pg.Client;
  const tenantId = randomUUID();

  beforeAll(async () => {
    url = await createTestDatabase();
    database = await openDatabase({ url, poolSize: 2 });
    client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query("create extension if not exists pg_stat_statements");
    await client.query("insert into tenants (id, slug) values ($1, 'claim-plan')", [tenantId]);
  });

  afterAll(async () => {
    await client?.end();
    await database?.close();
  });

  /** Buffers the claim statement has touched in this database so far. */
  const claimBuffers = async (): Promise<number> => {
    const { rows } = await client.query<{ blocks: number }>(
      `select coalesce(sum(shared_blks_hit + shared_blks_read), 0)::float8 as blocks from pg_stat_statements
       where dbid = (select oid from pg_database where datname = current_database()) and query like '%recursive hosts%'`,
    );
    return rows[0]!.blocks;
  };

  it("reads a few hundred buffers, not the table per candidate, and keeps each run's order", async () => {
    // Idle, with statistics that say so (autovacuum analyzes a table that has just been emptied), and
    // more polls than the five executions after which a prepared statement may go generic.
    await client.query("analyze webhook_deliveries");
    for (let poll = 0; poll < 8; poll++) expect(await claimDeliveries(database.dispatcherSql, 64, 60_000, noRoom)).toEqual([]);
    // A burst: 1,000 runs with three pending statuses each, all due.
    await client.query(
      `insert into webhook_deliveries (tenant_id, id, run_id, endpoint_id, url, type, sequence, payload)
       select $1, gen_random_uuid(), r.run_id, null, 'https://${host}/hook', 'run.running', s.sequence, '{}'::jsonb
       from (select gen_random_uuid() as run_id from generate_series(1, 1000)) r cross join generate_series(1, 3) as s(sequence)`,
      [tenantId],
    );
    const before = await claimBuffers();
    const claimed = await claimDeliveries(database.dispatcherSql, 64, 60_000, noRoom);
    const read = (await claimBuffers()) - before;

    expect(claimed).toHaveLength(16); // the host's room
    expect(claimed.every((delivery) => delivery.host === host)).toBe(true);
    // Only first statuses are due: each run's later ones wait for it.
    const { rows } = await client.query<{ sequence: string }>(
      "select distinct sequence::text from webhook_deliveries where id = any($1::uuid[])",
      [claimed.map((delivery) => delivery.id)],
    );
    expect(rows).toEqual([{ sequence: "1" }]);
    // An index plan reads each candidate's few pages; a table scan per candidate read over 100,000.
    expect(read).toBeGreaterThan(0);
    expect(read).toBeLessThan(3_000);
  });
});
