/**
 * Reading a server's /metrics in tests: the scrape as Prometheus would fetch it, one
 * series' value, the values a label takes across a family, and `promtool check metrics`
 * (Debian's `prometheus` package) run on a scrape, so a test judges the exposition with
 * the tool operators use rather than with our own reading of the format.
 */
import { spawnSync } from "node:child_process";
import { expect } from "vitest";

/** GET /metrics of the server at `baseUrl`: 200, Prometheus text format. */
export async function scrape(baseUrl: string): Promise<string> {
  const response = await fetch(`${baseUrl}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toContain("text/plain");
  return response.text();
}

interface Series {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Every sample line of a scrape, parsed (label values with escapes are not needed here). */
function seriesOf(text: string): Series[] {
  const found: Series[] = [];
  for (const line of text.split("\n")) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (match === null) continue;
    const labels = Object.fromEntries([...(match[2] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
    found.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return found;
}

/** The value of the first series named `name` whose labels include `labels`, or undefined when absent. */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const matches = (series: Series) => series.name === name && Object.entries(labels).every(([key, value]) => series.labels[key] === value);
  return seriesOf(text).find(matches)?.value;
}

/** The sum of every series named `name` whose labels include `labels` (0 when none). */
export function total(text: string, name: string, labels: Record<string, string> = {}): number {
  const matches = (series: Series) => series.name === name && Object.entries(labels).every(([key, value]) => series.labels[key] === value);
  return seriesOf(text)
    .filter(matches)
    .reduce((sum, series) => sum + series.value, 0);
}

/** The distinct values label `label` takes on series named `name`. */
export function labelValues(text: string, name: string, label: string): Set<string> {
  const values = seriesOf(text)
    .filter((series) => series.name === name && series.labels[label] !== undefined)
    .map((series) => series.labels[label]!);
  return new Set(values);
}

/** Where promtool is, or undefined when it is not installed. */
export function findPromtool(): string | undefined {
  const found = spawnSync("sh", ["-c", "command -v promtool"], { encoding: "utf8" });
  const path = found.stdout.trim();
  return found.status === 0 && path !== "" ? path : undefined;
}

/** `promtool check metrics` on `text` (fed on stdin): its exit status and everything it printed. */
export function promtoolCheck(promtool: string, text: string): { status: number | null; output: string } {
  const result = spawnSync(promtool, ["check", "metrics"], { input: text, encoding: "utf8", timeout: 30_000 });
  if (result.error !== undefined) throw result.error;
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}
