/**
 * Scenario group `held-vacuum-raw`: the `held-vacuum` drain on raw `pg`, without the
 * server, to tell the SQL's share of the slowdown from the server's, and a prototype of
 * a narrow queue table apart from the wide `runs` record (issue 16, point 4; the schema
 * is the lead's decision, so it lives only in this bench, in tables it drops after).
 *
 * Each variant drains `jobCount` runs queued through the API on raw connections with the
 * executors' session settings: a claim, then statements that complete the jobs held and
 * claim their replacements, as Work sessions do. The runs variants run one loop of 8
 * jobs per statement (what the server's statement batcher makes of 8 executors' reports:
 * 8 loops of one job each would be bound by their commits), the narrow ones 8 loops of
 * one job each. Once
 * with nothing held, once while a REPEATABLE READ transaction holds the horizon (for
 * the drain, at most `holdMs`). Variants:
 *
 * - `runs`: Runline's own statements (claimOnlyStatement, completeAndClaimOnlyStatement).
 * - `runs + hint`: the same, the replacement claimed at or after the queue position
 *   (priority, ready_time, id) the loop last claimed, and from the head only when nothing
 *   is found there: the dead entries before the hint are not walked. The schema stays.
 * - `narrow queue`: a queue row per queued run in `hv_queue` (deleted by the claim) and a
 *   lease row in `hv_leases` (inserted by the claim, deleted by the completion, which
 *   also sets the run SUCCEEDED); no status events, NOTIFY or webhook outbox.
 * - `narrow queue + hint`: the same with the hint.
 */
import pg from "pg";
import { executorSettings } from "../src/db/database.js";
import { claimOnlyStatement } from "../src/runs/lifecycle/claim-statements.js";
import { completeAndClaimOnlyStatement } from "../src/runs/lifecycle/completion-statements.js";
import { say, type BenchContext, type ScenarioGroup } from "./bench-context.js";
import { cpuBetween, sampleCpu, type CpuUse } from "./cpu.js";
import { holdSnapshot, type SnapshotHolder } from "./held-vacuum-probes.js";
import { narrowVariant, statement, type Ids, type Job, type Variant } from "./narrow-queue-prototype.js";
import { format, table } from "./report.js";
import { queueRuns } from "./runline-executors.js";
import { benchWorkflow, createBenchTenant } from "./runline-side.js";

const jobCount = 20_000;
const holdMs = 60_000;
/** The narrow variants' loops, one job each; the runs variants' one loop takes this many per statement. */
const loops = 8;
const runsBatch = 8;
const sampleMs = 5_000;
const tenantSlug = "bench-held-vacuum-raw";
const leaseMs = 300_000;

/** `text` with `from` replaced by `to`, which must occur exactly once. */
function replaceOnce(text: string, from: string, to: string): string {
  if (text.split(from).length !== 2) throw new Error(`the statement no longer holds ${from} once`);
  return text.replace(from, to);
}

// Each claimed row also says where it sat in the queue (for the hint).
const withPosition = (text: string) =>
  replaceOnce(
    text,
    "r.resume_input, r.slot,",
    "r.resume_input, r.slot, r.priority as hint_priority, r.ready_time::text as hint_ready_time,",
  );
const claimText = withPosition(claimOnlyStatement.text);
const completeAndClaimText = withPosition(completeAndClaimOnlyStatement.text);
// The replacement claimed at or after the hint ($8 priority, $9 ready_time, $10 run id) only.
const hintedCompleteAndClaimText = replaceOnce(
  completeAndClaimText,
  "and r.workflow_id = any($7::uuid[])",
  "and r.workflow_id = any($7::uuid[]) and r.priority = $8::int and (r.ready_time, r.id) >= ($9::timestamptz, $10::uuid)",
);

type ClaimedRow = { id: string | null; lease_id: string; hint_priority: number; hint_ready_time: string };

const jobsOf = (rows: readonly ClaimedRow[]): Job[] =>
  rows.flatMap((row) =>
    row.id === null ? [] : [{ runId: row.id, leaseId: row.lease_id, position: [row.hint_priority, row.hint_ready_time, row.id] as const }],
  );

/**
 * Runline's own statements, one loop of `runsBatch` jobs per statement (as the server's
 * statement batcher groups 8 executors' reports); hinted, the replacements are claimed
 * at or after the furthest position claimed before, and the rest from the head.
 */
