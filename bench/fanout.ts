/**
 * Scenario group `fanout` (issue 14): many subscribers of few runs.
 *
 * - (a) Throughput: 1,000 subscribers on 10 runs (100 each) of the one server; each run's
 *   publisher ingests batches of `batchEvents` events and keeps at most `window` batches
 *   not yet received by all of its subscribers. Deliveries/s (events × subscribers that
 *   received them) over the measured window, against the same loop on the ceiling
 *   (fanout-ceiling.ts: raw node:http2 fanning the same messages out from memory).
 * - (b) Three replicas behind HAProxy (test/support/haproxy-cluster.ts), when haproxy is
 *   installed: 5,000 subscribers on 250 runs (20 each; BENCH_FANOUT_RUNS for fewer runs)
 *   through the balancer, 2,000 events/s in all (each run 2 events every 250 ms), commit → client latency p50/p99
 *   from each event's createTime, and events lost or repeated once every subscriber
 *   caught up.
 * - (c) Idle streams: the server's RSS growth per stream with 5,000 open, idle streams.
 * - (d) Postgres statements per ingested batch (pg_stat_statements, preloaded by run.ts
 *   for this group) with 1 and with 100 subscribers of a run.
 * The subscribers are fanout-client.ts's raw HTTP/2 Connect streams, 100 per session.
 */
import { fork } from "node:child_process";
import { once } from "node:events";
import { readFile } from "node:fs/promises";
import http2 from "node:http2";
import { setTimeout as delay } from "node:timers/promises";
import type pg from "pg";
import { RunsService } from "../gen/runline/v1/runs_service_pb.js";
import { findHaproxy, startHaproxyCluster } from "../test/support/haproxy-cluster.js";
import { say, type BenchContext, type ScenarioGroup } from "./bench-context.js";
import { subscriberPool, type Subscriber, type SubscriberPool } from "./fanout-client.js";
import { format, table } from "./report.js";
import { benchWorkflow, clientOf, createBenchTenant, jsonValue } from "./runline-side.js";

const batchEvents = 10;
const window = 4;
const warmupMs = 3_000;
const measuredMs = 10_000;
const streamsPerSession = 100;

/** Appends a batch to a run; resolves with the batch's last sequence. */
type Publish = (runId: string, events: number) => Promise<number>;

/** Percentile by nearest rank of sorted values. */
function percentile(sorted: readonly number[], fraction: number): number {
  return sorted.length === 0 ? Number.NaN : sorted[Math.max(1, Math.ceil(fraction * sorted.length)) - 1]!;
}

/** Tracks, per run, when every subscriber has reached a sequence. */
class Progress {
  private readonly subscribers = new Map<string, Subscriber[]>();
  private readonly waiters = new Map<string, { target: number; reached: number; resolve: () => void }[]>();
  latencies: number[] | undefined;

  add(subscriber: Subscriber): void {
    const list = this.subscribers.get(subscriber.runId) ?? [];
    list.push(subscriber);
    this.subscribers.set(subscriber.runId, list);
  }

  /** fanout-client's OnEvents. */
  readonly onEvents = (subscriber: Subscriber, last: number, commitTimes: readonly number[]): void => {
    if (this.latencies !== undefined) {
      const now = Date.now();
      for (const commit of commitTimes) this.latencies.push(now - commit);
    }
    const previous = last - commitTimes.length;
    for (const waiter of this.waiters.get(subscriber.runId) ?? []) {
      if (previous < waiter.target && last >= waiter.target && ++waiter.reached === this.subscribers.get(subscriber.runId)!.length)
        waiter.resolve();
    }
  };

  /** Resolves once every subscriber of `runId` has `target` (one that already has it counts). */
  reached(runId: string, target: number): Promise<void> {
    const subscribers = this.subscribers.get(runId) ?? [];
    const already = subscribers.filter((subscriber) => subscriber.last >= target).length;
    if (already === subscribers.length) return Promise.resolve();
    return new Promise((resolve) => {
      const list = this.waiters.get(runId) ?? [];
      const waiter = {
        target,
        reached: already,
        resolve: () => {
          list.splice(list.indexOf(waiter), 1);
          resolve();
        },
      };
      list.push(waiter);
      this.waiters.set(runId, list);
    });
  }

  all(): Subscriber[] {
    return [...this.subscribers.values()].flat();
  }
}

async function opened(subscribers: readonly Subscriber[], ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (subscribers.some((subscriber) => !subscriber.opened)) {
    const failed = subscribers.find((subscriber) => subscriber.ended !== undefined);
    if (failed !== undefined) throw new Error(`a subscriber ended before it opened: ${failed.ended}`);
    if (Date.now() > deadline) throw new Error(`${subscribers.filter((one) => !one.opened).length} subscribers not open after ${ms} ms`);
    await delay(50);
  }
}

