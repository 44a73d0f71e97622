/**
 * Failed attempts, run timeouts and scheduled runs: a retryable failure queues the run
 * again until its attempts are spent, a non-retryable one ends it at once; a run past
 * its timeout ends TIMED_OUT and its executor's lease is void; a scheduled run is not
 * claimable before its time. Sweeps every 100 ms here.
 */
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { RunStatus } from "../../gen/runline/v1/run_pb.js";
import { createTenant, json, type TenantFixture } from "../support/clients.js";
import { startTestServer } from "../support/test-server.js";
import type { Database } from "../../src/db/database.js";
import { createWorkflowWith, eventually, millis, rejection, sleep, workerClient } from "./worker-fixtures.js";

let baseUrl: string;
let tenant: TenantFixture;
let database: Database;

beforeAll(async () => {
  const server = await startTestServer(undefined, { RUNLINE_SWEEP_INTERVAL_MS: "100" });
  baseUrl = server.url;
  database = server.database;
  tenant = await createTenant(baseUrl);
  await createWorkflowWith(tenant, "retrying", { maxAttempts: 3, backoffMs: 100 });
  await createWorkflowWith(tenant, "patient", { maxAttempts: 3, backoffMs: 1000 });
});

/** Creates a run ("retrying" unless named); cancelled after the test if still live, so a failure cannot leak into the next test. */
async function createRun(
  options: { workflow?: string; maxAttempts?: number; timeoutMs?: number; scheduleTime?: Date } = {},
): Promise<string> {
  const { run } = await tenant.runs().createRun({
    workflow: options.workflow ?? "retrying",
    input: json({ n: 1 }),
    maxAttempts: options.maxAttempts ?? 0,
    ...(options.timeoutMs === undefined ? {} : { timeout: millis(options.timeoutMs) }),
    ...(options.scheduleTime === undefined ? {} : { scheduleTime: timestampFromMs(options.scheduleTime.getTime()) }),
  });
  onTestFinished(() =>
    tenant
      .runs()
      .cancelRun({ runId: run!.id })
      .then(
        () => undefined,
        () => undefined,
      ),
  );
  return run!.id;
}

const worker = () => workerClient(tenant, baseUrl, "grpc");

