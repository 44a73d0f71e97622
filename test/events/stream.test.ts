/**
 * StreamRunEvents: the run's state first, then the stored events after the cursor, then
 * live ones, each pending batch as one message, ending after the run's terminal status
 * event — on every protocol, across server processes, and for callers that resume or
 * go away. Every read is bounded in time, so a stream that stalls fails its test.
 */
import { toJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { Code, type Client } from "@connectrpc/connect";
import pg from "pg";
import { beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { RunStatus, type RunEvent } from "../../gen/runline/v1/run_pb.js";
import { RunsService, type StreamRunEventsResponse } from "../../gen/runline/v1/runs_service_pb.js";
import { openDatabase } from "../../src/db/database.js";
import { startEventHub } from "../../src/events/event-hub.js";
import { streamRunEvents } from "../../src/events/run-event-stream.js";
import { createSharedTails } from "../../src/events/shared-tail.js";
import { createLogger } from "../../src/logger.js";
import { clientFor, createCounterWorkflow, createTenant, json, protocols, type Protocol, type TenantFixture } from "../support/clients.js";
import { startTestServer } from "../support/test-server.js";
import { rejection, within } from "../support/expectations.js";

let serverA: Awaited<ReturnType<typeof startTestServer>>;
let serverB: Awaited<ReturnType<typeof startTestServer>>;
let tenant: TenantFixture;

beforeAll(async () => {
  serverA = await startTestServer();
  // A second server process on the same database: its own pool, LISTEN connection and hub.
  serverB = await startTestServer(serverA.databaseUrl);
  tenant = await createTenant(serverA.url);
  await createCounterWorkflow(tenant);
});

/**
 * Well under the event hub's 2 s poll fallback: an event that arrives this fast, several
 * times in a row, was delivered by NOTIFY (a poll-driven delivery lands anywhere in
 * 0–2 s, so five of them all under 500 ms happen by chance once in a thousand).
 */
const promptMs = 500;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** One StreamRunEvents call, read message by message, each read bounded in time. */
interface StreamReader {
  /** The next message; fails when the stream ends instead or nothing comes within `ms`. */
  next(ms?: number): Promise<StreamRunEventsResponse>;
  /** Every remaining message; fails unless the stream completes within `ms`. */
  rest(ms?: number): Promise<StreamRunEventsResponse[]>;
  /** Cancels the call, as a client that goes away does. */
  abort(): void;
}

/** Opens a stream; it is cancelled when the test finishes, however the test ends. */
function openStream(runs: Client<typeof RunsService>, runId: string, afterSequence: bigint): StreamReader {
  const controller = new AbortController();
  onTestFinished(() => controller.abort());
  const iterator = runs.streamRunEvents({ runId, afterSequence }, { signal: controller.signal })[Symbol.asyncIterator]();
  return {
    async next(ms = 5000) {
      const result = await within(ms, "the next stream message", iterator.next());
      if (result.done === true) throw new Error("the stream ended where a message was expected");
      return result.value;
    },
    async rest(ms = 10_000) {
      const deadline = performance.now() + ms;
      const messages: StreamRunEventsResponse[] = [];
      for (;;) {
        const result = await within(Math.max(0, deadline - performance.now()), "the end of the stream", iterator.next());
        if (result.done === true) return messages;
        messages.push(result.value);
      }
    },
    abort: () => controller.abort(),
  };
}

/** A new QUEUED run; its log holds the creation status event (sequence 1). */
async function createRun(): Promise<string> {
  const { run } = await tenant.runs().createRun({ workflow: "counter", input: json({ n: 1 }) });
  return run!.id;
}

async function ingest(runs: Client<typeof RunsService>, runId: string, count: number): Promise<void> {
  await runs.ingestRunEvents({ runId, events: Array.from({ length: count }, (_, index) => ({ type: "progress", data: json({ index }) })) });
}

function sequencesOf(events: readonly RunEvent[]): number[] {
  return events.map((event) => Number(event.sequence));
}

/** from, from + 1, … to. */
function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, index) => from + index);
}

