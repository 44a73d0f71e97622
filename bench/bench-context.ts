/**
 * What every scenario group of the bench shares: the Postgres cluster, the one Runline
 * server process, the CPU watch, and one way to measure a window of load, so the groups
 * differ only in what they drive.
 */
import os from "node:os";
import { setTimeout as delay } from "node:timers/promises";
import type pg from "pg";
import { cpuBetween, sampleCpu, type CpuUse, type CpuWatch } from "./cpu.js";
import { runLoad, type LoadOptions, type LoadResult, type Operation } from "./load.js";
import type { RunlineProcess } from "./runline-side.js";

/** Handed to each scenario group. */
export interface BenchContext {
  /** The cluster's superuser connection: CREATE DATABASE, CHECKPOINT, checks. */
  readonly admin: pg.Client;
  /** A connection string for a database of the cluster. */
  readonly urlFor: (database: string) => string;
  /** The server, already serving, on the `bench_runline` database. */
  readonly server: RunlineProcess;
  /** The server's root key: each group makes its own tenant with it. */
  readonly rootKey: string;
  /** Load generator, server and cluster: whose CPU to count. */
  readonly watch: CpuWatch;
}

/** A scenario group `BENCH_SCENARIOS` can name; resolves false when a call failed. */
export interface ScenarioGroup {
  readonly name: string;
  /** One line for the help text. */
  readonly summary: string;
  /** Runs only when BENCH_SCENARIOS names it (too long or too big for every bench run). */
  readonly optIn?: boolean;
  run(context: BenchContext): Promise<boolean>;
}

/** One measured window and the CPU used inside it. */
export interface Window {
  readonly result: LoadResult;
  readonly cpu: CpuUse;
}

/** Prints a line as soon as it is known (the bench runs for minutes). */
export function say(line: string): void {
  process.stdout.write(line + "\n");
}

/** The machine's 1-minute load average: other work on it skews every number. */
export function loadAverage(): string {
  return os.loadavg()[0]!.toFixed(2);
}

/**
 * A CHECKPOINT, so no side pays for the previous one's dirty pages, then `operation`
 * driven as `load` says, with the CPU counted over the measured window only.
 * `atEdges`, if given, runs when the window starts and again when its last call ended
 * (e.g. to read the database's counters over the same window).
 */
export async function measureWindow(
  context: BenchContext,
  label: string,
  operation: Operation,
  load: LoadOptions,
  atEdges?: () => Promise<void>,
): Promise<Window> {
  await context.admin.query("checkpoint");
  say(`${label}: ${load.warmupMs / 1000} s warm-up, ${load.durationMs / 1000} s measured …`);
  const windowStart = delay(load.warmupMs).then(async () => {
    const sample = await sampleCpu(context.watch);
    await atEdges?.();
    return sample;
  });
  const result = await runLoad(operation, load);
  const cpu = cpuBetween(await windowStart, await sampleCpu(context.watch));
  await atEdges?.();
  if (result.errors > 0) say(`  ${result.errors} calls failed; the first: ${String(result.firstError)}`);
  return { result, cpu };
}

/** The middle value (the mean of the two middle ones for an even count); NaN for none. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
