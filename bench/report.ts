/**
 * The bench's output: one Markdown table of throughput and latency with each side's
 * ratio to the minimal baseline and to the same-SQL one, one of where the CPU went, and
 * one of what a call wrote, so the run can be pasted into bench/RESULTS.md as printed.
 */
import type { CpuUse } from "./cpu.js";
import type { LoadResult } from "./load.js";

/** One side of one scenario, measured. */
export interface Measurement {
  readonly scenario: string;
  /** What one unit is, per second: "runs/s", "events/s". */
  readonly unit: string;
  /** minimal-side.ts, baseline-side.ts (same SQL on raw pg), or the server. */
  readonly side: "minimal" | "same SQL" | "Runline";
  readonly result: LoadResult;
  /** Over the window; processes: [load generator, server]. */
  readonly cpu: CpuUse;
  /** Per call over the window (write-accounting.ts); index entries for a created run only. */
  readonly writes: { readonly statements: number; readonly walBytes: number; readonly indexEntries?: number };
}

/** A number with thousands separators, or "–" when there is none (NaN). */
export function format(value: number, digits: number): string {
  if (!Number.isFinite(value)) return "–";
  return value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** A Markdown table with padded columns, readable as printed and pasteable as is. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((_, column) => Math.max(...[header, ...rows].map((row) => row[column]!.length)));
  const render = (row: readonly string[]) => `| ${row.map((cell, column) => cell.padEnd(widths[column]!)).join(" | ")} |`;
  return [render(header), `|${widths.map((width) => "-".repeat(width + 2)).join("|")}|`, ...rows.map(render)].join("\n");
}

/** The measurement of `side` in the scenario of `measurement`. */
function sideOf(measurement: Measurement, all: readonly Measurement[], side: Measurement["side"]): Measurement | undefined {
  return measurement.side === side ? undefined : all.find((other) => other.scenario === measurement.scenario && other.side === side);
}

function ratio(measurement: Measurement, all: readonly Measurement[], side: Measurement["side"]): string {
  if (measurement.side === "minimal" || (side === "same SQL" && measurement.side !== "Runline")) return "";
  const baseline = sideOf(measurement, all, side);
  return baseline === undefined ? "" : format(measurement.result.unitsPerSecond / baseline.result.unitsPerSecond, 2);
}

/** Throughput, latency per call, failures and the ratios to both baselines. */
export function throughputTable(measurements: readonly Measurement[]): string {
  return table(
    ["scenario", "side", "throughput", "p50 ms", "p99 ms", "calls", "errors", "÷ minimal", "÷ same SQL"],
    measurements.map((m) => [
      m.scenario,
      m.side,
      `${format(m.result.unitsPerSecond, 0)} ${m.unit}`,
      format(m.result.p50Ms, 1),
      format(m.result.p99Ms, 1),
      String(m.result.operations),
      String(m.result.errors),
      ratio(m, measurements, "minimal"),
      ratio(m, measurements, "same SQL"),
    ]),
  );
}

/** CPU seconds of the processes doing the scenario: load generator, server (Runline only), cluster. */
function benchSeconds(measurement: Measurement): number {
  const [loadGenerator = 0, server = 0] = measurement.cpu.processSeconds;
  return loadGenerator + (measurement.side === "Runline" ? server : 0) + measurement.cpu.clusterSeconds;
}

/** NaN when no call succeeded (printed as "–"). */
function perCall(measurement: Measurement, seconds: number): number {
  return measurement.result.operations === 0 ? Number.NaN : (1000 * seconds) / measurement.result.operations;
}

/** A baseline's CPU per call over this side's: the throughput ratio a CPU-bound machine would give. */
function costRatio(measurement: Measurement, all: readonly Measurement[], side: Measurement["side"]): string {
  if (measurement.side === "minimal" || (side === "same SQL" && measurement.side !== "Runline")) return "";
  const baseline = sideOf(measurement, all, side);
  return baseline === undefined
    ? ""
    : format(perCall(baseline, benchSeconds(baseline)) / perCall(measurement, benchSeconds(measurement)), 2);
}

/**
 * CPU per call by process, how busy the machine was and how much of it the bench's own
 * processes had (the rest went to whatever else runs there).
 */
export function cpuTable(measurements: readonly Measurement[]): string {
  return table(
    [
      "scenario",
      "side",
      "machine busy %",
      "bench cores",
      "load generator",
      "server",
      "Postgres",
      "all",
      "minimal ÷ side",
      "same SQL ÷ side",
    ],
    measurements.map((m) => {
      const [loadGenerator = 0, server = 0] = m.cpu.processSeconds;
      const milliseconds = (seconds: number) => format(perCall(m, seconds), 2);
      return [
        m.scenario,
        m.side,
        format(m.cpu.machinePercent, 0),
        format(benchSeconds(m) / m.cpu.seconds, 2),
        milliseconds(loadGenerator),
        m.side === "Runline" ? milliseconds(server) : "–",
        milliseconds(m.cpu.clusterSeconds),
        milliseconds(benchSeconds(m)),
        costRatio(m, measurements, "minimal"),
        costRatio(m, measurements, "same SQL"),
      ];
    }),
  );
}

/** Statements, WAL bytes and (for a created run) index entries per call. */
export function writesTable(measurements: readonly Measurement[]): string {
  return table(
    ["scenario", "side", "statements", "WAL bytes", "index entries"],
    measurements.map((m) => [
      m.scenario,
      m.side,
      format(m.writes.statements, 2),
      format(m.writes.walBytes, 0),
      m.writes.indexEntries === undefined ? "–" : String(m.writes.indexEntries),
    ]),
  );
}
