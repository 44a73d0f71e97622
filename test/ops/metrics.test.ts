/**
 * /metrics: a Prometheus scrape whose series move with the traffic, with one vocabulary
 * for codes and no family that sums to nonsense.
 */
import { Code } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import { beforeAll, describe, expect, it } from "vitest";
import { WorkerService } from "../../gen/runline/v1/worker_service_pb.js";
import { clientFor, createCounterWorkflow, createTenant, json, protocols, type TenantFixture } from "../support/clients.js";
import { labelValues, sample, scrape as scrapeMetrics, total } from "../support/metrics-scrape.js";
import { startTestServer } from "../support/test-server.js";

let baseUrl: string;
let tenant: TenantFixture;

beforeAll(async () => {
  const server = await startTestServer(undefined, { RUNLINE_SWEEP_INTERVAL_MS: "100" });
  baseUrl = server.url;
  tenant = await createTenant(baseUrl);
  await createCounterWorkflow(tenant);
});

const scrape = () => scrapeMetrics(baseUrl);

describe("/metrics", () => {
  it("counts RPCs by procedure and code and times them", async () => {
    const before = await scrape();
    const base = sample(before, "runline_rpc_requests_total", { procedure: "/runline.v1.RunsService/CreateRun", code: "ok" }) ?? 0;
    for (let i = 0; i < 3; i++) await tenant.runs().createRun({ workflow: "counter", input: json({ n: i }) });
    await tenant
      .runs()
      .getRun({ runId: "00000000-0000-7000-8000-000000000000" })
      .catch(() => undefined);
    const after = await scrape();
    expect(sample(after, "runline_rpc_requests_total", { procedure: "/runline.v1.RunsService/CreateRun", code: "ok" })).toBe(base + 3);
    expect(
      sample(after, "runline_rpc_requests_total", { procedure: "/runline.v1.RunsService/GetRun", code: "not_found" }),
    ).toBeGreaterThanOrEqual(1);
    expect(sample(after, "runline_rpc_duration_seconds_count", { procedure: "/runline.v1.RunsService/CreateRun", code: "ok" })).toBe(
      base + 3,
    );
  });

  it("names every code in one vocabulary, Connect's: ok, not_found, unauthenticated, invalid_argument", async () => {
    for (const protocol of protocols) {
      await tenant
        .runs(protocol)
        .getRun({ runId: "00000000-0000-7000-8000-000000000000" })
        .catch(() => undefined);
      await clientFor(WorkerService, protocol, baseUrl, "rl_wrong-key")
        .heartbeat({})
        .catch(() => undefined);
      await tenant
        .runs(protocol)
        .listRuns({ pageSize: -1 })
        .catch(() => undefined);
    }
    const text = await scrape();
    const connectNames = [
      "ok",
      ...Object.values(Code)
        .filter((code) => typeof code === "number")
        .map((code) => codeToString(code)),
    ];
    for (const family of ["runline_rpc_requests_total", "runline_rpc_duration_seconds_count"]) {
      const codes = [...labelValues(text, family, "code")];
      expect(codes).toEqual(expect.arrayContaining(["ok", "not_found", "unauthenticated", "invalid_argument"]));
      expect(codes.filter((code) => !connectNames.includes(code))).toEqual([]);
    }
  });

  it("exports Node's active handles, requests and resources by type, without `_total` gauges", async () => {
    const text = await scrape();
    expect(text).toContain("# TYPE runline_nodejs_active_handles gauge");
    expect(total(text, "runline_nodejs_active_handles")).toBeGreaterThan(0);
    expect(total(text, "runline_nodejs_active_resources")).toBeGreaterThan(0);
    const gaugesNamedLikeCounters = [...text.matchAll(/^# TYPE (\w+_total) (?!counter)\w+$/gm)].map((match) => match[1]);
    expect(gaugesNamedLikeCounters).toEqual([]);
  });

  it("reports runs by status, queue depth and oldest age per workflow", async () => {
    const text = await scrape();
    expect(sample(text, "runline_runs", { status: "QUEUED" })).toBeGreaterThanOrEqual(3);
    expect(sample(text, "runline_queue_depth", { tenant: tenant.slug, workflow: "counter" })).toBeGreaterThanOrEqual(3);
    expect(sample(text, "runline_queue_oldest_age_seconds", { tenant: tenant.slug, workflow: "counter" })).toBeGreaterThanOrEqual(0);
    expect(sample(text, "runline_db_pool_max_connections")).toBe(10);
    expect(sample(text, "runline_db_pool_connections", { state: "in_use" })).toBeGreaterThanOrEqual(0);
    // The limit is not a state: summing the family counts connections only.
    expect(sample(text, "runline_db_pool_connections", { state: "max" })).toBeUndefined();
  });

  it("counts open streams while they are open", async () => {
    const { run } = await tenant.runs().createRun({ workflow: "counter", input: json({ n: 1 }) });
    const stream = tenant.runs("grpc").streamRunEvents({ runId: run!.id });
    const iterator = stream[Symbol.asyncIterator]();
    await iterator.next();
    expect(sample(await scrape(), "runline_active_streams", { procedure: "/runline.v1.RunsService/StreamRunEvents" })).toBe(1);
    await tenant.runs().cancelRun({ runId: run!.id });
    while (!(await iterator.next()).done);
    expect(sample(await scrape(), "runline_active_streams", { procedure: "/runline.v1.RunsService/StreamRunEvents" })).toBe(0);
  });

  it("counts lease expiries", async () => {
    const workers = clientFor(WorkerService, "grpc", baseUrl, tenant.key);
    const before = sample(await scrape(), "runline_lease_expiries_total") ?? 0;
    await tenant.runs().createRun({ workflow: "counter", input: json({ n: 9 }), maxAttempts: 2 });
    const { leases } = await workers.claimRuns({
      workerId: "metrics-test",
      workflows: ["counter"],
      leaseDuration: { seconds: 0n, nanos: 200_000_000 },
    });
    expect(leases).toHaveLength(1);
    let expired = before;
    for (let i = 0; i < 40 && expired === before; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      expired = sample(await scrape(), "runline_lease_expiries_total") ?? 0;
    }
    expect(expired).toBe(before + 1);
  });
});