/** Streams refused (REFUSED_STREAM: never processed) and sent again by the publishers. */
let refusedAndRetried = 0;

function runlinePublisher(baseUrl: string, key: string): Publish {
  const runs = clientOf(RunsService, baseUrl, key);
  return async (runId, events) => {
    const batch = Array.from({ length: events }, (_, index) => ({ type: "progress", data: jsonValue({ p: index }) }));
    for (let attempt = 1; ; attempt++) {
      try {
        const response = await runs.ingestRunEvents({ runId, events: batch });
        return Number(response.events.at(-1)!.sequence);
      } catch (error) {
        // A refused stream was not processed, so sending it again appends nothing twice.
        if (attempt >= 5 || !String(error).includes("REFUSED_STREAM")) throw error;
        refusedAndRetried++;
      }
    }
  };
}

function ceilingPublisher(baseUrl: string): { publish: Publish; close(): void } {
  const session = http2.connect(baseUrl);
  session.on("error", () => undefined);
  const publish: Publish = (runId, events) =>
    new Promise((resolve, reject) => {
      const stream = session.request({ ":method": "POST", ":path": "/publish", "content-type": "application/json" });
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", () => resolve((JSON.parse(Buffer.concat(chunks).toString("utf8")) as { last: number }).last));
      stream.on("error", reject);
      stream.end(
        JSON.stringify({ runId, events: Array.from({ length: events }, (_, index) => ({ type: "progress", data: { p: index } })) }),
      );
    });
  return { publish, close: () => session.close() };
}

async function createRuns(baseUrl: string, key: string, count: number): Promise<string[]> {
  const runs = clientOf(RunsService, baseUrl, key);
  const ids: string[] = [];
  for (let index = 0; index < count; index++)
    ids.push((await runs.createRun({ workflow: benchWorkflow, input: jsonValue({ n: index }) })).run!.id);
  return ids;
}

/** (a) on one side: closed-loop publishers, deliveries/s over the measured window. */
async function throughput(baseUrl: string, key: string, publish: Publish, runIds: readonly string[], perRun: number) {
  const progress = new Progress();
  const pool: SubscriberPool = subscriberPool(baseUrl, key, streamsPerSession, progress.onEvents);
  try {
    for (const runId of runIds) for (let index = 0; index < perRun; index++) progress.add(pool.subscribe(runId, 0));
    await opened(progress.all(), 60_000);
    let stopped = false;
    const loops = runIds.map(async (runId) => {
      while (!stopped) {
        const last = await publish(runId, batchEvents);
        await progress.reached(runId, last - (window - 1) * batchEvents);
      }
    });
    const delivered = () => progress.all().reduce((sum, subscriber) => sum + subscriber.count, 0);
    await delay(warmupMs);
    const before = delivered();
    progress.latencies = [];
    await delay(measuredMs);
    const after = delivered();
    const latencies = progress.latencies.sort((a, b) => a - b);
    progress.latencies = undefined;
    stopped = true;
    await Promise.all(loops);
    const broken = progress.all().filter((subscriber) => subscriber.disorder !== 0 || subscriber.ended !== undefined).length;
    return { perSecond: ((after - before) * 1000) / measuredMs, p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), broken };
  } finally {
    pool.close();
  }
}

async function startCeiling(): Promise<{ url: string; stop(): Promise<void> }> {
  const child = fork(new URL("./fanout-ceiling.ts", import.meta.url), [], {
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "pipe", "inherit", "ipc"],
  });
  const [line] = (await once(child.stdout!, "data")) as [Buffer];
  return {
    url: `http://127.0.0.1:${line.toString("utf8").trim()}`,
    stop: async () => {
      child.kill();
      await once(child, "exit");
    },
  };
}

async function residentKb(pid: number): Promise<number> {
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(await readFile(`/proc/${pid}/status`, "utf8"))?.[1]);
}

/** The median of 9 RSS samples over 4.5 s after 2 s of quiet: one sample catches whatever the heap did that instant. */
async function settledResidentKb(pid: number): Promise<number> {
  await delay(2_000);
  const samples: number[] = [];
  for (let sample = 0; sample < 9; sample++) {
    samples.push(await residentKb(pid));
    await delay(500);
  }
  return samples.sort((a, b) => a - b)[4]!;
}

