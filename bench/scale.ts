/**
 * Scenario group `scale` (issue 16): Runline with a year of history, 5 million runs
 * across 100 tenants and 50 million events (BENCH_SCALE_RUNS to change the run count;
 * events stay ten per run). Not in the default set: it took 16–25 minutes and 16 GB of
 * disk on the bench machine.
 *
 * It has a database (`bench_scale`) and server processes of its own, so neither its data
 * nor its load reaches the other groups, and it drops the database when done:
 * 1. A server on the empty database: 100 tenants made through the API.
 * 2. Server stopped; runs and events seeded (scale-seed.ts), indexes rebuilt, VACUUM
 *    ANALYZE, consistency checked; seed time and database size reported.
 * 3. A new server on the seeded database: ListRuns pages, GetRun, `/metrics`, each beside
 *    its SQL on raw pg (scale-queries.ts). Then drains of `drainRuns` runs in tenant 1
 *    (8 SDK workers, one run each, as the executors group's first pairing), alternating
 *    round by round between the seeded database and an empty one (`bench_scale_empty`,
 *    its own server), so that both sides of the ratio see the same machine.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { RunsService } from "../gen/runline/v1/runs_service_pb.js";
import { loadAverage, median, say, type BenchContext, type ScenarioGroup } from "./bench-context.js";
import { format, table } from "./report.js";
import { drainWithSdk, queueRuns } from "./runline-executors.js";
import { clientOf, startRunlineProcess, type RunlineProcess } from "./runline-side.js";
import { measureReads, measureScrape, type Latency, type QueryFigures } from "./scale-queries.js";
import { createScaleTenants, seedRuns, type ScaleTenant } from "./scale-seed.js";
import { printStatementStats, resetStatementStats } from "./statement-stats.js";

const database = "bench_scale";
/** The drains' other side: the same schema and server, no history. */
const emptyDatabase = "bench_scale_empty";
const drainRuns = 10_000;
const drainRounds = 3;
const drainWorkers = 8;
/**
 * The drains run in a tenant of ordinary size (40,000 seeded runs at 5M): in the big one,
 * their runs (no labels) would be the newest 20,000 and hide its history from the reads.
 */
const drainTenant = 1;
/** As run.ts: the server's default pool size. */
const poolSize = 20;
const repositoryRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

function startServer(context: BenchContext, name = database): Promise<RunlineProcess> {
  return startRunlineProcess({
    repositoryRoot,
    databaseUrl: context.urlFor(name),
    rootKey: context.rootKey,
    poolSize,
    cpuProfileDirectory: process.env.BENCH_CPU_PROFILE_DIR,
  });
}

/** Queues `drainRuns` runs of `counter` in `tenant` and times their drain; runs/s, or NaN on failure. */
async function drainOnce(context: BenchContext, server: RunlineProcess, tenant: ScaleTenant, label: string): Promise<number> {
  await queueRuns(server.url, tenant.key, drainRuns);
  await context.admin.query("checkpoint");
  const { drain, stop } = await drainWithSdk(server.url, tenant.key, drainWorkers, 1, drainRuns);
  await stop();
  const perSecond = (1000 * drain.completed) / drain.elapsedMs;
  say(
    `  drain ${label}: ${format(perSecond, 0)} runs/s (${format(drain.elapsedMs / 1000, 1)} s, ${drain.errors} errors; load ${loadAverage()})`,
  );
  if (drain.errors > 0) say(`    first failure: ${String(drain.firstError)}`);
  return drain.errors > 0 ? Number.NaN : perSecond;
}

/**
 * Drains on an empty database and among the seeded runs, alternating round by round; the
 * medians (runs/s) of each side.
 */
async function alternatingDrains(
  context: BenchContext,
  seeded: RunlineProcess,
  drainer: ScaleTenant,
): Promise<{ empty: number; full: number }> {
  const empty = await startServer(context, emptyDatabase);
  try {
    const emptyTenant = (await createScaleTenants(empty.url, context.rootKey, drainTenant + 1))[drainTenant]!;
    await resetStatementStats(context.admin);
    const emptyRates: number[] = [];
    const fullRates: number[] = [];
    for (let round = 1; round <= drainRounds; round++) {
      emptyRates.push(await drainOnce(context, empty, emptyTenant, `on the empty database, round ${round}`));
      fullRates.push(await drainOnce(context, seeded, drainer, `among the seeded runs, round ${round}`));
    }
    for (const name of [emptyDatabase, database]) await printStatementStats(context.admin, `the drains in ${name}`, 8, name);
    return { empty: median(emptyRates), full: median(fullRates) };
  } finally {
    await empty.stop();
    if (empty.problems.length > 0) say(`The empty database's server logged problems:\n${empty.problems.join("\n")}`);
  }
}

const ms = (value: number) => format(value, 2);
const ratio = (value: number) => format(value, 2);