function runsVariant(ids: Ids, hinted: boolean): Variant {
  return {
    name: hinted ? "runs + hint" : "runs",
    loops: 1,
    prepare: async () => {},
    worker: (client) => {
      const workers = (count: number) => Array.from({ length: count }, (_, index) => `raw-${index}`);
      const claim = async (count: number) => {
        const values = claimOnlyStatement.values({
          ...ids,
          workerIds: workers(count),
          leaseMs: workers(count).map(() => leaseMs),
          workflowIds: [ids.workflowId],
        });
        return jobsOf((await client.query<ClaimedRow>(statement("hv_claim", claimText, values))).rows);
      };
      return {
        claim: () => claim(runsBatch),
        completeAndClaim: async (previous) => {
          const values = completeAndClaimOnlyStatement.values({
            tenantId: ids.tenantId,
            runIds: previous.map((job) => job.runId),
            leaseIds: previous.map((job) => job.leaseId),
            outputs: previous.map(() => "null"),
            nextWorkerIds: workers(previous.length),
            nextLeaseMs: previous.map(() => leaseMs),
            workflowIds: [ids.workflowId],
          });
          if (!hinted)
            return jobsOf((await client.query<ClaimedRow>(statement("hv_complete_and_claim", completeAndClaimText, values))).rows);
          const furthest = previous[previous.length - 1]!.position!;
          const hint = statement("hv_complete_and_claim_hinted", hintedCompleteAndClaimText, [...values, ...furthest]);
          const next = jobsOf((await client.query<ClaimedRow>(hint)).rows);
          return next.length === previous.length ? next : [...next, ...(await claim(previous.length - next.length))];
        },
      };
    },
  };
}

/** A drain: completions counted by `sampleMs` steps; it ends when every loop finds the queue empty. */
interface RawDrain {
  readonly completed: number;
  readonly ms: number;
  readonly steps: readonly number[];
  /** The held part of the drain (all of it when nothing was held or it ended first). */
  readonly window: { readonly completed: number; readonly ms: number };
  /**
   * Over the whole drain, read before the loops disconnect (an ended backend takes its CPU
   * time with it): Postgres' CPU per job is what load on the machine skews least.
   */
  readonly cpu: CpuUse;
}

/** Drains with `loops` loops; a `holder` is described and released when the drain ends or `holdMs` passes. */
async function drain(context: BenchContext, url: string, variant: Variant, holder: SnapshotHolder | undefined): Promise<RawDrain> {
  const clients = Array.from({ length: variant.loops }, () => new pg.Client({ connectionString: url, options: executorSettings }));
  await Promise.all(clients.map((client) => client.connect()));
  let completed = 0;
  const counts: number[] = [];
  const cpuBefore = await sampleCpu(context.watch);
  const started = performance.now();
  const sampler = setInterval(() => counts.push(completed), sampleMs);
  let window: RawDrain["window"] | undefined;
  let ending: Promise<void> | undefined;
  const endWindow = () =>
    (ending ??= (async () => {
      window = { completed, ms: performance.now() - started };
      if (holder === undefined) return;
      say(`${variant.name}, end of the held window: ${await holder.describe(context.admin)}`);
      await holder.release();
    })());
  const timer = holder === undefined ? undefined : setTimeout(() => void endWindow(), holdMs);
  try {
    await Promise.all(
      clients.map(async (client, index) => {
        const worker = variant.worker(client, index);
        let jobs = await worker.claim();
        while (jobs.length > 0) {
          const next = await worker.completeAndClaim(jobs);
          completed += jobs.length;
          jobs = next;
        }
      }),
    );
    const ms = performance.now() - started;
    const cpu = cpuBetween(cpuBefore, await sampleCpu(context.watch));
    clearTimeout(timer);
    await endWindow();
    return { completed, ms, steps: counts.map((count, index) => count - (counts[index - 1] ?? 0)), window: window!, cpu };
  } finally {
    clearTimeout(timer);
    clearInterval(sampler);
    await endWindow();
    await Promise.all(clients.map((client) => client.end()));
  }
}

interface Measured {
  readonly variant: string;
  readonly held: boolean;
  readonly drain: RawDrain;
}

