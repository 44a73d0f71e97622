/**
 * One reader per watched run per process (issue 14): a crowd of StreamRunEvents callers
 * of one run costs Postgres what one caller costs, every caller still gets every
 * sequence exactly once and in order, and a caller that resumes far behind replays from
 * Postgres on its own and then joins the shared tail. Real server, real clients (Connect
 * over HTTP/2, gRPC, REST SSE), statements counted by pg_stat_statements.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { createCounterWorkflow, createTenant, json, type TenantFixture } from "../support/clients.js";
import { Code } from "@connectrpc/connect";
import { codeOf, eventually } from "../support/expectations.js";
import { scrape, sample } from "../support/metrics-scrape.js";
import { seedRunEvents } from "../support/stalled-readers.js";
import { countStatements } from "../support/statement-counts.js";
import { crowdClients, crowdReaches, median, openCrowd, openRpcWatcher, sequenceRange, type Watcher } from "../support/stream-crowd.js";
import { retainedTailLimits } from "../../src/events/shared-tail.js";
import { startTestServer } from "../support/test-server.js";

let server: Awaited<ReturnType<typeof startTestServer>>;
let tenant: TenantFixture;

beforeAll(async () => {
  server = await startTestServer();
  tenant = await createTenant(server.url);
  await createCounterWorkflow(tenant);
});

async function createRun(): Promise<string> {
  const { run } = await tenant.runs().createRun({ workflow: "counter", input: json({ n: 1 }) });
  return run!.id;
}

/** Appends `count` progress events (each with `padding` characters of text); resolves once committed, with when it was sent. */
async function ingest(runId: string, count: number, padding = 0): Promise<number> {
  const sent = performance.now();
  const data = (index: number) => (padding === 0 ? json(index) : json({ index, text: "x".repeat(padding) }));
  await tenant
    .runs()
    .ingestRunEvents({ runId, events: Array.from({ length: count }, (_, index) => ({ type: "progress", data: data(index) })) });
  return sent;
}

/**
 * Cancels the run (its terminal event is `last`) and checks that every watcher got the
 * sequences after its cursor up to `last` exactly once, in order, and then was ended.
 */
async function endAndCheck(runId: string, groups: readonly { watchers: readonly Watcher[]; after: number }[], last: number): Promise<void> {
  await tenant.runs().cancelRun({ runId, reason: "test" });
  for (const { watchers, after } of groups) {
    await crowdReaches(watchers, last, 20_000);
    for (const watcher of watchers) {
      await watcher.ended;
      expect(watcher.sequences, `a ${watcher.protocol} watcher's sequences`).toEqual(sequenceRange(after + 1, last));
    }
  }
}

// What the streams run: the tail's batch read, and its existence check after an empty one.
const streamStatements = /with recursive walk|select \$\d+ as one from runs/;
// What IngestRunEvents runs: the run's row lock and the insert (with begin and commit, left out).
const ingestStatements = /insert into run_events|last_sequence from runs .* for update/;
const hubPolls = /unnest\(\$1::uuid\[\], \$2::uuid\[\]\)/;
const batches = 20;
const eventsPerBatch = 5;

const carriedBatches = async () => sample(await scrape(server.url), "runline_stream_carried_batches_total") ?? 0;

/**
 * `watchers` watch a new run from its creation event; `batches` batches are ingested one
 * after another (each once every watcher has the one before), counting statements and
 * the batches the tail took from their hints; `padding` makes each event that much larger.
 */
async function watchBatches(watchers: number, padding = 0) {
  const runId = await createRun();
  const crowd = openCrowd({ baseUrl: server.url, key: tenant.key, runId }, watchers, 0);
  await crowdReaches(crowd, 1, 20_000);
  const carriedBefore = await carriedBatches();
  const window = await countStatements(server.databaseUrl);
  const latencies: number[] = [];
  let last = 1;
  for (let batch = 0; batch < batches; batch++) {
    const sent = await ingest(runId, eventsPerBatch, padding);
    last += eventsPerBatch;
    await crowdReaches(crowd, last, 20_000);
    for (const watcher of crowd) latencies.push(watcher.arrivals.get(last)! - sent);
  }
  const counts = await window.end();
  await window.close();
  const carried = (await carriedBatches()) - carriedBefore;
  await endAndCheck(runId, [{ watchers: crowd, after: 0 }], last + 1);
  const streams = counts.matching(streamStatements);
  return {
    streams,
    carried,
    polls: counts.matching(hubPolls),
    perBatch: (streams + counts.matching(ingestStatements)) / batches,
    // Beside them, the server's timers (lease sweeps, webhook and health checks) run on their own.
    total: counts.total,
    medianMs: median(latencies),
    busiest: counts.busiest(),
  };
}

