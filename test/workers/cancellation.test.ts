/**
 * Cancelling a run an executor holds: CancelRun makes it CANCELLING, the executor learns
 * it on its next heartbeat and stops (its CompleteRun or FailRun then ends the run
 * CANCELLED), and an executor that never acknowledges is cut off when the grace period
 * ends. Grace 1.5 s and sweeps every 100 ms here.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { beforeAll, describe, expect, it } from "vitest";
import { RunStatus } from "../../gen/runline/v1/run_pb.js";
import { createTenant, json, type TenantFixture } from "../support/clients.js";
import { startTestServer } from "../support/test-server.js";
import { createWorkflowWith, millis, plain, rejection, within, workerClient } from "./worker-fixtures.js";

const graceMs = 1500;
let baseUrl: string;
let tenant: TenantFixture;

beforeAll(async () => {
  const server = await startTestServer(undefined, { RUNLINE_SWEEP_INTERVAL_MS: "100", RUNLINE_CANCEL_GRACE_MS: String(graceMs) });
  baseUrl = server.url;
  tenant = await createTenant(baseUrl);
  await createWorkflowWith(tenant, "cancellable");
});

/** A run of "cancellable", claimed under a 30 s lease. */
async function runningRun(): Promise<{ runId: string; leaseId: string }> {
  const { run } = await tenant.runs().createRun({ workflow: "cancellable", input: json({ n: 1 }) });
  const { leases } = await workerClient(tenant, baseUrl).claimRuns({
    workerId: "executor",
    workflows: ["cancellable"],
    waitTimeout: millis(2000),
  });
  expect(leases.map((lease) => lease.run!.id)).toEqual([run!.id]);
  return { runId: run!.id, leaseId: leases[0]!.leaseId };
}

async function statusesOf(runId: string): Promise<RunStatus[]> {
  const { events } = await tenant.runs().listRunEvents({ runId });
  return events.map((event) => event.status!);
}

describe("cancelling a RUNNING run", () => {
  it("makes it CANCELLING; the next heartbeat asks the executor to stop; its CompleteRun ends the run CANCELLED, not SUCCEEDED", async () => {
    const worker = workerClient(tenant, baseUrl, "grpc");
    const runs = tenant.runs();
    const { runId, leaseId } = await runningRun();
    expect((await worker.heartbeat({ runId, leaseId })).cancelRequested).toBe(false);

    const cancelled = await runs.cancelRun({ runId, reason: "changed my mind" });
    expect(cancelled.run!.status).toBe(RunStatus.CANCELLING);
    expect(cancelled.run!.endTime).toBeUndefined();
    expect((await worker.heartbeat({ runId, leaseId })).cancelRequested).toBe(true);

    const completed = await worker.completeRun({ runId, leaseId, output: json("finished anyway") });
    expect(completed.run!.status).toBe(RunStatus.CANCELLED);
    expect(completed.run!.endTime).toBeDefined();
    const { output } = await runs.getRunOutput({ runId });
    expect([output!.status, output!.done, output!.outcome.case]).toEqual([RunStatus.CANCELLED, true, undefined]);
    expect(await statusesOf(runId)).toEqual([RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.CANCELLING, RunStatus.CANCELLED]);
    // The lease ended with the run.
    expect((await rejection(worker.heartbeat({ runId, leaseId }))).code).toBe(Code.FailedPrecondition);
  });

  it("ends it CANCELLED when the executor acknowledges with FailRun, whatever it says about retrying", async () => {
    const worker = workerClient(tenant, baseUrl);
    const { runId, leaseId } = await runningRun();
    await tenant.runs().cancelRun({ runId });
    const failed = await worker.failRun({ runId, leaseId, error: { message: "stopped", code: "STOPPED" }, retryable: true });
    expect(failed.run!.status).toBe(RunStatus.CANCELLED);
  });

  it("refuses to interrupt a CANCELLING run: the executor must stop instead", async () => {
    const worker = workerClient(tenant, baseUrl);
    const { runId, leaseId } = await runningRun();
    await tenant.runs().cancelRun({ runId });
    const error = await rejection(worker.interruptRun({ runId, leaseId, reason: "ask a human", resumeSchema: json({ type: "object" }) }));
    expect(error.code).toBe(Code.FailedPrecondition);
    expect((await tenant.runs().getRun({ runId })).run!.status).toBe(RunStatus.CANCELLING);
    await worker.completeRun({ runId, leaseId });
  });

  it("ends it CANCELLED when the grace period runs out without an acknowledgement, and refuses the executor's late writes", async () => {
    const worker = workerClient(tenant, baseUrl);
    const runs = tenant.runs();
    const { runId, leaseId } = await runningRun();
    const cancelledAt = Date.now();
    await runs.cancelRun({ runId });

    const { output } = await runs.getRunOutput({ runId, blockTimeout: millis(graceMs + 4000) });
    const took = Date.now() - cancelledAt;
    expect(output!.status).toBe(RunStatus.CANCELLED);
    expect(took).toBeGreaterThanOrEqual(graceMs - 50);
    expect(took).toBeLessThan(graceMs + 3000);
    const { events } = await runs.listRunEvents({ runId });
    expect(plain(events.at(-1)!.data)).toEqual({ reason: "cancel_grace_period_ended" });
    const late = await rejection(worker.completeRun({ runId, leaseId, output: json("too late") }));
    expect(late.code).toBe(Code.FailedPrecondition);
    expect((await runs.getRun({ runId })).run!.status).toBe(RunStatus.CANCELLED);
  });

  it("ends a stream on the run after its CANCELLED event", async () => {
    const runs = tenant.runs("grpc");
    const { runId } = await runningRun();
    const seen: RunStatus[] = [];
    let cancelling: Promise<unknown> | undefined;
    const reading = (async () => {
      for await (const message of runs.streamRunEvents({ runId }, { signal: AbortSignal.timeout(graceMs + 5000) })) {
        seen.push(...message.events.map((event) => event.status!));
        // Cancel once the stream is known to be open and caught up.
        cancelling ??= runs.cancelRun({ runId });
      }
    })();
    await within(graceMs + 6000, "stream end", reading).catch((error: unknown) => {
      throw error instanceof ConnectError && error.code === Code.Canceled
        ? new Error(`stream still open after ${seen.map((s) => RunStatus[s]).join(", ")}`)
        : error;
    });
    await cancelling;
    expect(seen).toEqual([RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.CANCELLING, RunStatus.CANCELLED]);
  });
});
