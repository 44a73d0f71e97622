/**
 * Scenario group `raw`: Runline against two raw `pg` baselines for CreateRun and for
 * IngestRunEvents in batches of 100, each at 32 concurrent callers. Both baselines live
 * in a database of their own (`bench_raw`): the same SQL as the server's on Runline's
 * schema (migrated from scratch by Runline's migrations; baseline-side.ts), and the
 * minimal tables of issue 16 (minimal-side.ts). Per scenario: minimal, same SQL, then
 * Runline; per window also the statements, WAL and index entries a call wrote.
 */
import pg from "pg";
import { openBaseline, type Baseline } from "./baseline-side.js";
import { measureWindow, say, type BenchContext, type ScenarioGroup } from "./bench-context.js";
import type { LoadOptions, Operation } from "./load.js";
import { openMinimalBaseline, type MinimalBaseline } from "./minimal-side.js";
import { cpuTable, throughputTable, writesTable, type Measurement } from "./report.js";
import { connectRunline, type RunlineClient } from "./runline-side.js";
import {
  indexEntries,
  prepareWriteAccounting,
  readWriteCounters,
  writesPerCall,
  type SampleRow,
  type WriteCounters,
} from "./write-accounting.js";

const callers = 32;
const batchSize = 100;
const load: LoadOptions = { callers, warmupMs: 2_000, durationMs: 10_000, maxOperationsPerCaller: 1_000_000, maxErrors: 100 };

/** One IngestRunEvents batch: small JSON progress events, the same on every side. */
const events = Array.from({ length: batchSize }, (_, step) => ({ type: "progress", data: { step, of: batchSize, note: "bench" } }));

interface Sides {
  readonly minimal: MinimalBaseline;
  readonly baseline: Baseline;
  readonly runline: RunlineClient;
}

interface Scenario {
  readonly name: string;
  readonly unit: string;
  readonly operation: (sides: Sides, side: Measurement["side"]) => Operation;
  /** The rows one call inserts, to count their index entries (CreateRun only). */
  readonly sampleRows?: (side: Measurement["side"]) => readonly SampleRow[];
}

// The newest run of the database and its status event: what the last CreateRun stored.
const newestRun = `(select r.tenant_id, r.id from runs r order by r.create_time desc, r.id desc limit 1)`;
const runRows: readonly SampleRow[] = [
  { table: "runs", where: `(tenant_id, id) = ${newestRun}` },
  { table: "run_events", where: `(tenant_id, run_id) = ${newestRun} and sequence = 1` },
];
const minimalRows: readonly SampleRow[] = [
  { table: "minimal_runs", where: `id = (select m.id from minimal_runs m order by m.create_time desc, m.id desc limit 1)` },
];

const scenarios: readonly Scenario[] = [
  {
    name: "CreateRun",
    unit: "runs/s",
    operation: (sides, side) => (side === "minimal" ? sides.minimal : side === "same SQL" ? sides.baseline : sides.runline).createRun,
    sampleRows: (side) => (side === "minimal" ? minimalRows : runRows),
  },
  {
    name: `IngestRunEvents ×${batchSize}`,
    unit: "events/s",
    operation: (sides, side) => (side === "minimal" ? sides.minimal : side === "same SQL" ? sides.baseline : sides.runline).ingestEvents,
  },
];

async function measure(
  context: BenchContext,
  scenario: Scenario,
  side: Measurement["side"],
  operation: Operation,
  database: { name: string; client: pg.Client },
): Promise<Measurement> {
  const counters: WriteCounters[] = [];
  const readCounters = async () => void counters.push(await readWriteCounters(context.admin, database.name));
  const { result, cpu } = await measureWindow(context, `${scenario.name} on ${side}`, operation, load, readCounters);
  const writes = await writesPerCall(context.admin, counters[0]!, counters[1]!, result.operations);
  const rows = scenario.sampleRows?.(side);
  const entries = rows === undefined ? {} : { indexEntries: await indexEntries(database.client, rows) };
  return { scenario: scenario.name, unit: scenario.unit, side, result, cpu, writes: { ...writes, ...entries } };
}

async function connected(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return client;
}

async function run(context: BenchContext): Promise<boolean> {
  await context.admin.query("create database bench_raw");
  await prepareWriteAccounting(context.admin);
  const baseline = await openBaseline(context.urlFor("bench_raw"), callers, events);
  const minimal = await openMinimalBaseline(context.urlFor("bench_raw"), callers, events);
  const rawDatabase = { name: "bench_raw", client: await connected(context.urlFor("bench_raw")) };
  const runlineDatabase = { name: "bench_runline", client: await connected(context.urlFor("bench_runline")) };
  try {
    const sides: Sides = { minimal, baseline, runline: await connectRunline(context.server.url, context.rootKey, callers, events) };
    const measurements: Measurement[] = [];
    for (const scenario of scenarios) {
      for (const side of ["minimal", "same SQL", "Runline"] as const) {
        const database = side === "Runline" ? runlineDatabase : rawDatabase;
        measurements.push(await measure(context, scenario, side, scenario.operation(sides, side), database));
      }
    }
    say(
      `\n${throughputTable(measurements)}\n\nCPU ms per call (one run, or one batch of ${batchSize} events); bench cores = CPU of the load generator, server and Postgres over the window:\n\n${cpuTable(measurements)}\n`,
    );
    say(
      `Per call: statements Postgres ran (pg_stat_statements, the side's database), WAL bytes (pg_current_wal_lsn over the window, cluster-wide), index entries of a created run and its status event:\n\n${writesTable(measurements)}\n`,
    );
    return measurements.every((measurement) => measurement.result.errors === 0);
  } finally {
    await rawDatabase.client.end();
    await runlineDatabase.client.end();
    await minimal.close();
    await baseline.close();
  }
}

/** CreateRun and IngestRunEvents: Runline (Connect binary over h2c) against both raw baselines. */
export const rawComparison: ScenarioGroup = {
  name: "raw",
  summary: "CreateRun and IngestRunEvents ×100 against a minimal table and the same SQL on raw pg, 32 callers, 2 s + 10 s each",
  run,
};
