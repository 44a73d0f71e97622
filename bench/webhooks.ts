/**
 * Scenario group `webhooks` (issue 13): what delivering webhooks costs and how fast they
 * arrive, against a local receiver in a process of its own (receiver-process.ts, over
 * test/support/webhook-receiver.ts) that answers 200 after 5 ms, as a quick real
 * endpoint would.
 *
 * - Latency: bursts of 1,000 runs, one a second, each created with a per-run webhook
 *   (terminal status only) and finished at once by 8 SDK workers with a no-op handler.
 *   Latency is from the status change (the body's `timestamp`, the time of the
 *   transaction that wrote the change and its delivery) to the receiver having read
 *   the whole request; the first two bursts are warm-up. Deliveries/s is measured
 *   deliveries over the time from the first to the last arrival.
 * - Drain cost: the `executors` drain (8 × createWorker, 5,000 queued runs) without and
 *   with a per-run webhook on every run; the ratio of the two throughputs is the cost
 *   (goal ≥ 0.8). The clock stops at the last completion, as in `executors`; "all
 *   delivered" says when the last delivery of that drain arrived. Each drain has a
 *   tenant of its own (no round inherits another's finished runs), starts only once the
 *   dispatcher is idle (no PENDING delivery left by the latency phase or an earlier
 *   round), and after its runs are queued the tables are analyzed and a checkpoint taken,
 *   so every drain starts from the same statistics: an autovacuum ANALYZE while no run was
 *   queued flips the claim's plan (bench/RESULTS.md, "A plan flip"). Five rounds by
 *   default, the side that goes first alternating.
 * With BENCH_STATEMENTS=1 each drain also prints the statements Postgres ran for it.
 * The server needs the receiver's address allowed (RUNLINE_WEBHOOK_ALLOW, set by run.ts).
 */
import { fork } from "node:child_process";
import { once } from "node:events";
import pg from "pg";
import { RunsService } from "../gen/runline/v1/runs_service_pb.js";
import type { Arrival } from "./receiver-process.js";
import { median, say, type BenchContext, type ScenarioGroup } from "./bench-context.js";
import { cpuBetween, sampleCpu } from "./cpu.js";
import { format, table } from "./report.js";
import { printStatementStats, resetStatementStats } from "./statement-stats.js";
import { drainWithSdk, queueRuns } from "./runline-executors.js";
import { benchWorkflow, clientOf, createBenchTenant, jsonValue } from "./runline-side.js";

const burstRuns = 1_000;
const warmupBursts = 2;
const measuredBursts = 10;
const burstIntervalMs = 1_000;
const receiverDelayMs = 5;
const drainJobs = 5_000;
const workers = 8;
/** Runs per BatchCreateRuns call, as in the executors group. */
const batchSize = 500;
/** How long deliveries may trail the last completion before the group reports them missing. */
const deliveryGraceMs = 120_000;
/** Drain rounds unless BENCH_ROUNDS says otherwise: the ratio swings, so more than the executors' three. */
const defaultRounds = 5;

/** First arrival of each webhook-id, by receiver path. */
interface Arrivals {
  readonly byPath: Map<string, Map<string, { arrival: number; commit: number; runId: string }>>;
}

function record(arrivals: Arrivals, [path, webhookId, runId, arrival, commit]: Arrival): void {
  let seen = arrivals.byPath.get(path);
  if (seen === undefined) arrivals.byPath.set(path, (seen = new Map()));
  if (!seen.has(webhookId)) seen.set(webhookId, { arrival, commit, runId });
}

