/**
 * Scenario group `rest`: the transcoding layer's overhead. GetRun and CreateRun over
 * REST against the same RPCs over Connect JSON, on the same server, the same runs and
 * 32 callers (see rest-side.ts for what each client does). The machine is shared and
 * its load drifts, so each RPC gets several short rounds with the sides in alternating
 * order (REST first, then Connect first, …) after an unmeasured warm-up of both, so
 * neither side's first window is the one that wakes the JIT; the ratio is taken within
 * each round and the table reports medians over rounds.
 */
import { measureWindow, median, say, type BenchContext, type ScenarioGroup, type Window } from "./bench-context.js";
import { runLoad, type LoadOptions } from "./load.js";
import { format, table } from "./report.js";
import { connectRestSides, type ProtocolPair } from "./rest-side.js";

const callers = 32;
const rounds = 3;
const load: LoadOptions = { callers, warmupMs: 1_500, durationMs: 4_000, maxOperationsPerCaller: 1_000_000, maxErrors: 100 };
/** Before the first round: each side alone for this long, nothing counted. */
const settleMs = 1_500;

type Side = "REST" | "Connect JSON";

interface Round {
  readonly rest: Window;
  readonly connect: Window;
}

interface RpcResult {
  readonly rpc: string;
  readonly rounds: readonly Round[];
}

/** Rounds of the pair, REST first in even rounds and Connect first in odd ones. */
async function measureRpc(context: BenchContext, rpc: string, pair: ProtocolPair): Promise<RpcResult> {
  say(`${rpc}: ${settleMs / 1000} s of each side, unmeasured …`);
  for (const operation of [pair.rest, pair.connect]) await runLoad(operation, { ...load, warmupMs: settleMs, durationMs: 0 });
  const measured: Round[] = [];
  for (let round = 0; round < rounds; round++) {
    const order: readonly Side[] = round % 2 === 0 ? ["REST", "Connect JSON"] : ["Connect JSON", "REST"];
    const windows = new Map<Side, Window>();
    for (const side of order) {
      const operation = side === "REST" ? pair.rest : pair.connect;
      windows.set(side, await measureWindow(context, `${rpc} over ${side}, round ${round + 1} of ${rounds}`, operation, load));
    }
    measured.push({ rest: windows.get("REST")!, connect: windows.get("Connect JSON")! });
  }
  return { rpc, rounds: measured };
}

/** CPU ms per call in a window of one process (0 load generator, 1 server) or of Postgres; NaN when no call succeeded. */
function msPerCall(window: Window, whose: 0 | 1 | "postgres"): number {
  const seconds = whose === "postgres" ? window.cpu.clusterSeconds : (window.cpu.processSeconds[whose] ?? Number.NaN);
  return window.result.operations === 0 ? Number.NaN : (1000 * seconds) / window.result.operations;
}

const serverMsPerCall = (window: Window) => msPerCall(window, 1);

const throughputOf = (window: Window) => window.result.unitsPerSecond;
const listed = (values: readonly number[], digits: number) =>
  `${values.map((value) => format(value, digits)).join(" / ")} → **${format(median(values), digits)}**`;

/** Per side: throughput by round and its median, median latencies and CPU per call by process. */
function sideRows(result: RpcResult): string[][] {
  const sides: readonly [Side, (round: Round) => Window][] = [
    ["REST", (round) => round.rest],
    ["Connect JSON", (round) => round.connect],
  ];
  return sides.map(([side, pick]) => {
    const windows = result.rounds.map(pick);
    return [
      result.rpc,
      side,
      `${listed(windows.map(throughputOf), 0)} calls/s`,
      format(median(windows.map((window) => window.result.p50Ms)), 1),
      format(median(windows.map((window) => window.result.p99Ms)), 1),
      ...([0, 1, "postgres"] as const).map((whose) => format(median(windows.map((window) => msPerCall(window, whose))), 2)),
      String(windows.reduce((sum, window) => sum + window.result.errors, 0)),
    ];
  });
}

/**
 * Per RPC: REST/Connect throughput by round and the overhead it implies; the server's CPU
 * per call REST/Connect by round, and the overhead that implies for a server whose cores
 * are its own (throughput ∝ 1 / CPU per call), where the clients' cost does not count.
 */
function ratioRow(result: RpcResult): string[] {
  const ratios = result.rounds.map((round) => throughputOf(round.rest) / throughputOf(round.connect));
  const cpuRatios = result.rounds.map((round) => serverMsPerCall(round.rest) / serverMsPerCall(round.connect));
  const cpuOverhead = 1 - 1 / median(cpuRatios);
  return [
    result.rpc,
    listed(ratios, 2),
    `${format(100 * (1 - median(ratios)), 0)} %`,
    listed(cpuRatios, 2),
    `${format(100 * cpuOverhead, 0)} %`,
  ];
}

async function run(context: BenchContext): Promise<boolean> {
  const sides = await connectRestSides(context.server.url, context.rootKey, callers);
  try {
    const results = [await measureRpc(context, "GetRun", sides.getRun), await measureRpc(context, "CreateRun", sides.createRun)];
    say(
      `\n${rounds} rounds per RPC, ${load.warmupMs / 1000} s warm-up + ${load.durationMs / 1000} s each, sides alternating (REST first in rounds 1 and 3); cells list the rounds, then the median. p50, p99 and CPU ms per call are medians over rounds:\n`,
    );
    say(
      table(["RPC", "side", "throughput", "p50 ms", "p99 ms", "load generator", "server", "Postgres", "errors"], results.flatMap(sideRows)),
    );
    say(
      `\nThroughput REST/Connect JSON by round, overhead = 1 − median; server CPU per call REST/Connect JSON by round, overhead = 1 − 1/median:\n`,
    );
    say(
      `${table(["RPC", "throughput REST/Connect", "overhead", "server CPU REST/Connect", "server-bound overhead"], results.map(ratioRow))}\n`,
    );
    return results.every((result) => result.rounds.every((round) => round.rest.result.errors === 0 && round.connect.result.errors === 0));
  } finally {
    sides.close();
  }
}

/** GetRun and CreateRun: REST through the transcoder against Connect JSON. */
export const restComparison: ScenarioGroup = {
  name: "rest",
  summary: `GetRun and CreateRun over REST against Connect JSON (HTTP/1.1), ${callers} callers, ${rounds} alternating rounds`,
  run,
};