describe.each(protocols)("StreamRunEvents over %s", (protocol: Protocol) => {
  it("sends the run first, then stored events after the cursor, then live ones, and ends after the terminal status event", async () => {
    const runId = await createRun();
    await ingest(tenant.runs(), runId, 2);
    const stream = openStream(tenant.runs(protocol), runId, 1n);

    const first = await stream.next();
    expect(first.run?.id).toBe(runId);
    expect(first.run?.status).toBe(RunStatus.QUEUED);
    expect(first.run?.lastSequence).toBe(3n);
    expect(first.events).toEqual([]);

    const replay = await stream.next();
    expect(replay.run).toBeUndefined();
    expect(sequencesOf(replay.events)).toEqual([2, 3]);

    await tenant.runs().ingestRunEvents({ runId, events: [{ type: "log", data: json("live") }] });
    const live = await stream.next();
    expect(sequencesOf(live.events)).toEqual([4]);
    expect(toJson(ValueSchema, live.events[0]!.data!)).toBe("live");

    await tenant.runs().cancelRun({ runId, reason: "test" });
    const terminal = await stream.next();
    expect(terminal.events.map((event) => [Number(event.sequence), event.type, event.status])).toEqual([
      [5, "status", RunStatus.CANCELLED],
    ]);
    expect(await stream.rest()).toEqual([]);
  });

  it("delivers every event once and in order across the seam between replay and live", async () => {
    const runId = await createRun();
    const total = 200;
    const batchSizes = [1, 4, 2, 9, 3, 1, 6, 1, 13, 5];
    // Streams open while the writer is busy, each at a different point of the log.
    const openAt = [1, 60, 120, 190];
    const collected: Promise<StreamRunEventsResponse[]>[] = [];
    const writer = tenant.runs("grpc");
    let ingested = 0;
    for (let batch = 0; ingested < total; batch++) {
      const size = Math.min(batchSizes[batch % batchSizes.length]!, total - ingested);
      await ingest(writer, runId, size);
      const before = ingested;
      ingested += size;
      for (const point of openAt) {
        if (before < point && ingested >= point) collected.push(openStream(tenant.runs(protocol), runId, 0n).rest(20_000));
      }
      await sleep(Math.random() * 5);
    }
    await tenant.runs().cancelRun({ runId, reason: "test" });

    const last = 1 + total + 1;
    expect(collected).toHaveLength(openAt.length);
    for (const messages of await Promise.all(collected)) {
      expect(messages[0]!.run?.id).toBe(runId);
      expect(messages[0]!.events).toEqual([]);
      expect(messages.slice(1).every((message) => message.run === undefined && message.events.length > 0)).toBe(true);
      const events = messages.flatMap((message) => message.events);
      expect(sequencesOf(events)).toEqual(range(1, last));
      expect(events.at(-1)!.status).toBe(RunStatus.CANCELLED);
    }
  });

  it("answers NOT_FOUND to a tenant streaming another tenant's run", async () => {
    const runId = await createRun();
    const other = await createTenant(serverA.url);
    const error = await rejection(openStream(other.runs(protocol), runId, 0n).next());
    expect(error.code).toBe(Code.NotFound);
  });

  it("ends the call of a client that aborts, and keeps serving the run to the next caller", async () => {
    const runId = await createRun();
    const gone = openStream(tenant.runs(protocol), runId, 0n);
    await gone.next();
    expect(sequencesOf((await gone.next()).events)).toEqual([1]);
    const pending = gone.next();
    gone.abort();
    expect((await rejection(pending)).code).toBe(Code.Canceled);

    const next = openStream(tenant.runs(protocol), runId, 0n);
    await next.next();
    await ingest(tenant.runs(), runId, 3);
    await tenant.runs().cancelRun({ runId, reason: "test" });
    const events = (await next.rest()).flatMap((message) => message.events);
    expect(sequencesOf(events)).toEqual(range(1, 5));
  });
});

describe("StreamRunEvents batching", () => {
  it("sends one 50-event ingest as one message once the stream is live", async () => {
    const runId = await createRun();
    const stream = openStream(tenant.runs(), runId, 1n);
    await stream.next();
    await ingest(tenant.runs(), runId, 50);
    const message = await stream.next();
    expect(sequencesOf(message.events)).toEqual(range(2, 51));

    await tenant.runs().cancelRun({ runId, reason: "test" });
    expect(sequencesOf((await stream.next()).events)).toEqual([52]);
    expect(await stream.rest()).toEqual([]);
  });

  it("replays a long log in messages of at most 500 events", async () => {
    const runId = await createRun();
    await ingest(tenant.runs(), runId, 1000);
    await ingest(tenant.runs(), runId, 199);
    const stream = openStream(tenant.runs("grpc"), runId, 0n);
    await stream.next();
    expect(sequencesOf((await stream.next()).events)).toEqual(range(1, 500));
    expect(sequencesOf((await stream.next()).events)).toEqual(range(501, 1000));
    expect(sequencesOf((await stream.next()).events)).toEqual(range(1001, 1200));

    await tenant.runs().cancelRun({ runId, reason: "test" });
    expect(sequencesOf((await stream.next()).events)).toEqual([1201]);
    expect(await stream.rest()).toEqual([]);
  });
});

