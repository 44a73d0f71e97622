/**
 * Runs a seeded sample of generated hostile calls against a server, a few at a time,
 * and tallies what came back: codes by protocol, and every failure grouped by a
 * signature (kind, RPC, protocol, code, masked message) with its first input, so one
 * run lists each distinct fault once however often it was hit. The seed and the index
 * of each first input are kept so a failure can be replayed.
 */
import fc from "fast-check";
import { hostileCall, toWireRequest, type HostileCall } from "./hostile-calls.js";
import type { HostileFixtures } from "./hostile-fixtures.js";
import { jsonText, type JsonNode } from "./hostile-json.js";
import { acceptedExceptions, codeNames, failureOf, failureSignature, readOutcome } from "./verdicts.js";
import { createWireClient } from "./wire-client.js";

/** One group of alike failures. */
export interface FailureGroup {
  readonly signature: string;
  count: number;
  /** The first input that hit it: index in the sample, and what was sent. */
  readonly firstIndex: number;
  readonly firstInput: string;
}

/** What a run saw. */
export interface HostileRunReport {
  readonly seed: number;
  readonly sent: number;
  /** Calls the client itself could not send (e.g. header values Node refuses to write). */
  readonly notSent: number;
  /** `protocol code` → count. */
  readonly outcomes: Record<string, number>;
  /** RPC path → inputs sent to it. */
  readonly rpcs: Record<string, number>;
  readonly failures: FailureGroup[];
  readonly durationMs: number;
}

/** A readable one-line account of what `call` sent. */
export function describeCall(call: HostileCall): string {
  const payload =
    call.payload instanceof Uint8Array
      ? `binary ${call.payload.length} B ${Buffer.from(call.payload.subarray(0, 40)).toString("hex")}`
      : (() => {
          const text = jsonText(call.payload as JsonNode);
          return `json ${text.length} B ${JSON.stringify(text.slice(0, 160))}`;
        })();
  const framing = call.framing.kind === "plain" ? "" : ` framing=${JSON.stringify(call.framing)}`;
  const rest =
    call.rest === undefined
      ? ""
      : ` ${call.rest.httpMethod} ${call.rest.template}${call.pathSegments === undefined ? "" : ` path=${JSON.stringify(call.pathSegments.map((each) => each.slice(0, 40)))}`}`;
  return `${call.entry.path} over ${call.protocol} key=${call.key}${rest}${framing} ${payload}`;
}

const batchSize = 100;

/** Sends `runs` generated calls (seeded by `seed`), `concurrency` at a time, to `baseUrl`. */
export async function runHostileCalls(
  baseUrl: string,
  fixtures: HostileFixtures,
  options: { runs: number; seed: number; concurrency: number },
): Promise<HostileRunReport> {
  const started = performance.now();
  const arbitrary = hostileCall(fixtures);
  const client = createWireClient(baseUrl);
  const outcomes: Record<string, number> = {};
  const rpcs: Record<string, number> = {};
  const groups = new Map<string, FailureGroup>();
  let notSent = 0;
  let calls: HostileCall[] = [];
  let first = 0;
  let next = 0;
  const worker = async () => {
    for (let index = next++; index < calls.length; index = next++) {
      const call = calls[index]!;
      rpcs[call.entry.path] = (rpcs[call.entry.path] ?? 0) + 1;
      const response = await client.send(toWireRequest(call, fixtures.keys[call.key]));
      if (response.transportError?.startsWith("client refused") === true) {
        notSent += 1;
        continue;
      }
      const outcome = readOutcome(call, response);
      const label = `${call.protocol} ${outcome.code === undefined ? `http ${outcome.http}` : (codeNames[outcome.code] ?? outcome.code)}`;
      outcomes[label] = (outcomes[label] ?? 0) + 1;
      const kind = failureOf(call, outcome);
      if (kind === undefined) continue;
      const signature = failureSignature(call, outcome, kind);
      const group = groups.get(signature);
      if (group === undefined) groups.set(signature, { signature, count: 1, firstIndex: first + index, firstInput: describeCall(call) });
      else group.count += 1;
    }
  };
  try {
    // Generated a batch at a time (each batch seeded from the run's seed), so large
    // payloads do not pile up in memory over 10,000 inputs.
    for (; first < options.runs; first += batchSize) {
      calls = fc.sample(arbitrary, { seed: options.seed + first / batchSize, numRuns: Math.min(batchSize, options.runs - first) });
      next = 0;
      await Promise.all(Array.from({ length: options.concurrency }, worker));
    }
  } finally {
    client.close();
  }
  const failures = [...groups.values()].sort((a, b) => a.signature.localeCompare(b.signature));
  return {
    seed: options.seed,
    sent: options.runs - notSent,
    notSent,
    outcomes,
    rpcs,
    failures,
    durationMs: Math.round(performance.now() - started),
  };
}

/** Failures regrouped by cause (kind, code, message), whatever the RPC and protocol: one line each. */
function causes(report: HostileRunReport): string[] {
  const byCause = new Map<string, { count: number; rpcs: Set<string>; protocols: Set<string> }>();
  for (const group of report.failures) {
    const [kind, rpc, protocol, code, message] = group.signature.split(" | ");
    const key = `${kind} | ${code} | ${message}`;
    const cause = byCause.get(key) ?? { count: 0, rpcs: new Set<string>(), protocols: new Set<string>() };
    cause.count += group.count;
    cause.rpcs.add(rpc!);
    cause.protocols.add(protocol!);
    byCause.set(key, cause);
  }
  return [...byCause.entries()]
    .sort(([, a], [, b]) => b.count - a.count)
    .map(([key, cause]) => {
      const rpcs = [...cause.rpcs];
      return `  ${cause.count}× ${key}\n      over ${[...cause.protocols].join(", ")}; ${rpcs.length} RPCs: ${rpcs.slice(0, 6).join(", ")}${rpcs.length > 6 ? ", …" : ""}`;
    });
}

/** The report as text for a failing assertion: the seed first, so the run can be replayed. */
export function formatReport(report: HostileRunReport): string {
  const lines = [
    `hostile inputs: ${report.sent} sent (${report.notSent} refused by the client), ${report.failures.reduce((sum, group) => sum + group.count, 0)} failed, in ${report.durationMs} ms`,
    `replay with HOSTILE_SEED=${report.seed} HOSTILE_RUNS=<same count>`,
    `accepted although they look like server errors: ${acceptedExceptions.join("; ")}`,
    ...(report.failures.length === 0 ? [] : ["by cause:", ...causes(report), "by RPC and protocol, with the first input of each:"]),
    ...report.failures.map((group) => `  ${group.count}× ${group.signature}\n      first #${group.firstIndex}: ${group.firstInput}`),
  ];
  return lines.join("\n");
}
