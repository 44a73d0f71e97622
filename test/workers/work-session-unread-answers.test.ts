/**
 * A Work session whose executor keeps sending and never reads the answers (issue 11,
 * slow peers), against a server in its own process so its memory can be read. The
 * session stops reading requests while 256 answers are unsent or 4 MiB of requests are
 * held (being applied, or answered and queued); HTTP/2 flow control then stops the
 * executor's writes. What actually happens, asserted here:
 * - the server reads a bounded part of what the executor wants to send, its memory stays
 *   bounded, and other clients are served meanwhile;
 * - the stream is not ended: the Outbox's overflow (RESOURCE_EXHAUSTED past 1024 queued
 *   messages) is never reached, since the reader stops first. Once the executor reads,
 *   every message it got through is answered and the call ends OK;
 * - only RUNLINE_STREAM_STALL_TIMEOUT_MS ends a session stalled that long: RST_STREAM
 *   ENHANCE_YOUR_CALM (RESOURCE_EXHAUSTED to gRPC clients), and the server drops it.
 * Before the byte bound, 265 reports of 1 MiB were read and the server grew by 392 MB.
 */
import { createClient } from "@connectrpc/connect";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RunStatus } from "../../gen/runline/v1/run_pb.js";
import { WorkerService, type Lease } from "../../gen/runline/v1/worker_service_pb.js";
import { createTenant, h2ConnectTransport, json, type TenantFixture } from "../support/clients.js";
import { openRawWorkStream } from "../support/raw-work-stream.js";
import { startServerProcess, type ServerProcess } from "../support/server-process.js";
import { streamsReach } from "../support/stream-gauge.js";
import { createTestDatabase } from "../support/test-database.js";
import { createWorkflowWith, eventually, millis, within, workerClient } from "./worker-fixtures.js";

const megabyte = 1024 * 1024;

let server: ServerProcess;
let database: pg.Client;

beforeAll(async () => {
  const databaseUrl = await createTestDatabase();
  server = await startServerProcess({ RUNLINE_STREAM_STALL_TIMEOUT_MS: "60000" }, databaseUrl);
  database = new pg.Client({ connectionString: databaseUrl });
  await database.connect();
});

afterAll(() => database.end());

/** A tenant with 16 runs of `q` leased for 10 minutes (the reports' target) and an empty workflow `idle` (the session's). */
async function leasedRuns(url: string): Promise<{ tenant: TenantFixture; leases: Lease[] }> {
  const tenant = await createTenant(url);
  await createWorkflowWith(tenant, "q");
  await createWorkflowWith(tenant, "idle");
  await tenant.runs().batchCreateRuns({ template: { workflow: "q" }, inputs: Array.from({ length: 16 }, (_, n) => json({ n })) });
  const { leases } = await workerClient(tenant, url).claimRuns({
    workerId: "holder",
    workflows: ["q"],
    maxRuns: 16,
    leaseDuration: millis(600_000),
  });
  expect(leases).toHaveLength(16);
  return { tenant, leases };
}

const openIdle = {
  kind: { case: "open" as const, value: { workerId: "unread", workflows: ["idle"], maxRuns: 1, leaseDuration: millis(600_000) } },
};

/** `count` reports, each one event whose data holds `text`, spread over the leased runs. */
function* reports(leases: readonly Lease[], count: number, text: string) {
  for (let index = 0; index < count; index++) {
    const lease = leases[index % leases.length]!;
    yield {
      kind: {
        case: "report" as const,
        value: { runId: lease.run!.id, leaseId: lease.leaseId, events: [{ type: "log", eventId: `e${index}`, data: json({ text }) }] },
      },
    };
  }
}

/** Reports the server has applied (each stores one `log` event). */
async function applied(tenant: TenantFixture): Promise<number> {
  const { rows } = await database.query<{ count: number }>(
    "select count(*)::int as count from run_events where tenant_id = $1 and type = 'log'",
    [tenant.tenantId],
  );
  return rows[0]!.count;
}

/**
 * The applied count once it has stopped moving (unchanged for 1 s, within 15 s): when the
 * writer sees the stall, the server may still be applying what it had queued, slowly on a
 * busy machine. After that, nothing more may be applied until the answers are read.
 */
async function appliedOnceSettled(tenant: TenantFixture): Promise<number> {
  let count = await applied(tenant);
  for (let waited = 0; waited < 15_000; waited += 1000) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const next = await applied(tenant);
    if (next === count) return count;
    count = next;
  }
  return count;
}

/** Other clients while the session is stalled: unary calls, and a whole Work session on its own connection. */
async function servedMeanwhile(tenant: TenantFixture, leases: readonly Lease[]): Promise<number> {
  const worker = workerClient(tenant, server.url);
  let slowestMs = 0;
  for (const lease of leases.slice(0, 5)) {
    const started = performance.now();
    await worker.heartbeat({ runId: lease.run!.id, leaseId: lease.leaseId });
    slowestMs = Math.max(slowestMs, performance.now() - started);
  }
  await createWorkflowWith(tenant, "fresh");
  const { run } = await tenant.runs().createRun({ workflow: "fresh", input: json({ n: 1 }) });
  const transport = h2ConnectTransport(server.url, tenant.key);
  let completeWith: ((lease: Lease) => void) | undefined;
  const completion = new Promise<Lease>((resolve) => (completeWith = resolve));
  async function* requests() {
    yield { kind: { case: "open" as const, value: { workerId: "reader", workflows: ["fresh"], maxRuns: 1 } } };
    const lease = await completion;
    yield { kind: { case: "complete" as const, value: { runId: lease.run!.id, leaseId: lease.leaseId, output: json("done") } } };
  }
  const session = (async () => {
    for await (const response of createClient(WorkerService, transport).work(requests(), { signal: AbortSignal.timeout(10_000) })) {
      if (response.kind.case === "assigned") completeWith!(response.kind.value.leases[0]!);
      if (response.kind.case === "outcome") return response.kind.value.status;
    }
    return undefined;
  })();
  expect(await within(10_000, "the other session's outcome", session)).toBe(RunStatus.SUCCEEDED);
  expect((await tenant.runs().getRun({ runId: run!.id })).run!.status).toBe(RunStatus.SUCCEEDED);
  return slowestMs;
}

