/**
 * `npm run bench`: Runline against a raw `pg` baseline, in one run on one Postgres
 * cluster (embedded, fsync on), for CreateRun and for IngestRunEvents in batches of
 * 100, each at 32 concurrent callers. Prints runs/s, events/s, p50/p99, the ratio
 * Runline/raw and CPU per call; bench/RESULTS.md records runs and what they mean.
 *
 * Each side has a database of its own, migrated from scratch, and a CHECKPOINT comes
 * before each measured scenario, so neither side pays for the other's dirty pages.
 * Set BENCH_CPU_PROFILE_DIR to write a CPU profile of the server process there.
 */
import { rmSync } from "node:fs";
import { chmod, mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { startEmbeddedPostgres } from "../src/db/embedded-postgres.js";
import { createLogger } from "../src/logger.js";
import { openBaseline, type Baseline } from "./baseline-side.js";
import { cpuBetween, sampleCpu, type CpuWatch } from "./cpu.js";
import { runLoad, type LoadOptions, type Operation } from "./load.js";
import { cpuTable, throughputTable, type Measurement } from "./report.js";
import { connectRunline, startRunlineProcess, type RunlineClient } from "./runline-side.js";

const callers = 32;
const batchSize = 100;
const load: LoadOptions = { callers, warmupMs: 2_000, durationMs: 10_000, maxOperationsPerCaller: 1_000_000, maxErrors: 100 };
/** The server's default pool size (RUNLINE_DB_POOL_SIZE): what a deployment gets. */
const runlinePoolSize = 20;
const rootKey = "bench-root-key-0123456789";
const repositoryRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** One IngestRunEvents batch: small JSON progress events, the same on both sides. */
const events = Array.from({ length: batchSize }, (_, step) => ({ type: "progress", data: { step, of: batchSize, note: "bench" } }));

interface Scenario {
  readonly name: string;
  readonly unit: string;
  readonly baseline: (side: Baseline) => Operation;
  readonly runline: (side: RunlineClient) => Operation;
}

const scenarios: readonly Scenario[] = [
  { name: "CreateRun", unit: "runs/s", baseline: (side) => side.createRun, runline: (side) => side.createRun },
  { name: `IngestRunEvents ×${batchSize}`, unit: "events/s", baseline: (side) => side.ingestEvents, runline: (side) => side.ingestEvents },
];

/** What every measurement needs: the cluster's admin connection and whose CPU to count. */
interface Bench {
  readonly admin: pg.Client;
  readonly watch: CpuWatch;
}

function say(line: string): void {
  process.stdout.write(line + "\n");
}

async function measure(bench: Bench, scenario: Scenario, side: Measurement["side"], operation: Operation): Promise<Measurement> {
  await bench.admin.query("checkpoint");
  say(`${scenario.name} on ${side}: ${load.warmupMs / 1000} s warm-up, ${load.durationMs / 1000} s measured …`);
  const windowStart = delay(load.warmupMs).then(() => sampleCpu(bench.watch));
  const result = await runLoad(operation, load);
  const cpu = cpuBetween(await windowStart, await sampleCpu(bench.watch));
  if (result.errors > 0) say(`  ${result.errors} calls failed; the first: ${String(result.firstError)}`);
  return { scenario: scenario.name, unit: scenario.unit, side, result, cpu };
}

/** Both sides, scenario by scenario: the baseline first, then Runline. */
async function compare(admin: pg.Client, urlFor: (database: string) => string, postmasterPid: number): Promise<void> {
  for (const name of ["bench_raw", "bench_runline"]) await admin.query(`create database ${name}`);
  const baseline = await openBaseline(urlFor("bench_raw"), callers, events);
  const server = await startRunlineProcess({
    repositoryRoot, databaseUrl: urlFor("bench_runline"), rootKey, poolSize: runlinePoolSize, cpuProfileDirectory: process.env.BENCH_CPU_PROFILE_DIR,
  });
  try {
    const runline = await connectRunline(server.url, rootKey, callers, events);
    const bench: Bench = { admin, watch: { pids: [process.pid, server.pid], postmasterPid } };
    const measurements: Measurement[] = [];
    for (const scenario of scenarios) {
      measurements.push(await measure(bench, scenario, "raw pg", scenario.baseline(baseline)));
      measurements.push(await measure(bench, scenario, "Runline", scenario.runline(runline)));
    }
    if (measurements.some((measurement) => measurement.result.errors > 0)) process.exitCode = 1;
    say(`\n${throughputTable(measurements)}\n\nCPU ms per call (one run, or one batch of ${batchSize} events); bench cores = CPU of the load generator, server and Postgres over the window:\n\n${cpuTable(measurements)}\n`);
  } finally {
    const ended = server.unexpectedExit();
    await server.stop();
    await baseline.close();
    if (ended !== undefined) {
      say(`The server ended during the bench (${ended}): its numbers are not valid.`);
      process.exitCode = 1;
    }
    if (server.problems.length > 0) say(`The server logged problems:\n${server.problems.join("\n")}`);
  }
}

/** The machine's 1-minute load average: other work on it skews every number. */
function loadAverage(): string {
  return os.loadavg()[0]!.toFixed(2);
}

async function main(): Promise<void> {
  const folder = await mkdtemp(path.join(os.tmpdir(), "runline-bench-"));
  // mkdtemp makes the folder 0700; Postgres runs as its own user and must reach inside.
  await chmod(folder, 0o755);
  // On Ctrl-C embedded-postgres stops the cluster and exits; the folder goes then.
  const removeFolder = () => rmSync(folder, { recursive: true, force: true });
  process.once("exit", removeFolder);
  try {
    const directory = path.join(folder, "pg");
    // Default flags: fsync and synchronous_commit on, as in production.
    const cluster = await startEmbeddedPostgres({ directory, logger: createLogger("warn") });
    const admin = new pg.Client({ connectionString: cluster.adminUrl });
    try {
      await admin.connect();
      const postmasterPid = Number((await readFile(path.join(directory, "postmaster.pid"), "utf8")).split("\n")[0]);
      const { rows } = await admin.query<{ version: string }>("select version()");
      say(`${rows[0]!.version}; ${os.cpus().length} CPUs; Node ${process.version}; load average before: ${loadAverage()}`);
      await compare(admin, cluster.urlFor, postmasterPid);
      say(`load average after: ${loadAverage()}`);
    } finally {
      await admin.end();
      await cluster.stop();
    }
  } finally {
    process.off("exit", removeFolder);
    await rm(folder, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