function queryTable(figures: readonly QueryFigures[]): string {
  return table(
    ["query", "end to end p50", "p99", "server SQL on pg p50", "p99", "end to end / SQL (p50)", "minimal keyset p50", "p99"],
    figures.map((entry) => [
      entry.name,
      ms(entry.endToEnd.p50),
      ms(entry.endToEnd.p99),
      ms(entry.raw.p50),
      ms(entry.raw.p99),
      ratio(entry.endToEnd.p50 / entry.raw.p50),
      entry.keyset === undefined ? "" : ms(entry.keyset.p50),
      entry.keyset === undefined ? "" : ms(entry.keyset.p99),
    ]),
  );
}

/** The goals at 5M runs, each with its figure. */
function goalTable(reads: readonly QueryFigures[], scrape: QueryFigures, empty: number, full: number): string {
  const [first, deep] = reads as [QueryFigures, QueryFigures];
  const check = (met: boolean) => (met ? "met" : "missed");
  const p99 = (latency: Latency) => latency.p99;
  return table(
    ["goal", "figure", ""],
    [
      ["ListRuns p99 ≤ 10 ms end to end (page 1)", `${ms(p99(first.endToEnd))} ms`, check(p99(first.endToEnd) <= 10)],
      [
        `${deep.name} ≤ 1.2× page 1 (p50)`,
        ratio(deep.endToEnd.p50 / first.endToEnd.p50),
        check(deep.endToEnd.p50 <= 1.2 * first.endToEnd.p50),
      ],
      [
        "end to end ≤ 1.5× the raw keyset query (page 1, p50)",
        ratio(first.endToEnd.p50 / first.keyset!.p50),
        check(first.endToEnd.p50 <= 1.5 * first.keyset!.p50),
      ],
      ["/metrics scrape ≤ 50 ms (p99)", `${ms(scrape.endToEnd.p99)} ms`, check(scrape.endToEnd.p99 <= 50)],
      ["drain among 5M ≥ 0.9 of the empty database's (medians)", ratio(full / empty), check(full >= 0.9 * empty)],
    ],
  );
}

async function measureSeeded(context: BenchContext, tenant: ScaleTenant, drainer: ScaleTenant): Promise<boolean> {
  const server = await startServer(context);
  const raw = new pg.Client({ connectionString: context.urlFor(database) });
  await raw.connect();
  try {
    const { rows } = await raw.query<{ id: string }>(`select id from tenants where slug = $1::text`, [tenant.slug]);
    const target = { runs: clientOf(RunsService, server.url, tenant.key), tenantId: rows[0]!.id, database: raw, serverUrl: server.url };
    say(`reads (load ${loadAverage()}):`);
    await resetStatementStats(context.admin);
    const reads = await measureReads(target);
    await printStatementStats(context.admin, "the reads", 12, database);
    const scrape = await measureScrape(target);
    say(`\n${queryTable([...reads, ...scrape])}\n`);
    const { empty, full } = await alternatingDrains(context, server, drainer);
    say(`\n${goalTable(reads, scrape[0]!, empty, full)}\n`);
    return Number.isFinite(empty) && Number.isFinite(full) && server.unexpectedExit() === undefined;
  } finally {
    await raw.end();
    await server.stop();
    if (server.problems.length > 0) say(`The scale server logged problems:\n${server.problems.join("\n")}`);
  }
}

async function run(context: BenchContext): Promise<boolean> {
  const total = Number(process.env.BENCH_SCALE_RUNS ?? 5_000_000);
  await context.admin.query(`create database ${database}`);
  await context.admin.query(`create database ${emptyDatabase}`);
  try {
    const server = await startServer(context);
    let tenants: ScaleTenant[];
    try {
      tenants = await createScaleTenants(server.url, context.rootKey);
    } finally {
      await server.stop();
    }
    say(`seeding ${total.toLocaleString("en-US")} runs (load ${loadAverage()}) …`);
    const seed = await seedRuns(context.urlFor(database), tenants, total);
    say(
      `seeded ${seed.runs.toLocaleString("en-US")} runs and ${seed.events.toLocaleString("en-US")} events: insert ${seed.insertSeconds.toFixed(0)} s, ` +
        `runs' indexes ${seed.indexSeconds.toFixed(0)} s, VACUUM ANALYZE ${seed.vacuumSeconds.toFixed(0)} s; ` +
        `database ${format(seed.databaseBytes / 2 ** 30, 1)} GiB (load ${loadAverage()})`,
    );
    return await measureSeeded(context, tenants[0]!, tenants[drainTenant]!);
  } finally {
    await context.admin.query(`drop database if exists ${database} with (force)`);
    await context.admin.query(`drop database if exists ${emptyDatabase} with (force)`);
  }
}

/** Reads, scrapes and a drain with 5M runs and 50M events stored, against an empty database. */
export const scaleBench: ScenarioGroup = {
  name: "scale",
  summary:
    "5M runs and 50M events seeded: ListRuns, GetRun, /metrics, a drain, each against raw SQL or an empty database (≈ 16–25 min, 16 GB, opt-in)",
  run,
  optIn: true,
};