describe("failed attempts", () => {
  it("queue the run again while attempts are left, claimed with attempt + 1, and end it FAILED with the last error when they are spent", async () => {
    const runId = await createRun();
    const attempts: number[] = [];
    for (let attempt = 1; attempt <= 3; attempt++) {
      const { leases } = await worker().claimRuns({ workerId: "flaky", workflows: ["retrying"], waitTimeout: millis(3000) });
      expect(leases.map((lease) => lease.run!.id)).toEqual([runId]);
      attempts.push(leases[0]!.run!.attempt);
      const failed = await worker().failRun({
        runId,
        leaseId: leases[0]!.leaseId,
        error: { message: `boom ${attempt}`, code: "BOOM" },
        retryable: true,
      });
      expect(failed.run!.status).toBe(attempt < 3 ? RunStatus.QUEUED : RunStatus.FAILED);
    }
    expect(attempts).toEqual([1, 2, 3]);

    const { output } = await tenant.runs().getRunOutput({ runId });
    expect([output!.status, output!.done]).toEqual([RunStatus.FAILED, true]);
    expect(output!.outcome.case === "error" ? [output!.outcome.value.message, output!.outcome.value.code] : undefined).toEqual([
      "boom 3",
      "BOOM",
    ]);
    const { events } = await tenant.runs().listRunEvents({ runId });
    expect(events.map((event) => event.status)).toEqual([
      RunStatus.QUEUED,
      RunStatus.RUNNING,
      RunStatus.QUEUED,
      RunStatus.RUNNING,
      RunStatus.QUEUED,
      RunStatus.RUNNING,
      RunStatus.FAILED,
    ]);
    expect((await worker().claimRuns({ workerId: "flaky", workflows: ["retrying"] })).leases).toEqual([]);
  });

  it("wait out the backoff before the retry is claimable", async () => {
    const runId = await createRun({ workflow: "patient" });
    const first = (await worker().claimRuns({ workerId: "flaky", workflows: ["patient"], waitTimeout: millis(3000) })).leases[0]!;
    await worker().failRun({ runId, leaseId: first.leaseId, error: { message: "boom" }, retryable: true });
    // Backoff 1 s × 2^0: nothing to claim at once, then the long-poll gets it.
    expect((await worker().claimRuns({ workerId: "eager", workflows: ["patient"] })).leases).toEqual([]);
    const { leases } = await worker().claimRuns({ workerId: "patient", workflows: ["patient"], waitTimeout: millis(5000) });
    expect(leases.map((lease) => [lease.run!.id, lease.run!.attempt])).toEqual([[runId, 2]]);
    // By the server's clock: queued again at T, claimed again at T + 1 s or later.
    const { events } = await tenant.runs().listRunEvents({ runId });
    expect(events.map((event) => event.status)).toEqual([RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.QUEUED, RunStatus.RUNNING]);
    expect(timestampMs(events[3]!.createTime!) - timestampMs(events[2]!.createTime!)).toBeGreaterThanOrEqual(1000);
    await worker().completeRun({ runId, leaseId: leases[0]!.leaseId, output: json("second time lucky") });
  });

  it("end the run FAILED at once when not retryable, attempts left or not", async () => {
    const runId = await createRun();
    const { leases } = await worker().claimRuns({ workerId: "doomed", workflows: ["retrying"], waitTimeout: millis(3000) });
    const failed = await worker().failRun({
      runId,
      leaseId: leases[0]!.leaseId,
      error: { message: "bad input", code: "INVALID" },
      retryable: false,
    });
    expect([failed.run!.status, failed.run!.attempt]).toEqual([RunStatus.FAILED, 1]);
    expect(failed.run!.endTime).toBeDefined();
    const { output } = await tenant.runs().getRunOutput({ runId });
    expect(output!.outcome.case === "error" ? output!.outcome.value.code : undefined).toBe("INVALID");
  });

  it("need an error message", async () => {
    const runId = await createRun();
    const { leases } = await worker().claimRuns({ workerId: "terse", workflows: ["retrying"], waitTimeout: millis(3000) });
    const error = await rejection(worker().failRun({ runId, leaseId: leases[0]!.leaseId, error: { code: "X" } }));
    expect(error.code).toBe(Code.InvalidArgument);
    expect((await tenant.runs().getRun({ runId })).run!.status).toBe(RunStatus.RUNNING);
    await worker().completeRun({ runId, leaseId: leases[0]!.leaseId });
  });
});

describe("run timeouts", () => {
  it("end a heartbeating run TIMED_OUT with RUN_TIMEOUT, after which its lease is refused", async () => {
    const runId = await createRun({ timeoutMs: 500 });
    // A lease far longer than the timeout: only the timeout can end this run.
    const { leases } = await worker().claimRuns({
      workerId: "slow",
      workflows: ["retrying"],
      waitTimeout: millis(3000),
      leaseDuration: millis(30_000),
    });
    const lease = leases[0]!;
    const claimedAt = Date.now();
    // Keep the lease alive until the server stops accepting heartbeats (bounded).
    let refused: Code | undefined;
    while (refused === undefined && Date.now() - claimedAt < 5000) {
      await sleep(100);
      refused = await worker()
        .heartbeat({ runId, leaseId: lease.leaseId })
        .then(
          () => undefined,
          (error: unknown) => (error as { code: Code }).code,
        );
    }
    expect(refused).toBe(Code.FailedPrecondition);
    expect(Date.now() - claimedAt).toBeGreaterThanOrEqual(450);

    const { output } = await tenant.runs().getRunOutput({ runId });
    expect(output!.status).toBe(RunStatus.TIMED_OUT);
    expect(output!.outcome.case === "error" ? output!.outcome.value.code : undefined).toBe("RUN_TIMEOUT");
    const run = (await tenant.runs().getRun({ runId })).run!;
    expect(timestampMs(run.endTime!) - timestampMs(run.startTime!)).toBeGreaterThanOrEqual(500);
    for (const write of [
      () => worker().completeRun({ runId, leaseId: lease.leaseId, output: json("too late") }),
      () => worker().failRun({ runId, leaseId: lease.leaseId, error: { message: "too late" }, retryable: true }),
      () => worker().interruptRun({ runId, leaseId: lease.leaseId, reason: "too late" }),
    ]) {
      expect((await rejection(write())).code).toBe(Code.FailedPrecondition);
    }
    expect((await tenant.runs().getRun({ runId })).run!.status).toBe(RunStatus.TIMED_OUT);
  });
});

