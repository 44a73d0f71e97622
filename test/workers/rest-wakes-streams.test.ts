/**
 * REST calls reach the same service objects as gRPC, gRPC-web and Connect calls, so a
 * run finished over REST frees its slot on a gRPC StreamAssignments stream or Work
 * session at once (WorkerService's finish board), not at the stream's next recount of
 * its runs from the database (`recountMs` in src/workers/assignment-stream.ts, 1 s).
 * Each stream holds one run at a time; the delay is from sending the REST CompleteRun to
 * the next lease arriving on the stream. The figures are printed for the record.
 */
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  WorkerService,
  type Lease,
  type StreamAssignmentsRequestSchema,
  type WorkRequestSchema,
} from "../../gen/runline/v1/worker_service_pb.js";
import { bearer, createTenant, json, type TenantFixture } from "../support/clients.js";
import { startTestServer } from "../support/test-server.js";
import { restClient, type RestClient } from "../rest/rest-client.js";
import { createWorkflowWith, eventually, millis, percentile, within } from "./worker-fixtures.js";

/** The assignment stream's recount period (assignment-stream.ts): the wake must beat it by far. */
const recountMs = 1000;
const promptMs = recountMs / 4;
const samples = 5;

let baseUrl: string;

beforeAll(async () => {
  const server = await startTestServer();
  baseUrl = server.url;
});

/** Leases as they arrive on a stream, each with its arrival time. */
interface LeaseFeed {
  readonly arrivals: { lease: Lease; at: number }[];
  /** Resolves when the stream has ended (after `stop`). */
  readonly closed: Promise<unknown>;
  stop(): void;
}

const feeds: LeaseFeed[] = [];

afterEach(async () => {
  for (const feed of feeds.splice(0)) {
    feed.stop();
    await within(5000, "stream closing after the test", feed.closed);
  }
});

/** Collects the leases of `batches` (one stream's responses) until `stop`. */
function collect(batches: (signal: AbortSignal) => AsyncIterable<readonly Lease[]>): LeaseFeed {
  const stop = new AbortController();
  const arrivals: LeaseFeed["arrivals"] = [];
  const closed = (async () => {
    for await (const leases of batches(stop.signal)) for (const lease of leases) arrivals.push({ lease, at: performance.now() });
  })().catch((error: unknown) => (stop.signal.aborted ? undefined : Promise.reject(error)));
  const feed = { arrivals, closed, stop: () => stop.abort() };
  feeds.push(feed);
  return feed;
}

type OpenInit = MessageInitShape<typeof StreamAssignmentsRequestSchema>;
type WorkRequestInit = MessageInitShape<typeof WorkRequestSchema>;

/** StreamAssignments over gRPC. */
async function* assignmentStream(
  workers: Client<typeof WorkerService>,
  open: OpenInit,
  signal: AbortSignal,
): AsyncIterable<readonly Lease[]> {
  for await (const response of workers.streamAssignments(open, { signal })) yield response.leases;
}

/** A Work session over gRPC that only opens; its runs are finished over REST. */
async function* workSession(workers: Client<typeof WorkerService>, open: OpenInit, signal: AbortSignal): AsyncIterable<readonly Lease[]> {
  async function* requests(): AsyncGenerator<WorkRequestInit> {
    yield { kind: { case: "open", value: open } };
    await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
  }
  for await (const response of workers.work(requests(), { signal }))
    if (response.kind.case === "assigned") yield response.kind.value.leases;
}

/**
 * Completes each lease of `feed` over REST as it arrives, and returns how long each
 * completion took to bring the next lease: `samples` figures.
 */
async function wakeDelays(feed: LeaseFeed, rest: RestClient): Promise<number[]> {
  const delays: number[] = [];
  for (let index = 0; index <= samples; index++) {
    const { lease } = await eventually(5000, `lease #${index + 1}`, async () => feed.arrivals[index]);
    const sent = performance.now();
    const completed = await rest.post(`/api/v1/workers/runs/${lease.run!.id}:complete`, {
      leaseId: lease.leaseId,
      output: { done: index },
    });
    expect(completed.status, completed.text).toBe(200);
    if (index === samples) break;
    const next = await eventually(5000, `lease #${index + 2}`, async () => feed.arrivals[index + 1]);
    delays.push(next.at - sent);
  }
  return delays;
}

/** A tenant with `samples + 1` queued runs of workflow `wake`. */
async function tenantWithQueue(): Promise<TenantFixture> {
  const tenant = await createTenant(baseUrl);
  await createWorkflowWith(tenant, "wake");
  const { runs } = await tenant
    .runs()
    .batchCreateRuns({ template: { workflow: "wake" }, inputs: Array.from({ length: samples + 1 }, (_, n) => json({ n })) });
  expect(runs).toHaveLength(samples + 1);
  return tenant;
}

describe.each([
  ["a StreamAssignments stream", assignmentStream],
  ["a Work session", workSession],
])("a REST CompleteRun wakes %s over gRPC", (what, open) => {
  it(`at once, well under the ${recountMs} ms recount`, { timeout: 60_000 }, async () => {
    const tenant = await tenantWithQueue();
    const workers = createClient(WorkerService, createGrpcTransport({ baseUrl, interceptors: [bearer(tenant.key)] }));
    const feed = collect((signal) =>
      open(workers, { workerId: "rest-finished", workflows: ["wake"], maxRuns: 1, leaseDuration: millis(30_000) }, signal),
    );
    const delays = await wakeDelays(feed, restClient(baseUrl, tenant.key));
    // One run at a time: every lease was the only one held until REST finished it.
    expect(new Set(feed.arrivals.map((arrival) => arrival.lease.run!.id)).size).toBe(samples + 1);
    const median = percentile(delays, 50);
    console.log(
      `${what}: next lease ${delays.map((delay) => delay.toFixed(1)).join(", ")} ms after a REST CompleteRun (median ${median.toFixed(1)} ms, recount ${recountMs} ms)`,
    );
    expect(median).toBeLessThan(promptMs);
  });
});
