/**
 * Scenario group `executors`: claim→complete throughput with 8 executors against
 * graphile-worker, same Postgres cluster, same job count, same concurrency. Each drain
 * starts with `jobCount` jobs queued (outside the clock, then a CHECKPOINT) and ends
 * when the last is completed in the database; jobs/s = jobCount / that time.
 *
 * Three pairings, each with 8 jobs in progress at most and a no-op job:
 * - one job per fetch: 8 Runline SDK workers (concurrency 1, each on its own Work
 *   session and connection, as 8 executor processes) against a graphile-worker runner
 *   with concurrency 8 (get_job fetches one);
 * - one executor, 8 at once: 1 SDK worker with concurrency 8 (one session) against the
 *   same graphile-worker runner, drained again;
 * - ten jobs per fetch: 8 loops of ClaimRuns(maxRuns 10) completing their leases one by
 *   one against graphile-worker's local queue of 10 (one fetch per 10 jobs for the pool).
 * They run graphile, Runline, Runline, graphile, Runline, graphile, so drift over the
 * run hits both sides. Throughput on this shared 2-core machine varies by a quarter from
 * one drain to the next for both sides alike, so the sequence runs `BENCH_ROUNDS` times
 * (default 3) and the summary gives each pairing's median ratio over the rounds.
 */
import pg from "pg";
import { say, type BenchContext, type ScenarioGroup } from "./bench-context.js";
import { cpuBetween, sampleCpu, type CpuUse } from "./cpu.js";
import type { Drain, Drained } from "./drain-tally.js";
import { drainWithGraphile, graphileProblems, installGraphile, queueJobs } from "./graphile-side.js";
import { format, table } from "./report.js";
import { drainWithClaimLoops, drainWithSdk, queueRuns } from "./runline-executors.js";
import { createBenchTenant } from "./runline-side.js";

/**
 * Jobs per drain: 5,000, as in the exclusivity test. Drains of a few seconds are mostly
 * noise on the shared 2-core machine; the slowest drain now takes about 12 s.
 */
const jobCount = 5_000;
const workers = 8;
const claimBatch = 10;
const tenantSlug = "bench-executors";

type Side = "Runline" | "graphile-worker";

interface Executor {
  readonly pairing: string;
  readonly side: Side;
  readonly shape: string;
  /** Queues `jobCount` jobs for this executor. */
  queue(): Promise<void>;
  drain(): Promise<Drained>;
}

interface Measured {
  readonly round: number;
  readonly executor: Executor;
  readonly drain: Drain;
  readonly cpu: CpuUse;
}

function executorsFor(context: BenchContext, runlineKey: string, graphileUrl: string): readonly Executor[] {
  const url = context.server.url;
  const oneByOne = "1 job per fetch";
  const oneExecutor = "1 executor, 8 at once";
  const batched = `${claimBatch} jobs per fetch`;
  const graphile = (pairing: string): Executor => ({
    pairing,
    side: "graphile-worker",
    shape: `run({ concurrency: ${workers} })`,
    queue: () => queueJobs(graphileUrl, jobCount),
    drain: () => drainWithGraphile(graphileUrl, workers, jobCount),
  });
  return [
    graphile(oneByOne),
    {
      pairing: oneByOne,
      side: "Runline",
      shape: `${workers} × createWorker({ concurrency: 1 })`,
      queue: () => queueRuns(url, runlineKey, jobCount),
      drain: () => drainWithSdk(url, runlineKey, workers, 1, jobCount),
    },
    {
      pairing: oneExecutor,
      side: "Runline",
      shape: `1 × createWorker({ concurrency: ${workers} })`,
      queue: () => queueRuns(url, runlineKey, jobCount),
      drain: () => drainWithSdk(url, runlineKey, 1, workers, jobCount),
    },
    graphile(oneExecutor),
    {
      pairing: batched,
      side: "Runline",
      shape: `${workers} × ClaimRuns(maxRuns ${claimBatch}) loops`,
      queue: () => queueRuns(url, runlineKey, jobCount),
      drain: () => drainWithClaimLoops(url, runlineKey, workers, claimBatch, jobCount),
    },
    {
      pairing: batched,
      side: "graphile-worker",
      shape: `run({ concurrency: ${workers}, localQueue: { size: ${claimBatch} } })`,
      queue: () => queueJobs(graphileUrl, jobCount),
      drain: () => drainWithGraphile(graphileUrl, workers, jobCount, claimBatch),
    },
  ];
}

async function measure(context: BenchContext, executor: Executor, round: number): Promise<Measured> {
  say(`round ${round}, ${executor.side} (${executor.shape}): queueing ${jobCount} jobs, then draining them …`);
  await executor.queue();
  await context.admin.query("checkpoint");
  const before = await sampleCpu(context.watch);
  const { drain, stop } = await executor.drain();
  const cpu = cpuBetween(before, await sampleCpu(context.watch));
  await stop();
  if (drain.errors > 0) say(`  ${drain.errors} failures; the first: ${String(drain.firstError)}`);
  return { round, executor, drain, cpu };
}