/** (c): RSS growth per stream with `count` idle streams open. */
async function idleStreams(context: BenchContext, key: string, count: number) {
  const runIds = await createRuns(context.server.url, key, count / 100);
  const progress = new Progress();
  const pool = subscriberPool(context.server.url, key, streamsPerSession, progress.onEvents);
  try {
    const before = await settledResidentKb(context.server.pid);
    for (const runId of runIds) for (let index = 0; index < 100; index++) progress.add(pool.subscribe(runId, 0));
    await opened(progress.all(), 120_000);
    const after = await settledResidentKb(context.server.pid);
    return { before, after, perStreamKb: (after - before) / count };
  } finally {
    pool.close();
  }
}

async function totalCalls(database: pg.Client): Promise<number> {
  const { rows } = await database.query<{ calls: number }>(
    `select coalesce(sum(calls), 0)::float8 as calls from pg_stat_statements
     where dbid = (select oid from pg_database where datname = current_database()) and query not like '%pg_stat_statements%'`,
  );
  return rows[0]!.calls;
}

/** (d): statements per ingested batch with `perRun` subscribers of one run, over `batches` batches. */
async function statementsPerBatch(context: BenchContext, database: pg.Client, key: string, perRun: number, batches: number) {
  const [runId] = await createRuns(context.server.url, key, 1);
  const progress = new Progress();
  const pool = subscriberPool(context.server.url, key, streamsPerSession, progress.onEvents);
  const publish = runlinePublisher(context.server.url, key);
  try {
    for (let index = 0; index < perRun; index++) progress.add(pool.subscribe(runId!, 0));
    await opened(progress.all(), 60_000);
    await progress.reached(runId!, await publish(runId!, batchEvents));
    const before = await totalCalls(database);
    for (let batch = 0; batch < batches; batch++) await progress.reached(runId!, await publish(runId!, batchEvents));
    // The count query itself is one statement.
    return ((await totalCalls(database)) - before - 1) / batches;
  } finally {
    pool.close();
  }
}

/** (b): 3 replicas behind HAProxy; paced publishers; latency and losses. */
async function cluster(context: BenchContext, runCount: number) {
  await context.admin.query("drop database if exists bench_cluster");
  await context.admin.query("create database bench_cluster");
  // Replicas and balancer allow 1,000 streams per HTTP/2 connection, and a replica 256 MB per
  // connection, as an operator would behind a balancer that multiplexes many clients onto few
  // backend connections (with the defaults, 100 streams and 10 MB, the replicas refused streams).
  const balanced = await startHaproxyCluster({
    databaseUrl: context.urlFor("bench_cluster"),
    rootKey: context.rootKey,
    logLevel: "warn",
    env: { RUNLINE_HTTP2_MAX_STREAMS: "1000", RUNLINE_HTTP2_SESSION_MEMORY_MB: "256" },
    balancer: { clientStreamsPerConnection: 1000 },
  });
  try {
    const key = await createBenchTenant(balanced.url, context.rootKey, "bench-fanout-cluster");
    const runIds = await createRuns(balanced.url, key, runCount);
    const progress = new Progress();
    const pool = subscriberPool(balanced.url, key, streamsPerSession, progress.onEvents);
    const publish = runlinePublisher(balanced.url, key);
    try {
      // Opened 500 at a time, as a crowd arrives, not in one burst of 5,000.
      for (const [index, runId] of runIds.entries()) {
        for (let watcher = 0; watcher < 20; watcher++) progress.add(pool.subscribe(runId, 0));
        if (index % 25 === 24) await opened(progress.all(), 120_000);
      }
      await opened(progress.all(), 120_000);
      const lastOf = new Map<string, number>();
      let late = 0;
      const paced = async (runId: string, offsetMs: number, untilMs: number) => {
        await delay(offsetMs);
        for (let due = performance.now(); performance.now() < untilMs; due += 250) {
          const wait = due - performance.now();
          if (wait > 0) await delay(wait);
          else late++;
          lastOf.set(runId, await publish(runId, 2));
        }
      };
      const start = performance.now();
      progress.latencies = [];
      await Promise.all(runIds.map((runId, index) => paced(runId, (index * 250) / runIds.length, start + warmupMs + measuredMs)));
      const latencies = progress.latencies.sort((a, b) => a - b);
      progress.latencies = undefined;
      await Promise.race([Promise.all(runIds.map((runId) => progress.reached(runId, lastOf.get(runId)!))), delay(30_000)]);
      // From sequence 1 (the run's QUEUED status event) to the run's last.
      const expected = progress.all().reduce((sum, subscriber) => sum + (lastOf.get(subscriber.runId) ?? 0), 0);
      const received = progress.all().reduce((sum, subscriber) => sum + subscriber.count, 0);
      const disordered = progress.all().filter((subscriber) => subscriber.disorder !== 0).length;
      return { p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), expected, received, disordered, late };
    } finally {
      pool.close();
    }
  } finally {
    await balanced.stop();
  }
}

