/**
 * Parsers for the values of command-line options: JSON given inline or as `@file`,
 * durations (`30s`, within the bounds the option's help states), `key=value` labels,
 * run statuses and counts. Each throws a UsageError naming the option, so a typo costs
 * one line, not a stack trace.
 */
import { readFileSync } from "node:fs";
import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { durationFromMs, ValueSchema, type Duration, type Value } from "@bufbuild/protobuf/wkt";
import { RunStatus } from "../../gen/runline/v1/run_pb.js";
import { UsageError } from "./cli-errors.js";

function readSource(option: string, text: string): string {
  if (!text.startsWith("@")) return text;
  const file = text.slice(1);
  try {
    // `@-` reads standard input, so JSON can be piped in.
    return readFileSync(file === "-" ? 0 : file, "utf8");
  } catch (error) {
    throw new UsageError(
      `--${option}: cannot read ${file === "-" ? "standard input" : file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
    );
  }
}

/** JSON from `--option '{"a":1}'` or `--option @file.json` (`@-` for standard input). */
export function parseJsonArgument(option: string, text: string): JsonValue {
  const source = readSource(option, text);
  try {
    return JSON.parse(source) as JsonValue;
  } catch (error) {
    throw new UsageError(`--${option}: not valid JSON (${(error as Error).message})`);
  }
}

/** The same, as the google.protobuf.Value that requests carry. */
export function parseValueArgument(option: string, text: string): Value {
  return fromJson(ValueSchema, parseJsonArgument(option, text));
}

const durationUnits: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

function durationMillis(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text.trim());
  return match === null ? undefined : Math.round(Number(match[1]) * durationUnits[match[2]!]!);
}

/** The range a duration option accepts, as its help states it; limits are durations such as `5m`. */
export interface DurationBounds {
  /** Whether zero is refused (a timeout of 0 means nothing; default false). */
  readonly positive?: boolean;
  /** The longest accepted, e.g. `5m` (default: any length). */
  readonly max?: string;
}

/**
 * A duration such as `500ms`, `30s`, `1.5m`, `2h` or `1d`, within `bounds`. A value past
 * a documented limit is refused rather than quietly shortened, naming the limit, so
 * `--wait 10m` does not wait 5 minutes and report the run as unsettled.
 */
export function parseDurationArgument(option: string, text: string, bounds: DurationBounds = {}): Duration {
  const ms = durationMillis(text);
  if (ms === undefined) throw new UsageError(`--${option}: expected a duration such as 500ms, 30s, 5m or 1h, got "${text}"`);
  if (bounds.positive === true && ms === 0) throw new UsageError(`--${option}: must be longer than 0, got "${text}"`);
  if (bounds.max !== undefined && ms > durationMillis(bounds.max)!)
    throw new UsageError(`--${option}: ${text} is more than the limit of ${bounds.max}`);
  if (!Number.isSafeInteger(ms)) throw new UsageError(`--${option}: ${text} is too long`);
  return durationFromMs(ms);
}

/** A whole number of at least `min`. */
export function parseCountArgument(option: string, text: string, min = 1): number {
  if (!/^\d+$/.test(text) || Number(text) < min)
    throw new UsageError(`--${option}: expected a whole number of at least ${min}, got "${text}"`);
  return Number(text);
}

/** Repeated `--label key=value` options as a map. */
export function parseLabelArguments(option: string, texts: readonly string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const text of texts) {
    const split = text.indexOf("=");
    if (split <= 0) throw new UsageError(`--${option}: expected key=value, got "${text}"`);
    labels[text.slice(0, split)] = text.slice(split + 1);
  }
  return labels;
}

/** Comma-separated lists, possibly repeated (`--status queued,running --status failed`). */
export function splitList(texts: readonly string[]): string[] {
  return texts
    .flatMap((text) => text.split(","))
    .map((item) => item.trim())
    .filter((item) => item !== "");
}

/** Run statuses by name, with or without the `RUN_STATUS_` prefix, in any case. */
export function parseStatusArguments(option: string, texts: readonly string[]): RunStatus[] {
  return splitList(texts).map((name) => {
    const key = name.toUpperCase().replace(/^RUN_STATUS_/, "");
    const status = RunStatus[key as keyof typeof RunStatus] as RunStatus | undefined;
    if (status === undefined || status === RunStatus.UNSPECIFIED) {
      const known = Object.keys(RunStatus).filter((k) => Number.isNaN(Number(k)) && k !== "UNSPECIFIED");
      throw new UsageError(`--${option}: unknown status "${name}" (one of ${known.map((k) => k.toLowerCase()).join(", ")})`);
    }
    return status;
  });
}