/** Every run of the executors' tenant is SUCCEEDED: none lost, none left running. */
async function checkRunline(context: BenchContext, expected: number): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: context.urlFor("bench_runline") });
  await client.connect();
  try {
    const { rows } = await client.query<{ status: string; count: number }>(
      `select r.status, count(*)::int as count from runs r join tenants t on t.id = r.tenant_id where t.slug = $1::text group by r.status`,
      [tenantSlug],
    );
    const succeeded = rows.find((row) => row.status === "SUCCEEDED")?.count ?? 0;
    return succeeded === expected && rows.length === 1
      ? undefined
      : `Runline runs by status: ${JSON.stringify(rows)}, expected ${expected} SUCCEEDED`;
  } finally {
    await client.end();
  }
}

const jobsPerSecond = (measured: Measured) => (1000 * measured.drain.completed) / measured.drain.elapsedMs;

/** Runline's throughput over graphile-worker's in the same pairing and round. */
function ratioOf(measured: Measured, all: readonly Measured[]): number | undefined {
  if (measured.executor.side !== "Runline") return undefined;
  const baseline = all.find(
    (other) =>
      other.round === measured.round && other.executor.pairing === measured.executor.pairing && other.executor.side === "graphile-worker",
  );
  return baseline === undefined ? undefined : jobsPerSecond(measured) / jobsPerSecond(baseline);
}

function ratio(measured: Measured, all: readonly Measured[]): string {
  const value = ratioOf(measured, all);
  return value === undefined ? "" : format(value, 2);
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Per pairing: both sides' median throughput and the median, lowest and highest ratio over the rounds. */
function summary(all: readonly Measured[]): string[][] {
  const pairings = [...new Set(all.map((entry) => entry.executor.pairing))];
  return pairings.map((pairing) => {
    const of = (side: Side) => all.filter((entry) => entry.executor.pairing === pairing && entry.executor.side === side);
    const ratios = of("Runline")
      .map((entry) => ratioOf(entry, all))
      .filter((value): value is number => value !== undefined);
    const throughput = (side: Side) => `${format(median(of(side).map(jobsPerSecond)), 0)} jobs/s`;
    return [
      pairing,
      throughput("Runline"),
      throughput("graphile-worker"),
      format(median(ratios), 2),
      `${format(Math.min(...ratios), 2)}–${format(Math.max(...ratios), 2)}`,
      String(ratios.length),
    ];
  });
}

function row(measured: Measured, all: readonly Measured[]): string[] {
  const { executor, drain, cpu } = measured;
  const [bench = 0, server = 0] = cpu.processSeconds;
  const perJob = (seconds: number) => format((1000 * seconds) / drain.completed, 2);
  const serverSeconds = executor.side === "Runline" ? server : 0;
  return [
    String(measured.round),
    executor.pairing,
    executor.side,
    executor.shape,
    `${format(jobsPerSecond(measured), 0)} jobs/s`,
    format(drain.elapsedMs / 1000, 1),
    format(drain.firstMs, 0),
    ratio(measured, all),
    format(cpu.machinePercent, 0),
    perJob(bench),
    executor.side === "Runline" ? perJob(server) : "–",
    perJob(cpu.clusterSeconds),
    perJob(bench + serverSeconds + cpu.clusterSeconds),
    String(drain.errors),
  ];
}

async function run(context: BenchContext): Promise<boolean> {
  await context.admin.query("create database bench_graphile");
  const graphileUrl = context.urlFor("bench_graphile");
  await installGraphile(graphileUrl);
  const runlineKey = await createBenchTenant(context.server.url, context.rootKey, tenantSlug);
  const measured: Measured[] = [];
  const rounds = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3) || 3);
  for (let round = 1; round <= rounds; round++) {
    for (const executor of executorsFor(context, runlineKey, graphileUrl)) measured.push(await measure(context, executor, round));
  }
  const problem = await checkRunline(context, jobCount * measured.filter((entry) => entry.executor.side === "Runline").length);
  say(
    `\n${jobCount} jobs per drain, ${workers} executors, no-op jobs; CPU ms per job over the drain (bench process = load generator and, for graphile-worker, the worker itself):\n`,
  );
  say(
    `${table(
      [
        "round",
        "pairing",
        "side",
        "executors",
        "throughput",
        "seconds",
        "first job ms",
        "Runline/graphile",
        "machine busy %",
        "bench process",
        "server",
        "Postgres",
        "all",
        "errors",
      ],
      measured.map((entry) => row(entry, measured)),
    )}\n`,
  );
  say(`Over ${rounds} round(s), medians; the ratio is taken within each round:\n`);
  say(`${table(["pairing", "Runline", "graphile-worker", "Runline/graphile", "lowest–highest", "rounds"], summary(measured))}\n`);
  if (problem !== undefined) say(problem);
  if (graphileProblems.length > 0) say(`graphile-worker logged:\n${graphileProblems.join("\n")}`);
  return problem === undefined && measured.every((entry) => entry.drain.errors === 0);
}

/** Draining queued runs with 8 executors, against graphile-worker. */
export const executorComparison: ScenarioGroup = {
  name: "executors",
  summary: `${jobCount} queued no-op jobs drained by ${workers} executors, Runline against graphile-worker`,
  run,
};