describe("a Work session whose executor never reads", () => {
  it(
    "with 1 MiB reports: the server reads about 4 MiB of them, stays small and serves others; once read, all are answered",
    { timeout: 90_000 },
    async () => {
      const { tenant, leases } = await leasedRuns(server.url);
      const stream = openRawWorkStream(server.url, tenant.key, openIdle);
      const rssBefore = server.rssBytes();
      // 200 MiB wanted; the writer gives up when a write has not drained for 3 s.
      const progress = await stream.writeUntilStalled(reports(leases, 200, "x".repeat(megabyte)), 3000);
      const rssGrowth = server.rssBytes() - rssBefore;
      const appliedWhileStalled = await appliedOnceSettled(tenant);
      console.info(
        `1 MiB reports: ${progress.messages} of 200 written (${(stream.socketBytesWritten() / megabyte).toFixed(1)} MiB on the socket), ${appliedWhileStalled} applied, server RSS +${(rssGrowth / megabyte).toFixed(0)} MiB`,
      );
      expect(progress.stalled).toBe(true);
      // 4 MiB held + the one read past it + what the windows and buffers in between hold.
      expect(appliedWhileStalled).toBeLessThanOrEqual(8);
      expect(progress.messages).toBeLessThanOrEqual(12);
      expect(stream.socketBytesWritten()).toBeLessThan(16 * megabyte);
      // Measured ≈ 66 MiB (decoding, JSON and SQL copies of ~6 MiB); 392 MiB before the byte bound.
      expect(rssGrowth).toBeLessThan(160 * megabyte);

      const slowestMs = await servedMeanwhile(tenant, leases);
      expect(slowestMs).toBeLessThan(2000);
      expect(stream.closed()).toBe(false);
      expect(await applied(tenant)).toBe(appliedWhileStalled);

      const end = await within(30_000, "reading the answers", stream.readToEnd());
      expect([end.grpcStatus, end.rstCode]).toEqual(["0", 0]);
      const answers = end.responses.filter((response) => response.kind.case === "reported");
      expect(answers).toHaveLength(progress.messages);
      expect(answers.filter((response) => response.kind.case === "reported" && response.kind.value.error !== undefined)).toEqual([]);
      expect(await applied(tenant)).toBe(progress.messages);
    },
  );

  it("with small reports: the server stops after about 2 × 256 answers; once read, all are answered", { timeout: 90_000 }, async () => {
    const { tenant, leases } = await leasedRuns(server.url);
    const stream = openRawWorkStream(server.url, tenant.key, openIdle);
    const progress = await stream.writeUntilStalled(reports(leases, 20_000, "small"), 3000);
    const appliedWhileStalled = await appliedOnceSettled(tenant);
    console.info(
      `small reports: ${progress.messages} of 20000 written (${(progress.bytes / 1024).toFixed(0)} KiB), ${appliedWhileStalled} applied`,
    );
    expect(progress.stalled).toBe(true);
    // 256 queued + 256 being applied, plus the ~100-byte answers that the stream's HTTP/2
    // window and the client's read buffer took (64 KiB each); the requests not applied
    // wait in the server's window and buffer. Measured: 1498 applied, 3345 written.
    expect(appliedWhileStalled).toBeLessThan(2000);
    expect(progress.messages).toBeLessThan(4000);
    await servedMeanwhile(tenant, leases);
    expect(await applied(tenant)).toBe(appliedWhileStalled);

    const end = await within(60_000, "reading the answers", stream.readToEnd());
    expect([end.grpcStatus, end.rstCode]).toEqual(["0", 0]);
    expect(end.responses.filter((response) => response.kind.case === "reported" && response.kind.value.error === undefined)).toHaveLength(
      progress.messages,
    );
  });

  it(
    "stalled past RUNLINE_STREAM_STALL_TIMEOUT_MS: reset with ENHANCE_YOUR_CALM, and the server drops the session",
    { timeout: 60_000 },
    async () => {
      const stalling = await startServerProcess({ RUNLINE_STREAM_STALL_TIMEOUT_MS: "1500" });
      const { tenant, leases } = await leasedRuns(stalling.url);
      const stream = openRawWorkStream(stalling.url, tenant.key, openIdle);
      await stream.writeUntilStalled(reports(leases, 200, "x".repeat(megabyte)), 500);
      await eventually(15_000, "the stalled stream reset", async () => (stream.closed() ? true : undefined), 50);
      const end = await stream.readToEnd();
      expect([end.rstCode, end.grpcStatus]).toEqual([11 /* ENHANCE_YOUR_CALM */, undefined]);
      await streamsReach(stalling.url, "/runline.v1.WorkerService/Work", 0, 5000);
      // The runs it reported on are still leased to their holder: only the stream ended.
      const { leaseExpireTime } = await workerClient(tenant, stalling.url).heartbeat({
        runId: leases[0]!.run!.id,
        leaseId: leases[0]!.leaseId,
      });
      expect(leaseExpireTime).toBeDefined();
    },
  );
});
