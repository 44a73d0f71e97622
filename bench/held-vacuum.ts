/**
 * Scenario group `held-vacuum` (issue 16, point 4): the executors' drain while another
 * connection holds the xmin horizon back, as an analytics query or a stuck migration
 * does. Four drains of `jobCount` queued no-op runs by 8 SDK workers (concurrency 1, the
 * executors group's headline pairing), each on a tenant-wide queue of its own runs:
 *
 * - before: nothing held (VACUUM first, so it starts clean);
 * - during: VACUUM first, then a REPEATABLE READ transaction with an xid is opened on
 *   the server's database and kept for `holdMs`; the throughput is the completions
 *   inside the held window over its length (the whole drain if it ends sooner);
 * - after, not vacuumed: once it is released, at once, whatever autovacuum does meanwhile;
 * - after, vacuumed: after a VACUUM (VERBOSE, timed) of `runs`.
 *
 * Each drain's runs are queued and analyzed outside the clock, then a CHECKPOINT. The
 * group prints per drain: jobs/s over the drain (and over the held window), the rate in
 * each `sampleMs` step, CPU per job, dead tuples of every table the drain touched at the
 * end of the window (pg_stat_user_tables, and exact counts for `runs` by pgstattuple),
 * and EXPLAIN (ANALYZE, BUFFERS) of the Work session's complete-and-claim and of a claim
 * of an empty queue, taken after the drain (during the hold for the held drain when it
 * ends inside the window). BENCH_STATEMENTS=1 adds each drain's statements.
 */
import { setTimeout as delay } from "node:timers/promises";
import pg from "pg";
import { RunsService } from "../gen/runline/v1/runs_service_pb.js";
import { say, type BenchContext, type ScenarioGroup } from "./bench-context.js";
import { cpuBetween, sampleCpu, type CpuUse } from "./cpu.js";
import { createTally, type Drain } from "./drain-tally.js";
import { deadTuples, explainClaims, holdSnapshot, runsVersions, vacuumRuns, type Plan, type SnapshotHolder } from "./held-vacuum-probes.js";
import { format, table } from "./report.js";
import { drainWithSdk, queueRuns } from "./runline-executors.js";
import { benchWorkflow, clientOf, createBenchTenant, jsonValue } from "./runline-side.js";
import { printStatementStats, resetStatementStats } from "./statement-stats.js";

const jobCount = 20_000;
const holdMs = 60_000;
const workers = 8;
const sampleMs = 5_000;
const tenantSlug = "bench-held-vacuum";

/** What every drain of the group shares. */
interface Setting {
  readonly context: BenchContext;
  readonly key: string;
  readonly url: string;
  /** A connection to the server's database, for statistics and VACUUM. */
  readonly database: pg.Client;
  readonly tenantId: string;
  readonly workflowId: string;
}

/** One drain, measured. */
interface Measured {
  readonly name: string;
  readonly drain: Drain;
  readonly cpu: CpuUse;
  /** Completions in each `sampleMs` step from the start of the drain. */
  readonly steps: readonly number[];
  /** The window the phase's throughput is over: the drain, or the held part of it. */
  readonly window: { readonly completed: number; readonly ms: number };
  /** The claims' plans; `probeRuns`: the runs queued (and cancelled) for them. */
  readonly plans: { readonly completeAndClaim: Plan; readonly emptyClaim: Plan; readonly held: boolean; readonly probeRuns: number };
}

const rate = (completed: number, ms: number) => (1000 * completed) / ms;

/**
 * Explains the claims (rolled back). After a drain it queues two runs for them first and
 * cancels them after; during one (`draining`) the queue holds runs enough, and the
 * "empty" claim is then one more claim of a queued run.
 */
async function probePlans(setting: Setting, draining = false): Promise<{ completeAndClaim: Plan; emptyClaim: Plan }> {
  if (draining) return explainClaims(setting.url, setting.tenantId, setting.workflowId);
  const runs = clientOf(RunsService, setting.context.server.url, setting.key);
  const { runs: probes } = await runs.batchCreateRuns({
    template: { workflow: benchWorkflow },
    inputs: [jsonValue({ n: -1 }), jsonValue({ n: -2 })],
  });
  try {
    return await explainClaims(setting.url, setting.tenantId, setting.workflowId);
  } finally {
    for (const probe of probes) await runs.cancelRun({ runId: probe.id, reason: "held-vacuum probe" });
  }
}

/** Dead tuples of every touched table and exact counts for `runs`, printed under `title`. */
async function printDeadTuples(setting: Setting, title: string): Promise<void> {
  const rows = await deadTuples(setting.database);
  say(`\nDead tuples, ${title} (pg_stat_user_tables); ${await runsVersions(setting.database)}\n`);
  say(
    table(
      ["table", "live", "dead", "autovacuums so far"],
      rows.map((row) => [row.table, format(row.live, 0), format(row.dead, 0), String(row.autovacuums)]),
    ) + "\n",
  );
}

