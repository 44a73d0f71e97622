/**
 * Scenario group `slow-readers` (issue 11): 40 clients open one run's event stream
 * (≈ 59 MB of events) and never read, over each protocol in turn; the server process's
 * resident memory (VmRSS) is sampled before, at its peak while they stall, and after they
 * go. Two shapes of the same log: many small events (1 KiB) and few large ones (100 KiB),
 * since a batch of 500 large events was one 50 MB message before batches were capped in
 * bytes. The goal: growth under 200 MB in total, and back within 100 MB of the baseline.
 */
import { readFile } from "node:fs/promises";
import { setTimeout as delay } from "node:timers/promises";
import { RunsService } from "../gen/runline/v1/runs_service_pb.js";
import {
  openServerStreams,
  openStalledReader,
  seedRunEvents,
  stalledProtocols,
  type StalledProtocol,
  type StalledReader,
} from "../test/support/stalled-readers.js";
import { say, type BenchContext, type ScenarioGroup } from "./bench-context.js";
import { format, table } from "./report.js";
import { benchWorkflow, clientOf, createBenchTenant, jsonValue } from "./runline-side.js";

const readers = 40;
const shapes = [
  { name: "1 KiB events", count: 60_000, bytesEach: 1_024 },
  { name: "100 KiB events", count: 600, bytesEach: 102_400 },
] as const;
/** How long the readers stall: the tester saw 5.5 GB within 16 s. */
const stallMs = 16_000;
/** After they go: time for the server to let go of what it held. */
const settleMs = 10_000;
const growthGoalMb = 200;
const returnGoalMb = 100;

/** The process's resident set in MB, from /proc (what the operating system charges it). */
async function residentMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kilobytes = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]);
  return kilobytes / 1024;
}

interface Outcome {
  readonly shape: string;
  readonly protocol: StalledProtocol;
  readonly baselineMb: number;
  readonly peakMb: number;
  readonly afterMb: number;
  /** Readers whose stream opened. */
  readonly opened: number;
  /** Streams the server still counted as open `settleMs` after the readers left. */
  readonly leftOpen: number;
}

/** 40 stalled readers over one protocol: RSS before, highest while they stall, after they go. */
async function measureProtocol(
  context: BenchContext,
  target: { baseUrl: string; key: string; runId: string },
  shape: string,
  protocol: StalledProtocol,
): Promise<Outcome> {
  const pid = context.server.pid;
  const baselineMb = await residentMb(pid);
  const opened: StalledReader[] = [];
  const results = await Promise.allSettled(Array.from({ length: readers }, () => openStalledReader(protocol, target)));
  for (const result of results) if (result.status === "fulfilled") opened.push(result.value);
  let peakMb = baselineMb;
  const until = performance.now() + stallMs;
  while (performance.now() < until) {
    peakMb = Math.max(peakMb, await residentMb(pid));
    await delay(250);
  }
  for (const reader of opened) reader.close();
  await delay(settleMs);
  const afterMb = await residentMb(pid);
  const outcome = {
    shape,
    protocol,
    baselineMb,
    peakMb,
    afterMb,
    opened: opened.length,
    leftOpen: await openServerStreams(target.baseUrl),
  };
  say(
    `  ${shape}, ${protocol}: ${opened.length} readers; RSS ${format(baselineMb, 0)} → peak ${format(peakMb, 0)} → ${format(afterMb, 0)} MB; ${outcome.leftOpen} streams left open`,
  );
  return outcome;
}

function verdict(outcome: Outcome): string {
  const grew = outcome.peakMb - outcome.baselineMb;
  const left = outcome.afterMb - outcome.baselineMb;
  return grew < growthGoalMb && left < returnGoalMb && outcome.opened === readers && outcome.leftOpen === 0 ? "ok" : "**over**";
}

/** The group: one run per shape, every protocol against each. */
export const slowReaders: ScenarioGroup = {
  name: "slow-readers",
  summary: `${readers} clients that never read one run's ≈ 59 MB event stream, per protocol: server RSS growth and return`,
  async run(context) {
    const key = await createBenchTenant(context.server.url, context.rootKey, "slow-readers");
    const runs = clientOf(RunsService, context.server.url, key);
    const outcomes: Outcome[] = [];
    for (const shape of shapes) {
      const { run } = await runs.createRun({ workflow: benchWorkflow, input: jsonValue({ n: 0 }) });
      await seedRunEvents(context.urlFor("bench_runline"), run!.id, shape.count, shape.bytesEach);
      say(`${shape.name}: ${shape.count} events of ${shape.bytesEach} bytes seeded`);
      for (const protocol of stalledProtocols)
        outcomes.push(await measureProtocol(context, { baseUrl: context.server.url, key, runId: run!.id }, shape.name, protocol));
    }
    say(
      "\n" +
        table(
          [
            "events",
            "protocol",
            "readers",
            "RSS before (MB)",
            "peak (MB)",
            "growth (MB)",
            "after (MB)",
            "after − before (MB)",
            "streams left",
            "goal",
          ],
          outcomes.map((outcome) => [
            outcome.shape,
            outcome.protocol,
            String(outcome.opened),
            format(outcome.baselineMb, 0),
            format(outcome.peakMb, 0),
            format(outcome.peakMb - outcome.baselineMb, 0),
            format(outcome.afterMb, 0),
            format(outcome.afterMb - outcome.baselineMb, 0),
            String(outcome.leftOpen),
            verdict(outcome),
          ]),
        ),
    );
    return outcomes.every((outcome) => verdict(outcome) === "ok");
  },
};