async function run(context: BenchContext): Promise<boolean> {
  const key = await createBenchTenant(context.server.url, context.rootKey, "bench-fanout");
  let ok = true;
  // BENCH_FANOUT_ONLY=b (or a, c, d; comma-separated) runs only those rows.
  const only = process.env.BENCH_FANOUT_ONLY?.split(",");
  const wanted = (row: string) => only === undefined || only.includes(row);

  // (c) first, on a server that has not yet held the throughput row's traffic: its heap then
  // grows for the streams, not for what (a) left behind.
  if (wanted("c")) {
    say("(c) 5,000 idle streams …");
    const idle = await idleStreams(context, key, 5_000);
    say(
      `  server RSS ${format(idle.before / 1024, 0)} → ${format(idle.after / 1024, 0)} MB: ${format(idle.perStreamKb, 1)} KB per stream (goal ≤ 16 KB)\n`,
    );
  }

  if (wanted("a")) {
    say(`(a) 1,000 subscribers on 10 runs, batches of ${batchEvents} events, ${window} batches in flight per run …`);
    const ceiling = await startCeiling();
    const ceilingSide = ceilingPublisher(ceiling.url);
    const ceilingRuns = Array.from({ length: 10 }, (_, index) => `ceiling-run-${index}`);
    const raw = await throughput(ceiling.url, "none", ceilingSide.publish, ceilingRuns, 100);
    ceilingSide.close();
    await ceiling.stop();
    const runline = await throughput(
      context.server.url,
      key,
      runlinePublisher(context.server.url, key),
      await createRuns(context.server.url, key, 10),
      100,
    );
    ok &&= runline.broken === 0;
    say(
      `\n${table(
        ["side", "deliveries/s", "p50 ms", "p99 ms", "broken streams"],
        [
          ["raw node:http2 from memory (ceiling)", format(raw.perSecond, 0), format(raw.p50, 1), format(raw.p99, 1), String(raw.broken)],
          ["Runline, 1 replica", format(runline.perSecond, 0), format(runline.p50, 1), format(runline.p99, 1), String(runline.broken)],
        ],
      )}\n`,
    );
    say(`Runline / ceiling: ${format(runline.perSecond / raw.perSecond, 2)} (goal ≥ 0.25, and ≥ 50,000 deliveries/s)\n`);
  }

  if (wanted("d")) {
    say("(d) statements per ingested batch …");
    const database = new (await import("pg")).default.Client({ connectionString: context.urlFor("bench_runline") });
    await database.connect();
    try {
      await database.query("create extension if not exists pg_stat_statements");
      const one = await statementsPerBatch(context, database, key, 1, 50);
      const hundred = await statementsPerBatch(context, database, key, 100, 50);
      say(`  with 1 subscriber: ${format(one, 2)}; with 100: ${format(hundred, 2)} statements per batch (goal: the same)\n`);
    } finally {
      await database.end();
    }
  }

  const haproxy = findHaproxy();
  if (!wanted("b")) {
    // not asked for
  } else if (haproxy === undefined) {
    say("(b) skipped: haproxy is not installed (apt-get install haproxy)");
  } else {
    // BENCH_FANOUT_RUNS scales (b) down: 20 subscribers and 8 events/s per run (250 runs: the row).
    const runCount = Number(process.env.BENCH_FANOUT_RUNS ?? 250);
    say(`(b) ${runCount * 20} subscribers on ${runCount} runs over 3 replicas behind HAProxy, ${runCount * 8} events/s …`);
    const result = await cluster(context, runCount).catch((error: unknown) => {
      say(`  failed: ${String(error)}`);
      return undefined;
    });
    if (result === undefined) return false;
    ok &&= result.received === result.expected && result.disordered === 0;
    say(
      `  latency p50 ${format(result.p50, 1)} ms, p99 ${format(result.p99, 1)} ms (goals ≤ 10, ≤ 50); events received ${result.received} of ${result.expected}; subscribers out of order ${result.disordered}; publishes late ${result.late}; refused streams sent again ${refusedAndRetried}\n`,
    );
  }
  return ok;
}

/** Many subscribers of few runs: throughput against a raw http2 ceiling, idle memory, statements, 3 replicas. */
export const fanoutBench: ScenarioGroup = {
  name: "fanout",
  summary: "1,000 subscribers on 10 runs against a raw http2 ceiling; 5,000 idle streams; statements per batch; 3 replicas behind HAProxy",
  run,
};