describe("a crowd watching one run", () => {
  it("gets every sequence once and in order, for the same Postgres statements per ingested batch with 100 watchers as with 1", async () => {
    const one = await watchBatches(1);
    const hundred = await watchBatches(100);
    console.info(
      `ingest and stream statements per ingested batch of ${eventsPerBatch} events: ${one.perBatch.toFixed(2)} with 1 watcher, ${hundred.perBatch.toFixed(2)} with 100 ` +
        `(stream statements ${one.streams} / ${hundred.streams} for ${batches} batches; hub polls ${one.polls} / ${hundred.polls}; ` +
        `all statements, timers included, ${one.total} / ${hundred.total}); ` +
        `median send → receive ${one.medianMs.toFixed(1)} / ${hundred.medianMs.toFixed(1)} ms\n1 watcher:\n${one.busiest}\n100 watchers:\n${hundred.busiest}`,
    );
    // Five small events come in their hint: the tail takes them from it and reads
    // nothing, but for a hub poll (every 2 s), which can wake it once more: one read
    // (and an existence check when it finds nothing) per poll. A poll that sees a
    // batch committed before its hint arrives reads it, and the hint is then skipped:
    // so every batch but at most one per poll is carried. Before the shared tail: one
    // read per watcher per batch, 100 × 20 = 2,000 reads; before carried hints, one per batch.
    expect(one.carried).toBeGreaterThanOrEqual(batches - one.polls);
    expect(hundred.carried).toBeGreaterThanOrEqual(batches - hundred.polls);
    expect(one.streams).toBeLessThanOrEqual(2 * one.polls);
    expect(hundred.streams).toBeLessThanOrEqual(2 * hundred.polls);
  });

  it("reads a batch too large for its hint once for the whole crowd, and every watcher gets it", async () => {
    // 5 events of 2,000 characters: over the 7,900 bytes a hint may carry.
    const one = await watchBatches(1, 2_000);
    const hundred = await watchBatches(100, 2_000);
    expect([one.carried, hundred.carried]).toEqual([0, 0]);
    expect(one.streams).toBeGreaterThanOrEqual(batches);
    expect(hundred.streams).toBeLessThanOrEqual(batches + 2 * hundred.polls);
  });

  it("streams carried events exactly as the log stores them", async () => {
    const runId = await createRun();
    const controller = new AbortController();
    const received: unknown[] = [];
    const streamed = (async () => {
      for await (const message of tenant.runs().streamRunEvents({ runId, afterSequence: 1n }, { signal: controller.signal })) {
        received.push(...message.events);
        if (received.length >= 4) return;
      }
    })();
    // Parked at the run's tail, so both appends reach it as hints.
    await expect.poll(async () => sample(await scrape(server.url), "runline_stream_tail_parked") ?? 0).toBeGreaterThan(0);
    const before = await carriedBatches();
    const odd = { text: 'naïve / ünïcödé \u2028 "quoted"', nested: [1.5, -0, 1e21, null, true, { "": "" }], big: 123456789012345 };
    await tenant.runs().ingestRunEvents({
      runId,
      events: [
        { type: "progress", data: json(odd), eventId: "carried-1" },
        { type: "log/line", data: json("a line"), eventId: "" },
        { type: "progress", data: json(null) },
      ],
    });
    await tenant.runs().ingestRunEvents({ runId, events: [{ type: "empty", data: json({}) }] });
    await streamed;
    controller.abort();
    expect((await carriedBatches()) - before).toBe(2);
    const { events: stored } = await tenant.runs().listRunEvents({ runId, afterSequence: 1n });
    expect(received).toEqual(stored);
  });
});

