/**
 * Issue 11, point 6: generated hostile inputs (fast-check, by walking the request
 * descriptors) to every RPC of every service over gRPC, gRPC-web, Connect binary,
 * Connect JSON, Connect GET and REST, against a server running as its own process.
 * None may be answered with a server error, the server must keep answering, its stderr
 * must stay empty and its stdout hold only log lines, and its descriptors and memory
 * must come back near where they started.
 *
 * HOSTILE_RUNS sets the number of inputs (default 1500, about 20 s on two busy cores;
 * the goal run is HOSTILE_RUNS=10000); HOSTILE_SEED replays a run (the seed is printed).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RunsService } from "../../gen/runline/v1/runs_service_pb.js";
import { clientFor } from "../support/clients.js";
import { eventually } from "../support/expectations.js";
import { startServerProcess, type ServerProcess } from "../support/server-process.js";
import { createHostileFixtures, type HostileFixtures } from "./hostile-fixtures.js";
import { formatReport, runHostileCalls, type HostileRunReport } from "./hostile-run.js";
import { catalog } from "./rpc-catalog.js";

const runs = Number(process.env.HOSTILE_RUNS ?? 1500);
const seed = Number(process.env.HOSTILE_SEED ?? Date.now() % 2 ** 31);
const megabytes = (bytes: number) => Math.round(bytes / 2 ** 20);

/** The server's V8 heap in use (prom-client's default gauge), to tell garbage not yet collected from a leak. */
async function heapUsed(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/^runline_nodejs_heap_size_used_bytes (\S+)$/m.exec(text)?.[1] ?? Number.NaN);
}

describe(`${runs} generated hostile inputs (seed ${seed})`, () => {
  let server: ServerProcess;
  let fixtures: HostileFixtures;
  let baseline: { fds: number; rss: number; heap: number };
  let peakRss = 0;
  let report: HostileRunReport;

  beforeAll(async () => {
    server = await startServerProcess();
    fixtures = await createHostileFixtures(server.url);
    baseline = { fds: server.fdCount(), rss: server.rssBytes(), heap: await heapUsed(server.url) };
  });
  afterAll(() => server.stop());

  it("are never answered with a server error, a reset or silence", { timeout: 120_000 + runs * 200 }, async () => {
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, server.rssBytes())), 500);
    report = await runHostileCalls(server.url, fixtures, { runs, seed, concurrency: 4 }).finally(() => clearInterval(sampler));
    console.log(formatReport(report));
    console.log(
      Object.entries(report.outcomes)
        .sort()
        .map(([label, count]) => `${label}: ${count}`)
        .join(", "),
    );
    expect(report.failures, formatReport(report)).toEqual([]);
  });

  it("reach every RPC of the catalog", () => {
    // A guard on the generator itself: with few inputs some RPC may go unvisited by chance.
    if (runs < 300) return;
    expect(Object.keys(report.rpcs).sort()).toEqual(catalog.map((entry) => entry.path).sort());
  });

  it("leave the server answering", async () => {
    expect(server.alive()).toBe(true);
    const response = await fetch(`${server.url}/healthz`);
    expect(response.status).toBe(200);
    const { run } = await clientFor(RunsService, "grpc", server.url, fixtures.keys.full).getRun({ runId: fixtures.probeRunId });
    expect(run?.id).toBe(fixtures.probeRunId);
  });

  it("leave nothing on stderr and only JSON log lines on stdout", () => {
    expect(server.stderr()).toBe("");
    expect(server.strayStdout()).toEqual([]);
    const errors = server.logLines().filter((line) => line.level >= 50);
    console.log(`log: ${server.logLines().length} lines, ${errors.length} at error level or above`);
  });

  it("give back descriptors and memory", async () => {
    const fds = await eventually(
      10_000,
      "descriptors back near baseline",
      async () => {
        const now = server.fdCount();
        return now <= baseline.fds + 5 ? now : undefined;
      },
      250,
    ).catch(() => server.fdCount());
    const rss = server.rssBytes();
    const heap = await heapUsed(server.url);
    console.log(
      `fds ${baseline.fds} → ${fds}; RSS ${megabytes(baseline.rss)} MB → peak ${megabytes(peakRss)} MB → ${megabytes(rss)} MB; heap used ${megabytes(baseline.heap)} → ${megabytes(heap)} MB; CLOSE-WAIT ${server.closeWaitCount()}`,
    );
    expect(fds).toBeLessThanOrEqual(baseline.fds + 5);
    expect(server.closeWaitCount()).toBe(0);
    // RSS keeps the heap's high-water mark (V8 returns pages lazily); the heap in use must come back.
    expect(rss - baseline.rss).toBeLessThan(300 * 2 ** 20);
    expect(heap - baseline.heap).toBeLessThan(100 * 2 ** 20);
  });
});