/** Queues through the API, fills the variant's queue, vacuums and analyzes, then drains (held or not). */
async function measure(context: BenchContext, setting: { key: string; url: string; database: pg.Client }, variant: Variant, held: boolean) {
  await queueRuns(context.server.url, setting.key, jobCount);
  await variant.prepare(setting.database);
  await setting.database.query("vacuum analyze runs");
  await setting.database.query("vacuum analyze hv_queue").catch(() => undefined);
  await context.admin.query("checkpoint");
  const holder = held ? await holdSnapshot(setting.url) : undefined;
  const measuredDrain = await drain(context, setting.url, variant, holder);
  const { window } = measuredDrain;
  say(
    `${variant.name}${held ? ", held" : ""}: ${format((1000 * window.completed) / window.ms, 0)} jobs/s over ${format(window.ms / 1000, 1)} s`,
  );
  return { variant: variant.name, held, drain: measuredDrain };
}

function rows(measured: readonly Measured[]): string[][] {
  const rate = (entry: Measured) => (1000 * entry.drain.window.completed) / entry.drain.window.ms;
  return measured.map((entry) => {
    const before = measured.find((other) => other.variant === entry.variant && !other.held)!;
    const { window } = entry.drain;
    return [
      entry.variant,
      entry.held ? "during" : "before",
      `${format(rate(entry), 0)} jobs/s`,
      `${format(window.completed, 0)} in ${format(window.ms / 1000, 1)} s`,
      format(rate(entry) / rate(before), 2),
      `${format((1000 * entry.drain.completed) / entry.drain.ms, 0)} jobs/s`,
      format((1000 * entry.drain.cpu.clusterSeconds) / entry.drain.completed, 2),
      format(entry.drain.cpu.machinePercent, 0),
      entry.drain.steps.map((step) => format((1000 * step) / sampleMs, 0)).join(" / "),
    ];
  });
}

async function run(context: BenchContext): Promise<boolean> {
  const key = await createBenchTenant(context.server.url, context.rootKey, tenantSlug);
  const url = context.urlFor("bench_runline");
  const database = new pg.Client({ connectionString: url });
  await database.connect();
  try {
    const { rows: found } = await database.query<{ tenant: string; workflow: string }>(
      `select t.id as tenant, w.id as workflow from tenants t join workflows w on w.tenant_id = t.id where t.slug = $1::text and w.slug = $2::text`,
      [tenantSlug, benchWorkflow],
    );
    const ids: Ids = { tenantId: found[0]!.tenant, workflowId: found[0]!.workflow };
    const measured: Measured[] = [];
    for (const variant of [
      runsVariant(ids, false),
      runsVariant(ids, true),
      narrowVariant(ids, false, loops),
      narrowVariant(ids, true, loops),
    ]) {
      for (const held of [false, true]) measured.push(await measure(context, { key, url, database }, variant, held));
    }
    const { rows: left } = await database.query<{ count: number }>(
      `select count(*)::int as count from runs where tenant_id = $1::uuid and status <> 'SUCCEEDED'`,
      [ids.tenantId],
    );
    say(
      `\n${jobCount} runs per drain; runs: 1 raw loop of ${runsBatch} jobs per statement, narrow: ${loops} raw loops of 1 (claim, then complete-and-claim); held: a snapshot for the drain, at most ${holdMs / 1000} s:\n`,
    );
    say(
      table(
        [
          "variant",
          "drain",
          "throughput (window)",
          "window",
          "÷ before",
          "whole drain",
          "Postgres CPU ms per job",
          "machine busy %",
          `per ${sampleMs / 1000} s step (jobs/s)`,
        ],
        rows(measured),
      ) + "\n",
    );
    const expected = measured.reduce((sum, entry) => sum + entry.drain.completed, 0) === jobCount * measured.length && left[0]!.count === 0;
    if (!expected) say(`Not every run was drained: ${left[0]!.count} of the tenant's runs are not SUCCEEDED.`);
    return expected;
  } finally {
    await database.query("drop table if exists hv_queue, hv_leases").catch(() => undefined);
    await database.end();
  }
}

/** The held-vacuum drain on raw pg: Runline's statements against a narrow queue prototype. */
export const heldVacuumRawBench: ScenarioGroup = {
  name: "held-vacuum-raw",
  summary: `${jobCount} queued runs drained on raw pg, runs against a narrow queue prototype, with and without a held snapshot`,
  run,
  optIn: true,
};