describe("a caller that resumes far behind the tail", () => {
  it("replays the stored log from Postgres on its own, then joins the tail: all 5,000 events and the live ones, no gap, no repeat", async () => {
    const runId = await createRun();
    await seedRunEvents(server.databaseUrl, runId, 5000, 100);
    const target = { baseUrl: server.url, key: tenant.key, runId };
    const crowd = openCrowd(target, 20, 5001);
    let last = 5001;
    await ingest(runId, 5);
    last += 5;
    await crowdReaches(crowd, last, 20_000);
    const replayReads = async () => sample(await scrape(server.url), "runline_stream_event_reads_total", { reader: "replay" }) ?? 0;
    const replayedBefore = await replayReads();

    // Opened while live batches keep coming: its replay and the tail run side by side.
    const resumer = openRpcWatcher("connect-h2", crowdClients(target, 1).connect(0), target, 0);
    for (let batch = 0; batch < 10; batch++) {
      await ingest(runId, 5);
      last += 5;
    }
    await crowdReaches([...crowd, resumer], last, 30_000);
    const replayed = (await replayReads()) - replayedBefore;
    // At least the 5,000 stored events in batches of 500 (and no more than it took to catch up).
    expect(replayed).toBeGreaterThanOrEqual(10);

    // Caught up, it takes live events from the tail: no more reads of its own.
    for (let batch = 0; batch < 5; batch++) {
      await ingest(runId, 5);
      last += 5;
      await crowdReaches([...crowd, resumer], last, 20_000);
    }
    expect((await replayReads()) - replayedBefore).toBe(replayed);
    console.info(`resumer from 0 on a 5,000-event log: ${replayed} batches replayed from Postgres on its own, then on the tail`);
    await endAndCheck(
      runId,
      [
        { watchers: [resumer], after: 0 },
        { watchers: crowd, after: 5001 },
      ],
      last + 1,
    );
  });
});

describe("the retained tail of a run of large events", () => {
  it("keeps at most its limit (1,000 events, 1 MiB of event JSON) and no event larger than it, while watchers get every event", async () => {
    const runId = await createRun();
    const target = { baseUrl: server.url, key: tenant.key, runId };
    const watchers = openCrowd(target, 3, 0);
    await crowdReaches(watchers, 1, 20_000);
    const retained = async () => {
      const text = await scrape(server.url);
      return { events: sample(text, "runline_stream_tail_retained_events")!, bytes: sample(text, "runline_stream_tail_retained_bytes")! };
    };
    const large = (kib: number) => ({ type: "log", data: json({ text: "x".repeat(kib * 1024) }) });
    // 1,200 small events: the newest 1,000 are kept.
    await ingest(runId, 1000);
    await ingest(runId, 200);
    let last = 1201;
    await crowdReaches(watchers, last, 20_000);
    expect((await retained()).events).toBe(retainedTailLimits.maxEvents);
    let most = { events: 0, bytes: 0 };
    // 40 events of 100 KiB, 4 MB in all, 5 to a batch.
    for (let batch = 0; batch < 8; batch++) {
      await tenant.runs().ingestRunEvents({ runId, events: Array.from({ length: 5 }, () => large(100)) });
      last += 5;
      await crowdReaches(watchers, last, 20_000);
      const now = await retained();
      most = { events: Math.max(most.events, now.events), bytes: Math.max(most.bytes, now.bytes) };
    }
    const full = await retained();
    console.info(
      `retained tail while 100 KiB events pass: at most ${most.bytes} bytes of event JSON; then ${full.events} events, ${full.bytes} bytes`,
    );
    expect(most.bytes).toBeLessThanOrEqual(retainedTailLimits.maxBytes);
    // Full to its byte limit: ten 100 KiB events.
    expect(full.events).toBe(10);

    // One event larger than the whole window is not kept; watchers read it from Postgres.
    await tenant.runs().ingestRunEvents({ runId, events: [large(1536)] });
    last += 1;
    await crowdReaches(watchers, last, 20_000);
    expect(await retained()).toEqual({ events: 0, bytes: 0 });
    await endAndCheck(runId, [{ watchers, after: 0 }], last + 1);
    // The last watcher gone, the tail and its memory go too.
    await eventually(5_000, "no tail left", async () =>
      sample(await scrape(server.url), "runline_stream_tails") === 0 ? true : undefined,
    );
  });
});

describe("a watched run that is deleted", () => {
  it("ends every caller on its tail with NOT_FOUND", async () => {
    const runId = await createRun();
    const target = { baseUrl: server.url, key: tenant.key, runId };
    const clients = crowdClients(target, 1);
    const watchers = [0, 1, 2].map(() => openRpcWatcher("connect-h2", clients.connect(0), target, 0));
    await crowdReaches(watchers, 1, 20_000);
    await tenant.runs().deleteRun({ runId });
    for (const watcher of watchers) expect(await codeOf(watcher.ended)).toBe(Code.NotFound);
  });
});