/** Forks the receiver (receiver-process.ts); its arrivals are recorded as they are reported. */
async function startReceiverProcess(arrivals: Arrivals) {
  const child = fork(new URL("./receiver-process.ts", import.meta.url), [String(receiverDelayMs)], {
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const [first] = (await once(child, "message")) as [{ port: number }];
  child.on("message", (message: { arrivals?: Arrival[] }) => {
    for (const arrival of message.arrivals ?? []) record(arrivals, arrival);
  });
  return {
    pid: child.pid!,
    url: (path: string) => `http://127.0.0.1:${first.port}${path}`,
    close: async () => {
      child.disconnect();
      await once(child, "exit");
    },
  };
}

async function waitForDeliveries(arrivals: Arrivals, path: string, expected: number): Promise<boolean> {
  const deadline = Date.now() + deliveryGraceMs;
  while ((arrivals.byPath.get(path)?.size ?? 0) < expected) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}

/** Creates `count` runs with a terminal-only webhook to `url`; returns their ids. */
async function createRunsWithWebhook(baseUrl: string, key: string, url: string, count: number): Promise<string[]> {
  const runs = clientOf(RunsService, baseUrl, key);
  const calls: Promise<string[]>[] = [];
  for (let offset = 0; offset < count; offset += batchSize) {
    const inputs = Array.from({ length: Math.min(batchSize, count - offset) }, (_, index) => jsonValue({ n: offset + index }));
    calls.push(
      runs
        .batchCreateRuns({ template: { workflow: benchWorkflow, webhook: { url, intermediateStatus: false } }, inputs })
        .then((response) => response.runs.map((run) => run.id)),
    );
  }
  return (await Promise.all(calls)).flat();
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: readonly number[], fraction: number): number {
  return sorted.length === 0 ? Number.NaN : sorted[Math.max(1, Math.ceil(fraction * sorted.length)) - 1]!;
}

async function measureLatency(context: BenchContext, arrivals: Arrivals, url: string): Promise<{ row: string[]; ok: boolean }> {
  const key = await createBenchTenant(context.server.url, context.rootKey, "bench-webhooks-latency");
  const total = burstRuns * (warmupBursts + measuredBursts);
  const path = "/latency";
  say(`latency: ${warmupBursts} + ${measuredBursts} bursts of ${burstRuns} runs, one a second …`);
  const draining = drainWithSdk(context.server.url, key, workers, 1, total);
  const measured = new Set<string>();
  const started = performance.now();
  let late = 0;
  for (let burst = 0; burst < warmupBursts + measuredBursts; burst++) {
    const due = started + burst * burstIntervalMs;
    const now = performance.now();
    if (now < due) await new Promise((resolve) => setTimeout(resolve, due - now));
    else if (burst > 0) late++;
    const ids = await createRunsWithWebhook(context.server.url, key, url + path, burstRuns);
    if (burst >= warmupBursts) for (const id of ids) measured.add(id);
  }
  const { drain, stop } = await draining;
  await stop();
  const complete = await waitForDeliveries(arrivals, path, total);
  const entries = [...(arrivals.byPath.get(path)?.values() ?? [])].filter((entry) => measured.has(entry.runId));
  const latencies = entries.map((entry) => entry.arrival - entry.commit).sort((a, b) => a - b);
  const span = (values: number[]) => (Math.max(...values) - Math.min(...values)) / 1000;
  if (!complete) say(`  only ${arrivals.byPath.get(path)?.size ?? 0} of ${total} deliveries arrived`);
  if (late > 0) say(`  ${late} bursts started late: creating a burst took longer than ${burstIntervalMs} ms`);
  return {
    ok: complete && drain.errors === 0,
    row: [
      `${measuredBursts} × ${burstRuns}`,
      `${format(entries.length / span(entries.map((entry) => entry.commit)), 0)} runs/s`,
      `${format(entries.length / span(entries.map((entry) => entry.arrival)), 0)} deliveries/s`,
      format(percentile(latencies, 0.5), 1),
      format(percentile(latencies, 0.99), 1),
      format(latencies.at(-1) ?? Number.NaN, 1),
      `${entries.length} / ${measured.size}`,
      String(drain.errors),
    ],
  };
}

interface DrainSample {
  readonly round: number;
  readonly webhooks: boolean;
  readonly jobsPerSecond: number;
  readonly seconds: number;
  /** From the drain's start to the last delivery's arrival (NaN without webhooks or when some are missing). */
  readonly allDeliveredSeconds: number;
  readonly serverCpuMsPerJob: number;
  /**
   * CPU ms per job of each party, from the drain's start until the dispatcher is idle
   * (so the deliveries sent after the drain count): [bench executors, server, receiver,
   * Postgres].
   */
  readonly cpuUntilIdle: readonly number[];
  readonly errors: number;
}

/** Waits until no delivery is PENDING: the dispatcher has nothing left to send or record. */
async function waitForIdleDispatcher(database: pg.Client): Promise<void> {
  const deadline = Date.now() + deliveryGraceMs;
  for (;;) {
    const { rows } = await database.query<{ pending: number }>(
      `select count(*)::int as pending from webhook_deliveries where outcome = 'PENDING'`,
    );
    if (rows[0]!.pending === 0) return;
    if (Date.now() > deadline) throw new Error(`${rows[0]!.pending} deliveries still PENDING after ${deliveryGraceMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function measureDrain(
  context: BenchContext,
  database: pg.Client,
  arrivals: Arrivals,
  receiver: { pid: number; url: (path: string) => string },
  round: number,
  webhooks: boolean,
) {
  const url = receiver.url("");
  const watch = { pids: [...context.watch.pids.slice(0, 2), receiver.pid], postmasterPid: context.watch.postmasterPid };
  const path = `/drain-${round}`;
  const key = await createBenchTenant(
    context.server.url,
    context.rootKey,
    `bench-webhooks-drain-${round}-${webhooks ? "with" : "without"}`,
  );
  await waitForIdleDispatcher(database);
  say(`round ${round}, ${webhooks ? "with" : "without"} a webhook per run: queueing ${drainJobs} runs, then draining them …`);
  if (webhooks) await createRunsWithWebhook(context.server.url, key, url + path, drainJobs);
  else await queueRuns(context.server.url, key, drainJobs);
  await database.query("analyze");
  await context.admin.query("checkpoint");
  await resetStatementStats(database);
  const before = await sampleCpu(watch);
  const startedAt = performance.timeOrigin + performance.now();
  const { drain, stop } = await drainWithSdk(context.server.url, key, workers, 1, drainJobs);
  const cpu = cpuBetween(before, await sampleCpu(watch));
  await printStatementStats(database, `round ${round}'s drain ${webhooks ? "with" : "without"} webhooks`);
  let allDeliveredSeconds = Number.NaN;
  if (webhooks && (await waitForDeliveries(arrivals, path, drainJobs))) {
    const last = Math.max(...[...arrivals.byPath.get(path)!.values()].map((entry) => entry.arrival));
    allDeliveredSeconds = (last - startedAt) / 1000;
  }
  await waitForIdleDispatcher(database);
  const untilIdle = cpuBetween(before, await sampleCpu(watch));
  await stop();
  const sample: DrainSample = {
    round,
    webhooks,
    jobsPerSecond: (1000 * drain.completed) / drain.elapsedMs,
    seconds: drain.elapsedMs / 1000,
    allDeliveredSeconds,
    serverCpuMsPerJob: (1000 * (cpu.processSeconds[1] ?? 0)) / drain.completed,
    cpuUntilIdle: [...untilIdle.processSeconds, untilIdle.clusterSeconds].map((seconds) => (1000 * seconds) / drain.completed),
    errors: drain.errors + (webhooks && Number.isNaN(allDeliveredSeconds) ? 1 : 0),
  };
  return sample;
}

function ratioIn(samples: readonly DrainSample[], round: number): number {
  const of = (webhooks: boolean) => samples.find((sample) => sample.round === round && sample.webhooks === webhooks)?.jobsPerSecond;
  return (of(true) ?? Number.NaN) / (of(false) ?? Number.NaN);
}

async function run(context: BenchContext): Promise<boolean> {
  const arrivals: Arrivals = { byPath: new Map() };
  const receiver = await startReceiverProcess(arrivals);
  try {
    // BENCH_WEBHOOK_LATENCY=0 skips the latency part, for work on the drain alone.
    const latency = process.env.BENCH_WEBHOOK_LATENCY === "0" ? { ok: true } : await measureLatency(context, arrivals, receiver.url(""));
    if ("row" in latency) {
      say(`\nStatus change → receipt, receiver answering in ${receiverDelayMs} ms, ${workers} SDK workers finishing the runs:\n`);
      say(`${table(["bursts", "runs finished", "deliveries", "p50 ms", "p99 ms", "max ms", "delivered", "errors"], [latency.row])}\n`);
    }
    const rounds = Math.max(1, Number(process.env.BENCH_ROUNDS ?? defaultRounds) || defaultRounds);
    const samples: DrainSample[] = [];
    const database = new pg.Client({ connectionString: context.urlFor("bench_runline") });
    await database.connect();
    try {
      for (let round = 1; round <= rounds; round++) {
        // Alternate which side goes first, so drift over the run hits both alike.
        const order = round % 2 === 1 ? [false, true] : [true, false];
        for (const webhooks of order) samples.push(await measureDrain(context, database, arrivals, receiver, round, webhooks));
      }
    } finally {
      await database.end();
    }
    say(
      `\n${drainJobs} runs per drain, ${workers} × createWorker({ concurrency: 1 }), no-op handler; ratio = with / without in the round:\n`,
    );
    const rows = samples.map((sample) => [
      String(sample.round),
      sample.webhooks ? "with webhook" : "without",
      `${format(sample.jobsPerSecond, 0)} jobs/s`,
      format(sample.seconds, 1),
      format(sample.allDeliveredSeconds, 1),
      format(sample.serverCpuMsPerJob, 2),
      sample.webhooks ? format(ratioIn(samples, sample.round), 2) : "",
      sample.cpuUntilIdle.map((ms) => format(ms, 2)).join(" / "),
      String(sample.errors),
    ]);
    const headings = ["round", "side", "throughput", "seconds", "all delivered s", "server CPU ms/job", "with/without"];
    say(`${table([...headings, "CPU ms/job until idle: bench / server / receiver / Postgres", "errors"], rows)}\n`);
    const ratios = Array.from({ length: rounds }, (_, index) => ratioIn(samples, index + 1));
    say(
      `Median ratio over ${rounds} round(s): ${format(median(ratios), 2)} (lowest–highest ${format(Math.min(...ratios), 2)}–${format(Math.max(...ratios), 2)}; goal ≥ 0.8)\n`,
    );
    return latency.ok && samples.every((sample) => sample.errors === 0);
  } finally {
    await receiver.close();
  }
}

/** Webhook delivery latency under bursts, and the cost of a webhook per run to an executors drain. */
export const webhookBench: ScenarioGroup = {
  name: "webhooks",
  summary: `delivery latency under bursts of ${burstRuns} runs/s (receiver answers in ${receiverDelayMs} ms), and a ${drainJobs}-run drain with vs without a webhook per run`,
  run,
};
