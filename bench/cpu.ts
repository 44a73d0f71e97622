/**
 * CPU accounting for a measured window, read from Linux's /proc: how busy the whole
 * machine was, and how much CPU the load generator, the Runline server and the Postgres
 * cluster each used. On a 2-core machine every process competes for the same cores, so
 * CPU time per operation says more about where the cost is than throughput alone.
 */
import { readdir, readFile } from "node:fs/promises";

/** The processes to account for. */
export interface CpuWatch {
  /** Processes watched on their own, e.g. [load generator, server]. */
  readonly pids: readonly number[];
  /** The postmaster: it and its children (backends, walwriter, checkpointer …) count as one. */
  readonly postmasterPid: number;
}

/** A reading to subtract from a later one. */
export interface CpuSample {
  readonly at: number;
  /** Ticks of all CPUs: busy and total. */
  readonly machineBusy: number;
  readonly machineTotal: number;
  /** Ticks (user + system) of each watched process, in the order of `CpuWatch.pids`. */
  readonly processes: readonly number[];
  /** Ticks of each process of the cluster, by pid. */
  readonly cluster: ReadonlyMap<number, number>;
}

/** CPU used between two samples. */
export interface CpuUse {
  /** Length of the window. */
  readonly seconds: number;
  /** Of all cores together (100 = every core busy). */
  readonly machinePercent: number;
  /** CPU seconds of each watched process, in the order of `CpuWatch.pids`. */
  readonly processSeconds: readonly number[];
  /** CPU seconds of the cluster (a backend that ended inside the window is missed). */
  readonly clusterSeconds: number;
}

// USER_HZ: the unit of /proc times on every mainstream Linux build.
const ticksPerSecond = 100;

async function machineTicks(): Promise<{ busy: number; total: number }> {
  const line = (await readFile("/proc/stat", "utf8")).split("\n")[0]!;
  const fields = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: idle and iowait are not busy.
  const total = fields.slice(0, 8).reduce((sum, value) => sum + value, 0);
  return { busy: total - fields[3]! - fields[4]!, total };
}

/** Parent pid and user + system ticks, or undefined if the process is gone. */
async function processStat(pid: number): Promise<{ parent: number; ticks: number } | undefined> {
  let stat: string;
  try {
    stat = await readFile(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // Fields after the parenthesised command name: state is the 3rd, ppid the 4th,
  // utime and stime the 14th and 15th.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { parent: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) };
}

async function clusterTicks(postmasterPid: number): Promise<Map<number, number>> {
  const pids = (await readdir("/proc")).filter((name) => /^\d+$/.test(name)).map(Number);
  const stats = await Promise.all(pids.map(async (pid) => ({ pid, stat: await processStat(pid) })));
  const ticks = new Map<number, number>();
  for (const { pid, stat } of stats) {
    if (stat !== undefined && (pid === postmasterPid || stat.parent === postmasterPid)) ticks.set(pid, stat.ticks);
  }
  return ticks;
}

/** Reads the counters now. */
export async function sampleCpu(watch: CpuWatch): Promise<CpuSample> {
  const [machine, processes, cluster] = await Promise.all([
    machineTicks(),
    // A process that is gone has no reading: NaN makes its share "unknown", not negative.
    Promise.all(watch.pids.map(async (pid) => (await processStat(pid))?.ticks ?? Number.NaN)),
    clusterTicks(watch.postmasterPid),
  ]);
  return { at: performance.now(), machineBusy: machine.busy, machineTotal: machine.total, processes, cluster };
}

/** What was used between `from` and `to`. */
export function cpuBetween(from: CpuSample, to: CpuSample): CpuUse {
  const machineTotal = to.machineTotal - from.machineTotal;
  let cluster = 0;
  // A backend that started inside the window counts from zero.
  for (const [pid, ticks] of to.cluster) cluster += ticks - (from.cluster.get(pid) ?? 0);
  return {
    seconds: (to.at - from.at) / 1000,
    machinePercent: machineTotal > 0 ? (100 * (to.machineBusy - from.machineBusy)) / machineTotal : 0,
    processSeconds: to.processes.map((ticks, index) => (ticks - from.processes[index]!) / ticksPerSecond),
    clusterSeconds: cluster / ticksPerSecond,
  };
}
