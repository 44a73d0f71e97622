/**
 * Scenario group `held-vacuum-raw`: the `held-vacuum` drain on raw `pg`, without the
 * server, to tell the SQL's share of the slowdown from the server's, and a prototype of
 * a narrow queue table apart from the wide `runs` record (issue 16, point 4; the schema
 * is the lead's decision, so it lives only in this bench, in tables it drops after).
 *
 * Each variant drains `jobCount` runs queued through the API with 8 loops on their own
 * connections (the executors' session settings): a claim, then one statement per job
 * that completes it and claims the next, as a Work session of concurrency 1 does. Once
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
const loops = 8;
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

/** Runline's own statements; hinted, the replacement is claimed at or after the last claimed position first. */
function runsVariant(ids: Ids, hinted: boolean): Variant {
  return {
    name: hinted ? "runs + hint" : "runs",
    prepare: async () => {},
    worker: (client, index) => {
      const workerIds = [`raw-${index}`];
      const job = (row: ClaimedRow | undefined): Job | undefined =>
        row === undefined || row.id === null
          ? undefined
          : { runId: row.id, leaseId: row.lease_id, position: [row.hint_priority, row.hint_ready_time, row.id] };
      const claim = async () =>
        job(
          (
            await client.query<ClaimedRow>(
              statement(
                "hv_claim",
                claimText,
                claimOnlyStatement.values({ ...ids, workerIds, leaseMs: [leaseMs], workflowIds: [ids.workflowId] }),
              ),
            )
          ).rows[0],
        );
      return {
        claim,
        completeAndClaim: async (previous) => {
          const values = completeAndClaimOnlyStatement.values({
            tenantId: ids.tenantId,
            runIds: [previous.runId],
            leaseIds: [previous.leaseId],
            outputs: ["null"],
            nextWorkerIds: workerIds,
            nextLeaseMs: [leaseMs],
            workflowIds: [ids.workflowId],
          });
          if (!hinted)
            return job((await client.query<ClaimedRow>(statement("hv_complete_and_claim", completeAndClaimText, values))).rows[0]);
          const hint = statement("hv_complete_and_claim_hinted", hintedCompleteAndClaimText, [...values, ...previous.position!]);
          return job((await client.query<ClaimedRow>(hint)).rows[0]) ?? claim();
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
}

/** Drains with `loops` loops; a `holder` is described and released when the drain ends or `holdMs` passes. */
async function drain(context: BenchContext, url: string, variant: Variant, holder: SnapshotHolder | undefined): Promise<RawDrain> {
  const clients = Array.from({ length: loops }, () => new pg.Client({ connectionString: url, options: executorSettings }));
  await Promise.all(clients.map((client) => client.connect()));
  let completed = 0;
  const counts: number[] = [];
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
        let job = await worker.claim();
        while (job !== undefined) {
          job = await worker.completeAndClaim(job);
          completed++;
        }
      }),
    );
    const ms = performance.now() - started;
    clearTimeout(timer);
    await endWindow();
    return { completed, ms, steps: counts.map((count, index) => count - (counts[index - 1] ?? 0)), window: window! };
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
  /** Over the whole drain: Postgres' CPU per job is what load on the machine skews least. */
  readonly cpu: CpuUse;
}

/** Queues through the API, fills the variant's queue, vacuums and analyzes, then drains (held or not). */
async function measure(context: BenchContext, setting: { key: string; url: string; database: pg.Client }, variant: Variant, held: boolean) {
  await queueRuns(context.server.url, setting.key, jobCount);
  await variant.prepare(setting.database);
  await setting.database.query("vacuum analyze runs");
  await setting.database.query("vacuum analyze hv_queue").catch(() => undefined);
  await context.admin.query("checkpoint");
  const holder = held ? await holdSnapshot(setting.url) : undefined;
  const cpuBefore = await sampleCpu(context.watch);
  const measuredDrain = await drain(context, setting.url, variant, holder);
  const cpu = cpuBetween(cpuBefore, await sampleCpu(context.watch));
  const { window } = measuredDrain;
  say(
    `${variant.name}${held ? ", held" : ""}: ${format((1000 * window.completed) / window.ms, 0)} jobs/s over ${format(window.ms / 1000, 1)} s`,
  );
  return { variant: variant.name, held, drain: measuredDrain, cpu };
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
      format((1000 * entry.cpu.clusterSeconds) / entry.drain.completed, 2),
      format(entry.cpu.machinePercent, 0),
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
    for (const variant of [runsVariant(ids, false), runsVariant(ids, true), narrowVariant(ids, false), narrowVariant(ids, true)]) {
      for (const held of [false, true]) measured.push(await measure(context, { key, url, database }, variant, held));
    }
    const { rows: left } = await database.query<{ count: number }>(
      `select count(*)::int as count from runs where tenant_id = $1::uuid and status <> 'SUCCEEDED'`,
      [ids.tenantId],
    );
    say(
      `\n${jobCount} runs per drain, ${loops} raw loops (claim, then complete-and-claim per job); held: a snapshot for the drain, at most ${holdMs / 1000} s:\n`,
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
  summary: `${jobCount} queued runs drained by ${loops} raw loops, runs against a narrow queue prototype, with and without a held snapshot`,
  run,
  optIn: true,
};
