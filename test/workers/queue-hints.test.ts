/**
 * Claims start at the queue's hint, the furthest run claimed (src/workers/queue-hints.ts):
 * what that keeps of claim order, and what it buys while another connection holds the
 * xmin horizon. The hints' clock is the test's, so "within the head-scan period" is a
 * step of that clock, not a wait. What a claim read is taken from pg_stat_statements'
 * buffer counts, so the test does not depend on the machine's speed.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../src/db/database.js";
import { expireLeasesStatement } from "../../src/runs/lifecycle/sweep-statements.js";
import { createClaimer, type Claimer, type ClaimRequest } from "../../src/workers/claim-runs.js";
import type { LeaseRecord } from "../../src/workers/lease-record.js";
import { createReportCompleter } from "../../src/workers/complete-and-claim.js";
import { releaseRun } from "../../src/workers/lease-writes.js";
import { createQueueHints, type QueueHints } from "../../src/workers/queue-hints.js";
import { createTestDatabase } from "../support/test-database.js";

const headScanMs = 1000;

describe("claims that start at the queue's hint", () => {
  let url: string;
  let database: Database;
  let admin: pg.Client;
  let tenant = 0;

  beforeAll(async () => {
    url = await createTestDatabase();
    database = await openDatabase({ url, poolSize: 4 });
    admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query("create extension if not exists pg_stat_statements");
  });

  afterAll(async () => {
    await admin?.end();
    await database?.close();
  });

  /** A tenant with one workflow, for one test. */
  async function queue(): Promise<{ tenantId: string; workflowId: string }> {
    tenant++;
    const { rows } = await admin.query<{ tenant_id: string; workflow_id: string }>(
      `with t as (insert into tenants (id, slug) values (gen_random_uuid(), $1) returning id),
        w as (insert into workflows (tenant_id, id, slug, latest_version) select t.id, gen_random_uuid(), 'w', 1 from t returning tenant_id, id)
      insert into workflow_versions (tenant_id, workflow_id, version, definition, content_hash)
      select tenant_id, id, 1, '{}', 'x' from w returning tenant_id, workflow_id`,
      [`hints-${tenant}`],
    );
    return { tenantId: rows[0]!.tenant_id, workflowId: rows[0]!.workflow_id };
  }

  /** Queues a run ready `secondsAgo` ago (so its place in the queue is known); returns its id. */
  async function enqueue(at: { tenantId: string; workflowId: string }, secondsAgo: number, priority = 0): Promise<string> {
    const { rows } = await admin.query<{ id: string }>(
      `insert into runs (tenant_id, id, workflow_id, workflow_version, status, created_by, priority, ready_time, max_attempts, backoff_ms)
       values ($1, gen_random_uuid(), $2, 1, 'QUEUED', 'k', $3, now() - $4 * interval '1 second', 3, 0) returning id`,
      [at.tenantId, at.workflowId, priority, secondsAgo],
    );
    return rows[0]!.id;
  }

  /** A claimer whose hints run on a clock the test moves. */
  function claimerWithClock(): { claimer: Claimer; hints: QueueHints; clock: { now: number } } {
    const clock = { now: 0 };
    const hints = createQueueHints({ headScanMs, now: () => clock.now });
    return { claimer: createClaimer(database.workerSql, hints), hints, clock };
  }

  const request = (workflowId: string, maxRuns = 1): ClaimRequest => ({
    workerId: "w",
    workflowIds: [workflowId],
    maxRuns,
    leaseMs: 30_000,
  });

  /** The ids `claimer` claims in one claim of `maxRuns`, as a set (a statement returns them in no set order). */
  const claimedIds = async (claimer: Claimer, at: { tenantId: string; workflowId: string }, maxRuns = 1) =>
    new Set((await claimer.claim(at.tenantId, request(at.workflowId, maxRuns))).map((lease) => lease.id));

  it("claims a run that sorts before the hint (a late commit) within the head-scan period", async () => {
    const at = await queue();
    const ids = [];
    for (let n = 0; n < 6; n++) ids.push(await enqueue(at, 600 - n));
    const { claimer, clock } = claimerWithClock();
    expect(await claimedIds(claimer, at, 2)).toEqual(new Set(ids.slice(0, 2)));

    const straggler = await enqueue(at, 900);
    // Within the period the claim goes on from the hint, past the straggler …
    expect(await claimedIds(claimer, at)).toEqual(new Set([ids[2]]));
    clock.now += headScanMs - 1;
    expect(await claimedIds(claimer, at)).toEqual(new Set([ids[3]]));
    // … and once the period has passed, a claim scans from the head and takes it first.
    clock.now += 1;
    expect(await claimedIds(claimer, at)).toEqual(new Set([straggler]));
    expect(await claimedIds(claimer, at)).toEqual(new Set([ids[4]]));
  });

  it("claims a higher priority queued after the hint next, and lower ones once it is gone", async () => {
    const at = await queue();
    const ids = [];
    for (let n = 0; n < 4; n++) ids.push(await enqueue(at, 600 - n));
    const { claimer } = claimerWithClock();
    expect(await claimedIds(claimer, at, 2)).toEqual(new Set(ids.slice(0, 2)));

    const urgent = await enqueue(at, 1, 5);
    const urgentOlder = await enqueue(at, 900, 5);
    expect(await claimedIds(claimer, at)).toEqual(new Set([urgentOlder]));
    expect(await claimedIds(claimer, at)).toEqual(new Set([urgent]));
    // A priority between the two, queued after the hint moved on: still before priority 0.
    const middle = await enqueue(at, 0, 1);
    expect(await claimedIds(claimer, at)).toEqual(new Set([middle]));
    expect(await claimedIds(claimer, at, 3)).toEqual(new Set(ids.slice(2)));
  });

  it("claims runs handed back or requeued after their lease expired", async () => {
    const at = await queue();
    const ids = [];
    for (let n = 0; n < 4; n++) ids.push(await enqueue(at, 600 - n));
    const { claimer } = claimerWithClock();
    const [released, expired] = await claimer.claim(at.tenantId, request(at.workflowId, 2));
    await releaseRun(database.sql, at.tenantId, released!.id, released!.lease_id);
    await admin.query(`update runs set lease_expire_time = now() - interval '1 second' where id = $1`, [expired!.id]);
    expect(await database.workerSql.query(expireLeasesStatement.text)).toHaveLength(1);

    // Both are queued again behind the others (ready now), and claimed without a head scan.
    expect(await claimedIds(claimer, at, 2)).toEqual(new Set(ids.slice(2)));
    const again = await claimer.claim(at.tenantId, request(at.workflowId, 10));
    expect(new Set(again.map((lease) => lease.id))).toEqual(new Set([released!.id, expired!.id]));
    expect(again.find((lease) => lease.id === expired!.id)?.attempt).toBe(2);
  });

  it("keeps claim order across replicas: each one's hint skips what the other claimed past it", async () => {
    const at = await queue();
    const ids = [];
    for (let n = 0; n < 8; n++) ids.push(await enqueue(at, 600 - n));
    const one = claimerWithClock().claimer;
    const other = claimerWithClock().claimer;
    expect(await claimedIds(one, at, 2)).toEqual(new Set(ids.slice(0, 2)));
    expect(await claimedIds(other, at, 3)).toEqual(new Set(ids.slice(2, 5)));
    // `one` goes on from its own hint, past the runs `other` claimed.
    expect(await claimedIds(one, at)).toEqual(new Set([ids[5]]));
    expect(await claimedIds(other, at)).toEqual(new Set([ids[6]]));
    expect(await claimedIds(one, at, 5)).toEqual(new Set([ids[7]]));
  });

  it("reads a bounded number of buffers a claim while a snapshot is held, however many runs were claimed", async () => {
    const at = await queue();
    // Stored in no particular order, as runs created by many callers are: walking the
    // queue in order then reads a page per run, as in the bench.
    const runs = 3000;
    await admin.query(
      `insert into runs (tenant_id, id, workflow_id, workflow_version, status, created_by, ready_time)
       select $1, gen_random_uuid(), $2, 1, 'QUEUED', 'k', now() - (10000 - n) * interval '1 millisecond' from generate_series(1, $3::int) n
       order by random()`,
      [at.tenantId, at.workflowId, runs],
    );
    await admin.query("vacuum analyze runs");
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    await holder.query("begin isolation level repeatable read");
    await holder.query("select txid_current()");
    try {
      const { claimer, hints } = claimerWithClock();
      const reports = createReportCompleter(database.workerSql, hints);
      const next = request(at.workflowId);
      let lease: LeaseRecord | undefined = (await claimer.claim(at.tenantId, next))[0];
      // As a Work session does: complete, and take the replacement in the same statement.
      const completeAndClaim = async () => {
        const reported = await reports.report(at.tenantId, [at.workflowId], {
          runId: lease!.id,
          leaseId: lease!.lease_id,
          output: null,
          next,
        });
        expect(reported.outcome?.status).toBe("SUCCEEDED");
        lease = reported.lease;
      };
      for (let n = 0; n < 20; n++) await completeAndClaim();
      const early = await buffersOf(20, completeAndClaim);
      for (let n = 0; n < 2000; n++) await completeAndClaim();
      const late = await buffersOf(20, completeAndClaim);
      // Without the hint each claim visits every run claimed since the snapshot (2,000
      // and more buffers here); with it, what the first claims read.
      expect(late).toBeLessThan(Math.max(2 * early, 200));
    } finally {
      await holder.query("rollback");
      await holder.end();
    }
  });

  /** Mean shared buffers per call of the hinted complete-and-claim over `calls` calls of `work`. */
  async function buffersOf(calls: number, work: () => Promise<void>): Promise<number> {
    const read = async () => {
      const { rows } = await admin.query<{ blocks: number; calls: number }>(
        `select coalesce(sum(shared_blks_hit + shared_blks_read), 0)::float8 as blocks, coalesce(sum(calls), 0)::float8 as calls
         from pg_stat_statements
         where dbid = (select oid from pg_database where datname = current_database()) and query like '%above as (%' and query like '%unnest(%jsonb[]%'`,
      );
      return rows[0]!;
    };
    const before = await read();
    for (let n = 0; n < calls; n++) await work();
    const after = await read();
    expect(after.calls - before.calls).toBe(calls);
    return (after.blocks - before.blocks) / calls;
  }
});
