/**
 * `npm run bench`: Runline against baselines in one run on one Postgres cluster
 * (embedded, fsync on) and one Runline server process. Scenario groups, all by
 * default, or those named in BENCH_SCENARIOS (comma-separated):
 *
 * - `raw`: CreateRun and IngestRunEvents ×100 against a minimal table and the same SQL
 *   on raw `pg`; it loads pg_stat_statements (statements per call).
 * - `rest`: GetRun and CreateRun over REST against the same RPCs over Connect JSON.
 * - `executors`: draining queued runs with 8 workers against graphile-worker.
 * - `slow-readers`: 40 clients that never read a 59 MB event stream, per protocol (RSS).
 * - `webhooks`: delivery latency under bursts, and a drain with vs without webhooks.
 * - `fanout`: many subscribers of few runs (a raw http2 ceiling, idle memory, statements
 *   per batch, 3 replicas behind HAProxy); it loads pg_stat_statements.
 * - `scale` (only when named): 5M runs and 50M events seeded, then reads, `/metrics` and
 *   a drain against raw SQL and an empty database; ≈ 16–25 min and ≈ 16 GB of disk.
 * - `held-vacuum` (only when named): the executors' drain before, during and after a
 *   transaction that holds the xmin horizon back for 60 s; dead tuples, the claims' plans
 *   (≈ 4–5 min).
 * - `held-vacuum-raw` (only when named): the same drain on raw `pg`, Runline's statements
 *   against a narrow queue table prototype, with and without a position hint, held and
 *   not (≈ 7 min).
 *
 * Each prints Markdown tables; bench/RESULTS.md records runs and what they mean. Set
 * BENCH_CPU_PROFILE_DIR to write a CPU profile of the server process there,
 * BENCH_ROUNDS for the number of rounds of the executors group (default 3),
 * BENCH_POSTGRES_FLAGS for extra Postgres flags (diagnosis; its log is then printed), and
 * BENCH_STATEMENTS=1 to load pg_stat_statements, for the groups that print the
 * statements each measured phase ran (webhooks). BENCH_WEBHOOK_LATENCY=0 skips the
 * webhooks group's latency part (its drain rounds still run).
 */
