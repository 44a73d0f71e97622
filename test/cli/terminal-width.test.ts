/**
 * The `runline` binary in a real 50-column pseudo-terminal (util-linux `script`, sized
 * with `stty cols 50`): the progress line is fitted to the width and redrawn in place,
 * so the screen keeps one progress row, never a stack of partial ones; `runs create
 * --wait` shows the run's status and progress while it runs, as `runs watch` does, and
 * still ends with the run's line, its output and its exit code.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createWorker, type Worker } from "../../src/sdk/create-worker.js";
import { createTenant, json, type TenantFixture } from "../support/clients.js";
import { startInTerminal, type TerminalRun } from "../support/pseudo-terminal.js";
import { renderScreen } from "../support/terminal-screen.js";
import { startTestServer } from "../support/test-server.js";

const columns = 50;
const longMessage = "copying quarterly-report-final-version-2.tar.gz to the archive";

let server: string;
let tenant: TenantFixture;
let asTenant: Record<string, string>;
let worker: Worker;
const started: TerminalRun[] = [];

beforeAll(async () => {
  server = (await startTestServer()).url;
  tenant = await createTenant(server);
  asTenant = { RUNLINE_SERVER: server, RUNLINE_API_KEY: tenant.key };
  for (const slug of ["parked", "copier"]) await tenant.workflows().createWorkflow({ slug, definition: json({ kind: slug }) });
  // Performs `copier` runs: four progress events with a message too long for the terminal.
  worker = createWorker({
    server,
    apiKey: tenant.key,
    workflows: ["copier"],
    handler: async (job) => {
      for (const step of [1, 2, 3, 4]) {
        await job.progress(step / 4, `${longMessage} (${step} of 4)`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      return { copied: 4 };
    },
  });
});

afterAll(async () => {
  for (const run of started) run.kill();
  await worker.stop({ graceMs: 1000 });
});

/** Rows with times and run ids made stable. */
function stable(rows: readonly string[]): string[] {
  return rows.map((row) => row.replace(/\d{4}-\d\d-\d\dT[\d:]+Z/, "<time>"));
}

describe("a 50-column terminal", () => {
  it("watch redraws one progress line, fitted to the width, and leaves one row of it", async () => {
    const { run } = await tenant.runs().createRun({ workflow: "parked" });
    const watch = startInTerminal(["runs", "watch", run!.id], asTenant, columns);
    started.push(watch);
    await watch.waitForOutput(/status {2}QUEUED/);
    for (const step of [1, 2, 3, 4]) {
      await tenant.runs().ingestRunEvents({
        runId: run!.id,
        events: [{ type: "progress", data: json({ fraction: step / 4, message: `${longMessage} (${step} of 4)` }) }],
      });
      await watch.waitForOutput(new RegExp(`${step * 25}%`));
    }
    await tenant.runs().cancelRun({ runId: run!.id });
    const { code, output } = await watch.exited;
    expect(code).toBe(11);

    const screen = renderScreen(output, columns);
    const progressDraws = screen.drawn.filter((line) => line.includes("%"));
    expect(progressDraws).toHaveLength(4);
    for (const line of screen.drawn.filter((drawn) => !drawn.startsWith("run "))) expect(line.length).toBeLessThan(columns);
    // Only the run's own line (a 36-character id and more) is wider than the terminal: it wraps once and stays whole.
    expect(screen.wraps).toBe(1);
    expect(stable(screen.rows)).toEqual([
      `run ${run!.id} (parked): QUEUED`.slice(0, columns),
      `run ${run!.id} (parked): QUEUED`.slice(columns),
      "#1  <time>  status  QUEUED",
      "#5  [##########] 100% copying quarterly-report-f…",
      "#6  <time>  status  CANCELLED",
    ]);
  });

  it("create --wait shows status and progress while the run works, then the result, exit 0", async () => {
    const created = startInTerminal(["runs", "create", "copier", "--wait", "30s"], asTenant, columns);
    started.push(created);
    const { code, output } = await created.exited;
    expect(code).toBe(0);

    const screen = renderScreen(output, columns);
    expect(screen.drawn.filter((line) => line.includes("%")).length).toBeGreaterThanOrEqual(1);
    for (const line of screen.drawn.filter((drawn) => !drawn.startsWith("run "))) expect(line.length).toBeLessThan(columns);
    const rows = stable(screen.rows);
    const id = /^run ([0-9a-f-]{36})/.exec(screen.drawn[0]!)![1]!;
    // The run's line shows it as the stream first saw it: QUEUED, or RUNNING when the worker was quicker.
    expect(rows[0]).toBe(`run ${id} (copier):`);
    expect(rows[1]).toMatch(/^ (QUEUED|RUNNING)$/);
    expect(rows.slice(2, 5)).toEqual([
      "#1  <time>  status  QUEUED",
      "#2  <time>  status  RUNNING",
      "#6  [##########] 100% copying quarterly-report-f…",
    ]);
    expect(rows.slice(5)).toEqual([
      "#7  <time>  status  SUCCEEDED",
      `run ${id}  copier  SUCCEEDED`.slice(0, columns).trimEnd(),
      `run ${id}  copier  SUCCEEDED`.slice(columns),
      "{",
      '  "copied": 4',
      "}",
    ]);
  });
});