describe("StreamRunEvents across server processes", () => {
  it("delivers events ingested through either server to streams on both within milliseconds, and ends both after a cancel", async () => {
    const runId = await createRun();
    const onA = clientFor(RunsService, "grpc", serverA.url, tenant.key);
    const onB = clientFor(RunsService, "grpc", serverB.url, tenant.key);
    const streams = [openStream(onA, runId, 1n), openStream(onB, runId, 1n)];
    for (const stream of streams) await stream.next();

    for (let round = 0; round < 6; round++) {
      const started = performance.now();
      await ingest(round % 2 === 0 ? onB : onA, runId, 1);
      for (const stream of streams) {
        expect(sequencesOf((await stream.next()).events)).toEqual([round + 2]);
        expect(performance.now() - started).toBeLessThan(promptMs);
      }
    }

    const started = performance.now();
    await onB.cancelRun({ runId, reason: "test" });
    for (const stream of streams) {
      expect((await stream.next()).events[0]!.status).toBe(RunStatus.CANCELLED);
      expect(performance.now() - started).toBeLessThan(promptMs);
      expect(await stream.rest()).toEqual([]);
    }
  });

  it("loses no event while its server's LISTEN connection is down, and is prompt again once it is back", async () => {
    const runId = await createRun();
    const stream = openStream(tenant.runs(), runId, 1n);
    await stream.next();
    const admin = new pg.Client({ connectionString: serverA.databaseUrl });
    await admin.connect();
    onTestFinished(() => admin.end());
    const listeners = `select pid from pg_stat_activity where datname = current_database() and query like 'listen %' and pid <> pg_backend_pid()`;
    // One LISTEN connection per server process (A and B).
    expect((await admin.query(listeners)).rowCount).toBeGreaterThanOrEqual(2);

    await admin.query(`select pg_terminate_backend(pid) from (${listeners}) l`);
    // Ingested while no server is listening: the NOTIFY reaches nobody.
    await ingest(tenant.runs(), runId, 1);
    expect(sequencesOf((await stream.next(4000)).events)).toEqual([2]);

    await within(
      5000,
      "both servers listening again",
      (async () => {
        while ((await admin.query(listeners)).rowCount! < 2) await sleep(50);
      })(),
    );
    for (let round = 0; round < 5; round++) {
      const started = performance.now();
      await ingest(tenant.runs(), runId, 1);
      expect(sequencesOf((await stream.next()).events)).toEqual([round + 3]);
      expect(performance.now() - started).toBeLessThan(promptMs);
    }
  });
});

