/**
 * run_events by week: the server makes the leaves ahead of its clock, and drops a week
 * whole once it is past the horizon (the longest finite retention), after moving the
 * events of the runs that still exist (live, kept forever, not yet expired) to
 * run_events_kept. Nothing is deleted row by row; the catalog (pg_inherits, pg_class)
 * shows the leaf gone; runs that stay read exactly the same events, and keep appending
 * after their gapless sequences; a kept run's kept events go with it when it goes.
 *
 * History is made old by moving its times back 70 days (ageRuns): its events move into
 * the oldest leaf, run_events_legacy, which then ends at the template database's
 * migration and holds nothing else.
 */
import { Code } from "@connectrpc/connect";
import type pg from "pg";
import { beforeAll, describe, expect, it } from "vitest";
import type { RunEvent } from "../../gen/runline/v1/run_pb.js";
import { json, type TenantFixture } from "../support/clients.js";
import { codeOf } from "../support/expectations.js";
import { dayMs, retentionDriver } from "../support/retention-clock.js";
import { startTestServer } from "../support/test-server.js";
import { ageRuns, databaseClient, historyLeaves, makeRuns, retentionTenant, storedEvents } from "./retention-fixtures.js";

const driver = retentionDriver();
let client: pg.Client;
let month: TenantFixture; // 30 days
let forever: TenantFixture; // 0
/** Aged 70 days: finished (expired) and live runs of the 30-day tenant, and the other tenant's runs. */
let expired: string[];
let liveOld: string[];
let foreverOld: string[];
/** Live, made after the aging: their events stay in this week's leaf. */
let recent: string[];
const readable = new Map<string, RunEvent[]>();

async function eventsOf(tenant: TenantFixture, runId: string): Promise<RunEvent[]> {
  return (await tenant.runs().listRunEvents({ runId, pageSize: 1000 })).events;
}

beforeAll(async () => {
  const server = await startTestServer(undefined, { RUNLINE_RETENTION_INTERVAL_MS: "100" }, driver.serverOptions(2));
  client = await databaseClient(server.databaseUrl);
  month = await retentionTenant(server.url);
  forever = await retentionTenant(server.url, 0);
  expired = await makeRuns(month, 3, { finished: true });
  liveOld = await makeRuns(month, 2, { finished: false, events: 30 });
  foreverOld = [...(await makeRuns(forever, 2, { finished: true, events: 7 })), ...(await makeRuns(forever, 1, { finished: false }))];
  await ageRuns(client, [...expired, ...liveOld, ...foreverOld], 70);
  recent = await makeRuns(month, 2, { finished: false });
  for (const runId of [...liveOld, ...recent]) readable.set(runId, await eventsOf(month, runId));
  for (const runId of foreverOld) readable.set(runId, await eventsOf(forever, runId));
});

describe("weekly leaves of run_events", () => {
  it("are made two weeks ahead of the clock, one after another with no gap", async () => {
    driver.setDaysAhead(0);
    const pass = await driver.nextPass();
    const leaves = await historyLeaves(client);
    expect(leaves[0]!.name).toBe("run_events_legacy");
    expect(leaves[0]!.bound).toMatch(/^FOR VALUES FROM \(MINVALUE\) TO \('.+'\)$/);
    for (const [index, leaf] of leaves.entries()) {
      expect(leaf.name).toMatch(/^run_events_(legacy|\d{8})$/);
      if (index > 0) expect(leaf.lowerMs).toBe(leaves[index - 1]!.upperMs);
      // Every week after the first runs from Monday 00:00 UTC to the next.
      if (index > 1) {
        expect(leaf.upperMs - leaf.lowerMs!).toBe(7 * dayMs);
        expect(new Date(leaf.lowerMs!).toISOString()).toMatch(/T00:00:00.000Z$/);
        expect(new Date(leaf.lowerMs!).getUTCDay()).toBe(1);
      }
    }
    expect(leaves.at(-1)!.upperMs).toBeGreaterThanOrEqual(Date.now() + 14 * dayMs - 60_000);
    expect(pass.leavesDropped).toEqual([]);
  });

  it("with the clock at the database's time, deletes the expired runs but keeps their week until the horizon", async () => {
    const pass = await driver.nextPass();
    expect(pass.leavesDropped).toEqual([]);
    for (const runId of expired) expect(await codeOf(month.runs().getRun({ runId }))).toBe(Code.NotFound);
    expect(new Set((await storedEvents(client, expired)).map((event) => event.leaf))).toEqual(new Set(["run_events_legacy"]));
  });

  it("past the horizon, moves the events of runs that still exist to run_events_kept, then detaches and drops the week", async () => {
    const survivors = [...liveOld, ...foreverOld];
    const survivingRows = (await storedEvents(client, survivors)).length;
    const recentRows = await storedEvents(client, recent);
    driver.setDaysAhead(31);
    const pass = await driver.nextPass();
    expect(pass.leavesDropped).toEqual(["run_events_legacy"]);
    expect(pass.eventsMoved).toBe(survivingRows);
    const leaves = await historyLeaves(client);
    expect(leaves.map((leaf) => leaf.name)).not.toContain("run_events_legacy");
    expect(leaves.filter((leaf) => leaf.pending)).toEqual([]);
    const { rowCount } = await client.query(`select 1 from pg_class where relname = 'run_events_legacy'`);
    expect(rowCount).toBe(0);
    // The expired runs' rows went with the week; the others' were moved whole.
    expect(await storedEvents(client, expired)).toEqual([]);
    const moved = await storedEvents(client, survivors);
    expect(moved).toHaveLength(survivingRows);
    expect(new Set(moved.map((event) => event.leaf))).toEqual(new Set(["run_events_kept"]));
    expect(await storedEvents(client, recent)).toEqual(recentRows);
    for (const runId of [...liveOld, ...recent]) expect(await eventsOf(month, runId)).toEqual(readable.get(runId));
    for (const runId of foreverOld) expect(await eventsOf(forever, runId)).toEqual(readable.get(runId));
  });

  it("lets a moved run append after its last sequence, and skips an event id already in run_events_kept", async () => {
    const [runId] = liveOld;
    const before = readable.get(runId!)!;
    const { events } = await month.runs().ingestRunEvents({
      runId: runId!,
      events: [
        { type: "progress", data: json({ again: true }), eventId: "e0" },
        { type: "progress", data: json({ n: "new" }), eventId: "new" },
      ],
    });
    expect(events.map((event) => event.sequence)).toEqual([before[1]!.sequence, BigInt(before.length + 1)]);
    const after = await eventsOf(month, runId!);
    expect(after.map((event) => Number(event.sequence))).toEqual(Array.from({ length: before.length + 1 }, (_, index) => index + 1));
    expect((await storedEvents(client, [runId!])).at(-1)!.leaf).toMatch(/^run_events_\d{8}$/);
  });

  it("deletes a kept run's events in run_events_kept with it: by DeleteRun, and by retention once it has finished", async () => {
    const [deleted] = foreverOld;
    await forever.runs().deleteRun({ runId: deleted! });
    expect(await storedEvents(client, [deleted!])).toEqual([]);
    const [, finishing] = liveOld;
    await month.runs().cancelRun({ runId: finishing! });
    driver.setDaysAhead(62);
    await driver.nextPass();
    expect(await codeOf(month.runs().getRun({ runId: finishing! }))).toBe(Code.NotFound);
    expect(await storedEvents(client, [finishing!])).toEqual(
      // Its cancel event, written this week, stays with this week's leaf.
      [expect.objectContaining({ leaf: expect.stringMatching(/^run_events_\d{8}$/) })],
    );
  });
});