/** Vacuums, queues and analyzes outside the clock, as the phase asks. */
async function prepare(setting: Setting, name: string, vacuumFirst: boolean): Promise<void> {
  if (vacuumFirst) {
    const vacuum = await vacuumRuns(setting.database);
    say(`${name}: VACUUM runs took ${format(vacuum.ms, 0)} ms: ${vacuum.tuples}`);
  }
  say(`${name}: queueing ${jobCount} runs …`);
  await queueRuns(setting.context.server.url, setting.key, jobCount);
  await setting.database.query("analyze runs");
  await setting.context.admin.query("checkpoint");
  await resetStatementStats(setting.database);
}

/**
 * Drains `jobCount` runs; with `hold`, a snapshot is held from just before the drain for
 * `holdMs`. Probes run at the end of the window while still held when the drain ended
 * inside it; otherwise after the drain.
 */
async function drainPhase(setting: Setting, name: string, options: { vacuumFirst: boolean; hold: boolean }): Promise<Measured> {
  await prepare(setting, name, options.vacuumFirst);
  const { context } = setting;
  const holder: SnapshotHolder | undefined = options.hold ? await holdSnapshot(setting.url) : undefined;
  const heldAt = performance.now();
  if (holder !== undefined) say(`${name}: ${await holder.describe(context.admin)}`);
  const cpuBefore = await sampleCpu(context.watch);
  const tally = createTally(jobCount);
  const counts: number[] = [];
  const sampler = setInterval(() => counts.push(tally.completed), sampleMs);
  const draining = drainWithSdk(context.server.url, setting.key, workers, 1, jobCount, tally);
  let window: Measured["window"] | undefined;
  let plans: Measured["plans"] | undefined;
  let stopped = false;
  if (holder !== undefined) {
    const holdEnds = delay(Math.max(0, holdMs - (performance.now() - heldAt))).then(() => "held" as const);
    const first = await Promise.race([draining.then(() => "drained" as const), holdEnds]);
    const windowEnd = first === "drained" ? performance.now() : heldAt + holdMs;
    window = { completed: tally.completed, ms: windowEnd - tally.startedAt };
    // Drained inside the window: the workers would claim the probe's runs, so they stop first.
    if (first === "drained") {
      await (await draining).stop();
      stopped = true;
    }
    say(`${name}: at the end of the held window (${first}): ${await holder.describe(context.admin)}`);
    await printDeadTuples(setting, `${name}, end of the held window`);
    plans = { ...(await probePlans(setting, first === "held")), held: true, probeRuns: first === "held" ? 0 : 2 };
    await holdEnds;
    await holder.release();
    say(`${name}: released after ${format((performance.now() - heldAt) / 1000, 1)} s`);
  }
  const { drain, stop } = await draining;
  const cpu = cpuBetween(cpuBefore, await sampleCpu(context.watch));
  clearInterval(sampler);
  if (!stopped) await stop();
  const steps = counts.map((count, index) => count - (counts[index - 1] ?? 0));
  if (drain.errors > 0) say(`  ${drain.errors} failures; the first: ${String(drain.firstError)}`);
  await printStatementStats(setting.database, `the drain ${name}`, 8);
  if (holder === undefined) await printDeadTuples(setting, `${name}, end of the drain`);
  plans ??= { ...(await probePlans(setting)), held: false, probeRuns: 2 };
  return { name, drain, cpu, steps, window: window ?? { completed: drain.completed, ms: drain.elapsedMs }, plans };
}

/** The line of a plan that names `index`, with its actual rows and the buffers line under it. */
function indexLines(plan: Plan, index: string): string {
  const at = plan.lines.findIndex((line) => line.includes(` ${index} `));
  if (at === -1) return `${index} not in the plan`;
  const buffers = plan.lines.slice(at + 1).find((line) => line.trim().startsWith("Buffers:"));
  return `${plan.lines[at]!.trim()}; ${buffers?.trim() ?? ""}`;
}

function row(measured: Measured, baseline: Measured): string[] {
  const { drain, cpu, window } = measured;
  const [bench = 0, server = 0] = cpu.processSeconds;
  const perJob = (seconds: number) => format((1000 * seconds) / drain.completed, 2);
  const windowRate = rate(window.completed, window.ms);
  return [
    measured.name,
    `${format(windowRate, 0)} jobs/s`,
    `${format(window.completed, 0)} in ${format(window.ms / 1000, 1)} s`,
    format(windowRate / rate(baseline.window.completed, baseline.window.ms), 2),
    `${format(rate(drain.completed, drain.elapsedMs), 0)} jobs/s`,
    measured.steps.map((step) => format(rate(step, sampleMs), 0)).join(" / "),
    format(cpu.machinePercent, 0),
    perJob(bench),
    perJob(server),
    perJob(cpu.clusterSeconds),
    String(drain.errors),
  ];
}