describe("StreamRunEvents resuming", () => {
  it("sends only events after the cursor", async () => {
    const runId = await createRun();
    await ingest(tenant.runs(), runId, 5);
    const stream = openStream(tenant.runs(), runId, 4n);
    expect((await stream.next()).run?.lastSequence).toBe(6n);
    expect(sequencesOf((await stream.next()).events)).toEqual([5, 6]);
    await ingest(tenant.runs(), runId, 1);
    expect(sequencesOf((await stream.next()).events)).toEqual([7]);
    await tenant.runs().cancelRun({ runId, reason: "test" });
    expect(sequencesOf((await stream.next()).events)).toEqual([8]);
    expect(await stream.rest()).toEqual([]);
  });

  it("sends only the run, then completes, for a finished run whose cursor is at its end", async () => {
    const runId = await createRun();
    await tenant.runs().cancelRun({ runId, reason: "test" });
    const messages = await openStream(tenant.runs(), runId, 2n).rest();
    expect(messages).toHaveLength(1);
    expect(messages[0]!.run?.status).toBe(RunStatus.CANCELLED);
    expect(messages[0]!.events).toEqual([]);
  });

  // A cursor past the last event skipped the terminal status event that ends a stream:
  // on a live run the stream then stayed open on keep-alives after the run finished.
  it.each(protocols)(
    "refuses a cursor past the run's last event over %s, naming afterSequence, on a live or a finished run",
    async (protocol) => {
      const runId = await createRun();
      const live = await rejection(openStream(tenant.runs(protocol), runId, 50n).next());
      expect(live.code).toBe(Code.InvalidArgument);
      expect(live.rawMessage).toBe("afterSequence: is past the run's last event (sequence 1)");
      await tenant.runs().cancelRun({ runId, reason: "test" });
      expect((await rejection(openStream(tenant.runs(protocol), runId, 3n).next())).code).toBe(Code.InvalidArgument);
    },
  );

  it.each(protocols)("ends a live run's stream opened at its last event over %s once the run finishes", async (protocol) => {
    const runId = await createRun();
    const stream = openStream(tenant.runs(protocol), runId, 1n);
    expect((await stream.next()).run?.lastSequence).toBe(1n);
    await tenant.runs().cancelRun({ runId, reason: "test" });
    expect(sequencesOf((await stream.next()).events)).toEqual([2]);
    expect(await stream.rest()).toEqual([]);
  });

  it("replays a finished run's whole log from cursor 0 and completes", async () => {
    const runId = await createRun();
    await ingest(tenant.runs(), runId, 2);
    await tenant.runs().cancelRun({ runId, reason: "test" });
    const messages = await openStream(tenant.runs(), runId, 0n).rest();
    expect(messages[0]!.run?.status).toBe(RunStatus.CANCELLED);
    expect(sequencesOf(messages.flatMap((message) => message.events))).toEqual([1, 2, 3, 4]);
  });

  it("accepts the run id in upper case and still delivers live events promptly", async () => {
    const runId = await createRun();
    const stream = openStream(tenant.runs(), runId.toUpperCase(), 1n);
    expect((await stream.next()).run?.id).toBe(runId);
    for (let round = 0; round < 5; round++) {
      const started = performance.now();
      await ingest(tenant.runs(), runId, 1);
      expect(sequencesOf((await stream.next()).events)).toEqual([round + 2]);
      expect(performance.now() - started).toBeLessThan(promptMs);
    }
  });
});

describe("tenant isolation of run events", () => {
  it("answers NOT_FOUND to another tenant listing or ingesting a run's events, and appends nothing", async () => {
    const runId = await createRun();
    const other = await createTenant(serverA.url);
    expect((await rejection(other.runs().listRunEvents({ runId }))).code).toBe(Code.NotFound);
    expect((await rejection(other.runs().ingestRunEvents({ runId, events: [{ type: "progress" }] }))).code).toBe(Code.NotFound);
    expect((await tenant.runs().listRunEvents({ runId })).lastSequence).toBe(1n);
  });
});

describe("the stream's subscription to the event hub", () => {
  // Not observable over the network: these drive the domain generator against a hub
  // of their own and count its subscriptions (the run's shared tail holds the one).
  async function startHub() {
    const database = await openDatabase({ url: serverA.databaseUrl, poolSize: 2 });
    onTestFinished(() => database.close());
    const hub = await startEventHub({ url: serverA.databaseUrl, sql: database.sql, logger: createLogger("silent") });
    onTestFinished(() => hub.close());
    return { sql: database.sql, hub, tails: createSharedTails({ sql: database.sql, hub }) };
  }

  it("is released when the caller's signal aborts while the stream waits for live events", async () => {
    const { sql, hub, tails } = await startHub();
    const runId = await createRun();
    const controller = new AbortController();
    const stream = streamRunEvents(sql, tails, tenant.tenantId, runId, 1, controller.signal);
    await stream.next();
    expect(hub.size).toBe(1);
    const waiting = stream.next();
    controller.abort();
    expect(await within(1000, "the stream to end", waiting)).toEqual({ done: true, value: undefined });
    expect(hub.size).toBe(0);
  });

  it("is released when the consumer stops reading between messages", async () => {
    const { sql, hub, tails } = await startHub();
    const runId = await createRun();
    const stream = streamRunEvents(sql, tails, tenant.tenantId, runId, 0, new AbortController().signal);
    await stream.next();
    expect(hub.size).toBe(1);
    await stream.return(undefined);
    expect(hub.size).toBe(0);
  });
});
