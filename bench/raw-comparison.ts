/**
 * Scenario group `raw`: Runline against a raw `pg` baseline for CreateRun and for
 * IngestRunEvents in batches of 100, each at 32 concurrent callers. The baseline has a
 * database of its own (`bench_raw`), migrated from scratch by Runline's migrations.
 * Per scenario the baseline goes first, then Runline.
 */
import { openBaseline, type Baseline } from "./baseline-side.js";
import { measureWindow, say, type BenchContext, type ScenarioGroup } from "./bench-context.js";
import type { LoadOptions, Operation } from "./load.js";
import { cpuTable, throughputTable, type Measurement } from "./report.js";
import { connectRunline, type RunlineClient } from "./runline-side.js";

const callers = 32;
const batchSize = 100;
const load: LoadOptions = { callers, warmupMs: 2_000, durationMs: 10_000, maxOperationsPerCaller: 1_000_000, maxErrors: 100 };

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

async function measure(context: BenchContext, scenario: Scenario, side: Measurement["side"], operation: Operation): Promise<Measurement> {
  const { result, cpu } = await measureWindow(context, `${scenario.name} on ${side}`, operation, load);
  return { scenario: scenario.name, unit: scenario.unit, side, result, cpu };
}

async function run(context: BenchContext): Promise<boolean> {
  await context.admin.query("create database bench_raw");
  const baseline = await openBaseline(context.urlFor("bench_raw"), callers, events);
  try {
    const runline = await connectRunline(context.server.url, context.rootKey, callers, events);
    const measurements: Measurement[] = [];
    for (const scenario of scenarios) {
      measurements.push(await measure(context, scenario, "raw pg", scenario.baseline(baseline)));
      measurements.push(await measure(context, scenario, "Runline", scenario.runline(runline)));
    }
    say(
      `\n${throughputTable(measurements)}\n\nCPU ms per call (one run, or one batch of ${batchSize} events); bench cores = CPU of the load generator, server and Postgres over the window:\n\n${cpuTable(measurements)}\n`,
    );
    return measurements.every((measurement) => measurement.result.errors === 0);
  } finally {
    await baseline.close();
  }
}

/** CreateRun and IngestRunEvents: Runline (Connect binary over h2c) against raw pg. */
export const rawComparison: ScenarioGroup = {
  name: "raw",
  summary: "CreateRun and IngestRunEvents ×100 against raw pg, 32 callers, 2 s + 10 s each",
  run,
};