/** Every run of the group's tenant finished: the drains' as SUCCEEDED, the probes' as CANCELLED. */
async function check(setting: Setting, drains: number, probeRuns: number): Promise<string | undefined> {
  const { rows } = await setting.database.query<{ status: string; count: number }>(
    `select status, count(*)::int as count from runs where tenant_id = $1::uuid group by status order by status`,
    [setting.tenantId],
  );
  const counts = Object.fromEntries(rows.map((entry) => [entry.status, entry.count]));
  const expected = { CANCELLED: probeRuns, SUCCEEDED: jobCount * drains };
  return JSON.stringify(counts) === JSON.stringify(expected)
    ? undefined
    : `runs by status ${JSON.stringify(counts)}, expected ${JSON.stringify(expected)}`;
}

function printPlans(measured: readonly Measured[]): void {
  say(`\nThe claims' plans after each drain (EXPLAIN ANALYZE on the executors' settings, rolled back):\n`);
  for (const { name, plans } of measured) {
    const where = plans.held ? "while held" : "after the drain";
    say(
      `- ${name}, ${where}: complete-and-claim ${format(plans.completeAndClaim.executionMs, 1)} ms, empty claim ${format(plans.emptyClaim.executionMs, 1)} ms`,
    );
    say(`    complete-and-claim: ${indexLines(plans.completeAndClaim, "runs_queue")}`);
    say(`    empty claim: ${indexLines(plans.emptyClaim, "runs_queue")}`);
  }
  const held = measured.find((entry) => entry.plans.held)?.plans;
  const full = (plan: Plan) => plan.lines.map((line) => `    ${line}`).join("\n");
  if (held !== undefined) {
    say(`\nComplete-and-claim while held, in full:\n\n${full(held.completeAndClaim)}\n`);
    say(`\nThe claim after it, while held, in full:\n\n${full(held.emptyClaim)}\n`);
  }
}

async function run(context: BenchContext): Promise<boolean> {
  const key = await createBenchTenant(context.server.url, context.rootKey, tenantSlug);
  const url = context.urlFor("bench_runline");
  const database = new pg.Client({ connectionString: url });
  await database.connect();
  try {
    const { rows } = await database.query<{ tenant: string; workflow: string }>(
      `select t.id as tenant, w.id as workflow from tenants t join workflows w on w.tenant_id = t.id where t.slug = $1::text and w.slug = $2::text`,
      [tenantSlug, benchWorkflow],
    );
    const setting: Setting = { context, key, url, database, tenantId: rows[0]!.tenant, workflowId: rows[0]!.workflow };
    const measured: Measured[] = [];
    measured.push(await drainPhase(setting, "before", { vacuumFirst: true, hold: false }));
    measured.push(await drainPhase(setting, "during", { vacuumFirst: true, hold: true }));
    measured.push(await drainPhase(setting, "after, not vacuumed", { vacuumFirst: false, hold: false }));
    measured.push(await drainPhase(setting, "after, vacuumed", { vacuumFirst: true, hold: false }));
    const probeRuns = measured.reduce((sum, entry) => sum + entry.plans.probeRuns, 0);
    const problem = await check(setting, measured.length, probeRuns);
    say(
      `\n${jobCount} queued no-op runs per drain, ${workers} × createWorker({ concurrency: 1 }); a snapshot held ${holdMs / 1000} s during "during"; CPU ms per job:\n`,
    );
    say(
      table(
        [
          "drain",
          "throughput (window)",
          "window",
          "÷ before",
          "whole drain",
          `per ${sampleMs / 1000} s step (jobs/s)`,
          "machine busy %",
          "bench",
          "server",
          "Postgres",
          "errors",
        ],
        measured.map((entry) => row(entry, measured[0]!)),
      ) + "\n",
    );
    printPlans(measured);
    if (problem !== undefined) say(problem);
    return problem === undefined && measured.every((entry) => entry.drain.errors === 0);
  } finally {
    await database.end();
  }
}

/** Draining queued runs while a transaction holds the xmin horizon back. */
export const heldVacuumBench: ScenarioGroup = {
  name: "held-vacuum",
  summary: `${jobCount} queued runs drained by ${workers} SDK executors before, during and after a ${holdMs / 1000} s held snapshot`,
  run,
  optIn: true,
};
