/**
 * Interrupts: an executor pauses a run to wait for a person (InterruptRun), a caller
 * answers with input matching the interrupt's resume schema (ResumeRun), and the next
 * executor to claim the run gets that input and the run's history.
 */
import { Code } from "@connectrpc/connect";
import { beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { BadRequestSchema } from "../../gen/google/rpc/error_details_pb.js";
import { RunStatus } from "../../gen/runline/v1/run_pb.js";
import { createTenant, json, protocols, type TenantFixture } from "../support/clients.js";
import { startTestServer } from "../support/test-server.js";
import { createWorkflowWith, millis, plain, rejection, workerClient } from "./worker-fixtures.js";

let baseUrl: string;
let tenant: TenantFixture;

beforeAll(async () => {
  const server = await startTestServer();
  baseUrl = server.url;
  tenant = await createTenant(baseUrl);
  await createWorkflowWith(tenant, "approval");
});

/** Cleanup: a failed test must not leave a claimable run to the next one. */
async function cancelIfLive(runId: string): Promise<void> {
  await tenant
    .runs()
    .cancelRun({ runId })
    .catch(() => undefined);
}

const approvalSchema = { type: "object", properties: { approved: { type: "boolean" } }, required: ["approved"] };

/** A run of "approval", claimed under a 30 s lease; cancelled after the test if still live. */
async function runningRun(worker: ReturnType<typeof workerClient>): Promise<{ runId: string; leaseId: string }> {
  const { run } = await tenant.runs().createRun({ workflow: "approval", input: json({ n: 1 }) });
  onTestFinished(() => cancelIfLive(run!.id));
  const { leases } = await worker.claimRuns({ workerId: "executor", workflows: ["approval"], waitTimeout: millis(2000) });
  expect(leases.map((lease) => lease.run!.id)).toEqual([run!.id]);
  return { runId: run!.id, leaseId: leases[0]!.leaseId };
}

describe.each(protocols)("interrupts over %s", (protocol) => {
  it("pause a run as INTERRUPTED, resume it once with valid input, and hand the input and history to the next claim", async () => {
    const worker = workerClient(tenant, baseUrl, protocol);
    const runs = tenant.runs(protocol);
    const { runId, leaseId } = await runningRun(worker);
    await runs.ingestRunEvents({ runId, events: [{ type: "step", data: json({ done: "fetch invoice" }) }] });

    const paused = await worker.interruptRun({
      runId,
      leaseId,
      reason: "needs approval",
      payload: json({ amount: 100 }),
      resumeSchema: json(approvalSchema),
    });
    expect(paused.run!.status).toBe(RunStatus.INTERRUPTED);
    const interruptId = paused.interrupt!.id;
    expect(interruptId).not.toBe("");

    const { output } = await runs.getRunOutput({ runId });
    expect([output!.status, output!.done, output!.outcome.case]).toEqual([RunStatus.INTERRUPTED, true, "interrupt"]);
    const interrupt = output!.outcome.case === "interrupt" ? output!.outcome.value : undefined;
    expect(interrupt!.id).toBe(interruptId);
    expect(interrupt!.reason).toBe("needs approval");
    expect(plain(interrupt!.payload)).toEqual({ amount: 100 });
    expect(plain(interrupt!.resumeSchema)).toEqual(approvalSchema);
    // The lease ended with the interrupt.
    expect((await rejection(worker.heartbeat({ runId, leaseId }))).code).toBe(Code.FailedPrecondition);

    const bad = await rejection(runs.resumeRun({ runId, interruptId, input: json({ approved: "yes" }) }));
    expect(bad.code).toBe(Code.InvalidArgument);
    expect(bad.findDetails(BadRequestSchema)[0]!.fieldViolations.map((violation) => violation.field)).toContain("input.approved");
    const missing = await rejection(runs.resumeRun({ runId, interruptId, input: json({}) }));
    expect(missing.code).toBe(Code.InvalidArgument);
    expect((await runs.getRun({ runId })).run!.status).toBe(RunStatus.INTERRUPTED);

    const resumed = await runs.resumeRun({ runId, interruptId, input: json({ approved: true }) });
    expect(resumed.run!.status).toBe(RunStatus.QUEUED);
    const again = await runs.resumeRun({ runId, interruptId, input: json({ approved: false }) });
    expect(again.run!.id).toBe(runId);
    expect(again.run!.lastSequence).toBe(resumed.run!.lastSequence);
    const { events } = await runs.listRunEvents({ runId });
    expect(events.map((event) => (event.type === "status" ? event.status : event.type))).toEqual([
      RunStatus.QUEUED,
      RunStatus.RUNNING,
      "step",
      RunStatus.INTERRUPTED,
      RunStatus.QUEUED,
    ]);

    const { leases } = await worker.claimRuns({ workerId: "second-executor", workflows: ["approval"], waitTimeout: millis(2000) });
    expect(leases).toHaveLength(1);
    const lease = leases[0]!;
    expect(lease.run!.id).toBe(runId);
    expect(plain(lease.resumeInput)).toEqual({ approved: true });
    // Resuming continues the interrupted attempt rather than spending a retry.
    expect(lease.run!.attempt).toBe(1);
    // The whole log, oldest first, up to and including this claim's RUNNING event.
    expect(lease.history.map((event) => event.sequence)).toEqual([...events.map((event) => event.sequence), 6n]);
    expect(lease.history.at(-1)!.status).toBe(RunStatus.RUNNING);
    const interruptEvent = lease.history.find((event) => event.status === RunStatus.INTERRUPTED);
    expect(plain(interruptEvent!.data)).toEqual({ interruptId, reason: "needs approval" });
    expect(plain(lease.history.find((event) => event.type === "step")!.data)).toEqual({ done: "fetch invoice" });
    await worker.completeRun({ runId, leaseId: lease.leaseId, output: json({ paid: true }) });
  });

  it("refuses an interrupt whose resume schema is not a valid JSON Schema, and leaves the run RUNNING", async () => {
    const worker = workerClient(tenant, baseUrl, protocol);
    const { runId, leaseId } = await runningRun(worker);
    const error = await rejection(
      worker.interruptRun({ runId, leaseId, reason: "needs approval", resumeSchema: json({ type: "not-a-type" }) }),
    );
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.findDetails(BadRequestSchema)[0]!.fieldViolations[0]!.field).toMatch(/^resumeSchema/);
    expect((await tenant.runs(protocol).getRun({ runId })).run!.status).toBe(RunStatus.RUNNING);
    await worker.completeRun({ runId, leaseId });
  });
});

it("claims a run that was never interrupted without resume input or history", async () => {
  const worker = workerClient(tenant, baseUrl);
  const { run } = await tenant.runs().createRun({ workflow: "approval", input: json({ n: 2 }) });
  onTestFinished(() => cancelIfLive(run!.id));
  const { leases } = await worker.claimRuns({ workerId: "executor", workflows: ["approval"], waitTimeout: millis(2000) });
  expect(leases.map((lease) => lease.run!.id)).toEqual([run!.id]);
  expect(leases[0]!.resumeInput).toBeUndefined();
  expect(leases[0]!.history).toEqual([]);
  await worker.completeRun({ runId: run!.id, leaseId: leases[0]!.leaseId });
});
