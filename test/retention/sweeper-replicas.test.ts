/**
 * Two replicas on one database, each with its retention sweeper on the same moved clock:
 * a pass runs in one of them at a time (the other skips while the lock is held), so
 * every expired run is deleted once, every leaf is made and dropped once, no pass fails,
 * and both keep sweeping (no deadlock) while callers create runs and append events.
 */
import type pg from "pg";
import { beforeAll, describe, expect, it } from "vitest";
import { passLockKey, type RetentionPassOutcome } from "../../src/retention/retention-sweeper.js";
import { json, type TenantFixture } from "../support/clients.js";
import { eventually, sleep } from "../support/expectations.js";
import { retentionDriver, type RetentionDriver } from "../support/retention-clock.js";
import { createTestDatabase } from "../support/test-database.js";
import { startTestServer } from "../support/test-server.js";
import { ageRuns, databaseClient, historyLeaves, makeRuns, retentionTenant } from "./retention-fixtures.js";

const replicas: RetentionDriver[] = [retentionDriver(), retentionDriver()];
let client: pg.Client;
/** Holds the pass lock from before the replicas start until the first test lets go. */
let holder: pg.Client;
let month: TenantFixture;
let forever: TenantFixture;
let expired: string[];
let kept: string[];

const swept = (outcomes: readonly RetentionPassOutcome[]) =>
  outcomes.filter((outcome): outcome is Extract<RetentionPassOutcome, { kind: "swept" }> => outcome.kind === "swept");

beforeAll(async () => {
  const url = await createTestDatabase();
  holder = await databaseClient(url);
  await holder.query(`select pg_advisory_lock($1)`, [passLockKey]);
  const env = { RUNLINE_RETENTION_INTERVAL_MS: "100" };
  const [first] = await Promise.all(replicas.map((replica) => startTestServer(url, env, replica.serverOptions(5))));
  client = await databaseClient(url);
  month = await retentionTenant(first!.url);
  forever = await retentionTenant(first!.url, 0);
  const finished = await month
    .runs()
    .batchCreateRuns({ template: { workflow: "counter" }, inputs: Array.from({ length: 60 }, (_, n) => json({ n })) });
  expired = finished.runs.map((run) => run.id);
  await Promise.all(expired.map((runId) => month.runs().cancelRun({ runId })));
  kept = await makeRuns(forever, 4, { finished: true, events: 20 });
  await ageRuns(client, [...expired, ...kept], 70);
}, 60_000);

describe("retention sweepers on two replicas", () => {
  it("do nothing while another session holds the pass lock", async () => {
    await sleep(1_000);
    for (const replica of replicas) {
      expect(replica.outcomes().length).toBeGreaterThan(0);
      expect(replica.outcomes().filter((outcome) => outcome.kind !== "skipped")).toEqual([]);
    }
    const { rows } = await client.query<{ count: number }>(`select count(*)::int from runs where id = any($1::uuid[])`, [expired]);
    expect(rows[0]!.count).toBe(expired.length);
    for (const replica of replicas) replica.setDaysAhead(31);
    await holder.query(`select pg_advisory_unlock($1)`, [passLockKey]);
  });

  it("split the work: each expired run deleted once, each leaf made and dropped once, no pass failed", async () => {
    // Callers keep writing meanwhile: live runs and their events, which stay.
    const writer = makeRuns(month, 10, { finished: false, events: 5 });
    await eventually(30_000, "the expired runs and the old week gone", async () => {
      const { rows } = await client.query<{ count: number }>(`select count(*)::int from runs where id = any($1::uuid[])`, [expired]);
      const legacy = (await historyLeaves(client)).some((leaf) => leaf.name === "run_events_legacy");
      return rows[0]!.count === 0 && !legacy ? true : undefined;
    });
    const written = await writer;
    // Both replicas finish a pass after that: neither is stuck.
    await Promise.all(replicas.map((replica) => replica.nextPass()));
    const outcomes = replicas.flatMap((replica) => replica.outcomes());
    expect(outcomes.filter((outcome) => outcome.kind === "failed")).toEqual([]);
    const passes = swept(outcomes);
    expect(passes.reduce((sum, pass) => sum + pass.runsDeleted, 0)).toBe(expired.length);
    const dropped = passes.flatMap((pass) => pass.leavesDropped);
    expect(dropped).toEqual(["run_events_legacy"]);
    const made = passes.flatMap((pass) => pass.leavesMade);
    expect(new Set(made).size).toBe(made.length);
    for (const replica of replicas) expect(swept(replica.outcomes()).length).toBeGreaterThan(0);
    const { rows } = await client.query<{ count: number }>(`select count(*)::int from run_events_kept where run_id = any($1::uuid[])`, [
      kept,
    ]);
    expect(rows[0]!.count).toBe(4 * 22);
    const live = await client.query<{ count: number }>(`select count(*)::int from runs where id = any($1::uuid[])`, [written]);
    expect(live.rows[0]!.count).toBe(written.length);
  });
});