describe("scheduled runs", () => {
  it("are not claimed before their schedule time, then queued by the sweeper and claimed", async () => {
    const scheduleTime = new Date(Date.now() + 1500);
    const runId = await createRun({ scheduleTime });
    expect((await tenant.runs().getRun({ runId })).run!.status).toBe(RunStatus.SCHEDULED);
    expect((await worker().claimRuns({ workerId: "early", workflows: ["retrying"] })).leases).toEqual([]);
    expect((await worker().claimRuns({ workerId: "early", workflows: ["retrying"], waitTimeout: millis(500) })).leases).toEqual([]);

    const { leases } = await worker().claimRuns({ workerId: "on-time", workflows: ["retrying"], waitTimeout: millis(5000) });
    const claimedAt = Date.now();
    expect(leases.map((lease) => lease.run!.id)).toEqual([runId]);
    expect(claimedAt).toBeGreaterThanOrEqual(scheduleTime.getTime());
    // The sweeper's QUEUED event sits between SCHEDULED and RUNNING, at or after the time.
    const { events } = await tenant.runs().listRunEvents({ runId });
    expect(events.map((event) => [event.sequence, event.status])).toEqual([
      [1n, RunStatus.SCHEDULED],
      [2n, RunStatus.QUEUED],
      [3n, RunStatus.RUNNING],
    ]);
    expect(timestampMs(events[1]!.createTime!)).toBeGreaterThanOrEqual(scheduleTime.getTime());
    await worker().completeRun({ runId, leaseId: leases[0]!.leaseId });
  });
});

describe("late attempts", () => {
  /** Claims `runId` and moves it to `attempt` straight in the database, as if that many had failed. */
  async function claimAtAttempt(runId: string, attempt: number): Promise<string> {
    const { leases } = await worker().claimRuns({ workerId: "late", workflows: ["retrying"], waitTimeout: millis(3000) });
    expect(leases.map((lease) => lease.run!.id)).toEqual([runId]);
    await database.sql.query(`update runs set attempt = $2 where id = $1::uuid`, [runId, attempt]);
    return leases[0]!.leaseId;
  }

  async function secondsUntilReady(runId: string): Promise<number> {
    const [row] = await database.sql.query<{ seconds: number }>(
      `select extract(epoch from ready_time - now())::float8 as seconds from runs where id = $1::uuid`,
      [runId],
    );
    return row!.seconds;
  }

  // Uncapped, backoff × 2^(attempt−1) left Postgres' interval range from attempt 45 on.
  it("wait at most 24 h after a retryable FailRun, however many attempts came before", async () => {
    const runId = await createRun({ maxAttempts: 100 });
    const leaseId = await claimAtAttempt(runId, 60);
    const failed = await worker().failRun({ runId, leaseId, error: { message: "again" }, retryable: true });
    expect(failed.run!.status).toBe(RunStatus.QUEUED);
    expect(await secondsUntilReady(runId)).toBeGreaterThan(86_400 - 60);
    expect(await secondsUntilReady(runId)).toBeLessThanOrEqual(86_400);
  });

  it("wait at most 24 h after an expired lease, and the sweep goes on for every other run", async () => {
    const runId = await createRun({ maxAttempts: 100 });
    await claimAtAttempt(runId, 99);
    const other = await createRun();
    const { leases } = await worker().claimRuns({ workerId: "late", workflows: ["retrying"], waitTimeout: millis(3000) });
    expect(leases.map((lease) => lease.run!.id)).toEqual([other]);
    await database.sql.query(`update runs set lease_expire_time = now() - interval '1 second' where id = any($1::uuid[])`, [
      [runId, other],
    ]);
    await eventually(5000, "both expired leases swept", async () => {
      const { run } = await tenant.runs().getRun({ runId: other });
      return run!.status === RunStatus.QUEUED ? true : undefined;
    });
    expect((await tenant.runs().getRun({ runId })).run!.status).toBe(RunStatus.QUEUED);
    expect(await secondsUntilReady(runId)).toBeGreaterThan(86_400 - 60);
    expect(await secondsUntilReady(runId)).toBeLessThanOrEqual(86_400);
  });
});