import { rmSync } from "node:fs";
import { statementStatsWanted } from "./statement-stats.js";
import { chmod, mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { startEmbeddedPostgres } from "../src/db/embedded-postgres.js";
import { createLogger } from "../src/logger.js";
import { loadAverage, say, type BenchContext, type ScenarioGroup } from "./bench-context.js";
import { executorComparison } from "./executor-comparison.js";
import { rawComparison } from "./raw-comparison.js";
import { restComparison } from "./rest-comparison.js";
import { slowReaders } from "./slow-readers.js";
import { startRunlineProcess } from "./runline-side.js";
import { webhookBench } from "./webhooks.js";
import { fanoutBench } from "./fanout.js";
import { scaleBench } from "./scale.js";
import { heldVacuumBench } from "./held-vacuum.js";
import { heldVacuumRawBench } from "./held-vacuum-raw.js";

/** In the order they run, whatever order BENCH_SCENARIOS names them in. */
const groups: readonly ScenarioGroup[] = [
  rawComparison,
  restComparison,
  executorComparison,
  slowReaders,
  webhookBench,
  fanoutBench,
  heldVacuumBench,
  heldVacuumRawBench,
  scaleBench,
];
/** The server's default pool size (RUNLINE_DB_POOL_SIZE): what a deployment gets. */
const runlinePoolSize = 20;
const rootKey = "bench-root-key-0123456789";
const repositoryRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** The groups BENCH_SCENARIOS names, or all but the opt-in ones; an unknown name is an error. */
function selectGroups(setting: string | undefined): readonly ScenarioGroup[] {
  const names = (setting ?? "")
    .split(",")
    .map((name) => name.trim())
    .filter((name) => name !== "");
  if (names.length === 0) return groups.filter((group) => group.optIn !== true);
  const unknown = names.filter((name) => !groups.some((group) => group.name === name));
  if (unknown.length > 0) {
    const known = groups.map((group) => `  ${group.name}: ${group.summary}`).join("\n");
    throw new Error(`BENCH_SCENARIOS names unknown scenario groups (${unknown.join(", ")}); the groups are:\n${known}`);
  }
  return groups.filter((group) => names.includes(group.name));
}

/** Starts the server on `bench_runline` and runs each selected group in turn. */
async function runGroups(
  selected: readonly ScenarioGroup[],
  admin: pg.Client,
  urlFor: (database: string) => string,
  postmasterPid: number,
): Promise<void> {
  await admin.query("create database bench_runline");
  const server = await startRunlineProcess({
    repositoryRoot,
    databaseUrl: urlFor("bench_runline"),
    rootKey,
    poolSize: runlinePoolSize,
    cpuProfileDirectory: process.env.BENCH_CPU_PROFILE_DIR,
    // The webhooks group's receiver listens on loopback, which the SSRF guard refuses unless allowed.
    env: { RUNLINE_WEBHOOK_ALLOW: "127.0.0.1/32" },
  });
  try {
    const context: BenchContext = { admin, urlFor, server, rootKey, watch: { pids: [process.pid, server.pid], postmasterPid } };
    for (const group of selected) {
      say(`\n## ${group.name}: ${group.summary} (load average ${loadAverage()})\n`);
      const started = performance.now();
      if (!(await group.run(context))) process.exitCode = 1;
      say(`${group.name} took ${((performance.now() - started) / 1000).toFixed(0)} s; load average after: ${loadAverage()}`);
    }
  } finally {
    const ended = server.unexpectedExit();
    await server.stop();
    if (ended !== undefined) {
      say(`The server ended during the bench (${ended}): its numbers are not valid.`);
      process.exitCode = 1;
    }
    if (server.problems.length > 0) say(`The server logged problems:\n${server.problems.join("\n")}`);
  }
}

async function main(): Promise<void> {
  const selected = selectGroups(process.env.BENCH_SCENARIOS);
  const folder = await mkdtemp(path.join(os.tmpdir(), "runline-bench-"));
  // mkdtemp makes the folder 0700; Postgres runs as its own user and must reach inside.
  await chmod(folder, 0o755);
  // On Ctrl-C embedded-postgres stops the cluster and exits; the folder goes then.
  const removeFolder = () => rmSync(folder, { recursive: true, force: true });
  process.once("exit", removeFolder);
  try {
    const directory = path.join(folder, "pg");
    // Default flags: fsync and synchronous_commit on, as in production. For diagnosis,
    // BENCH_POSTGRES_FLAGS adds some (e.g. "-c shared_preload_libraries=auto_explain
    // -c auto_explain.log_min_duration=5"); Postgres' log is then printed.
    const diagnosis = process.env.BENCH_POSTGRES_FLAGS?.split(" ").filter(Boolean) ?? [];
    const statements =
      statementStatsWanted() || selected.some((group) => group.name === "fanout" || group.name === "raw")
        ? ["-c", "shared_preload_libraries=pg_stat_statements"]
        : [];
    const cluster = await startEmbeddedPostgres({
      directory,
      logger: createLogger(diagnosis.length > 0 ? "debug" : "warn"),
      postgresFlags: [...statements, ...diagnosis],
    });
    const admin = new pg.Client({ connectionString: cluster.adminUrl });
    try {
      await admin.connect();
      const postmasterPid = Number((await readFile(path.join(directory, "postmaster.pid"), "utf8")).split("\n")[0]);
      const { rows } = await admin.query<{ version: string }>("select version()");
      say(
        `${rows[0]!.version}; ${os.cpus().length} CPUs; Node ${process.version}; scenario groups: ${selected.map((group) => group.name).join(", ")}; load average before: ${loadAverage()}`,
      );
      await runGroups(selected, admin, cluster.urlFor, postmasterPid);
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
