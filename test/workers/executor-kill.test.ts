/**
 * An executor that dies holding leases (kill -9: its kernel sends the FIN) or freezes
 * (SIGSTOP: no FIN, no answers). Its Work session must end on the server, so nothing is
 * claimed in its name again; its leases expire; live executors take the runs over with
 * one attempt lost each, the one the dead executor was on. Every claim is a RUNNING
 * status event carrying `{attempt, workerId}`, so the database tells who claimed what.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { createWorker, type Worker } from "../../src/sdk/create-worker.js";
import type { Database } from "../../src/db/database.js";
import { createTenant, type TenantFixture } from "../support/clients.js";
import { eventually, sleep } from "../support/expectations.js";
import { startPeer, type PeerProcess } from "../support/peer-processes.js";
import { streamsReach } from "../support/stream-gauge.js";
import { startTestServer } from "../support/test-server.js";
import { createWorkflowWith } from "./worker-fixtures.js";

const work = "/runline.v1.WorkerService/Work";
const leaseMs = 2_000;
const backoffMs = 200;
const sweepMs = 100;

let url: string;
let database: Database;
let tenant: TenantFixture;

beforeAll(async () => {
  const server = await startTestServer(undefined, {
    RUNLINE_SWEEP_INTERVAL_MS: String(sweepMs),
    RUNLINE_KEEPALIVE_INTERVAL_MS: "500",
    RUNLINE_KEEPALIVE_TIMEOUT_MS: "500",
  });
  ({ url, database } = server);
  tenant = await createTenant(url);
});

interface Claim {
  runId: string;
  attempt: number;
  workerId: string;
}

/** Every claim of `runIds`, in order: the RUNNING status events. */
async function claimsOf(runIds: readonly string[]): Promise<Claim[]> {
  return database.sql.query<Claim>(
    `select run_id as "runId", (data->>'attempt')::int as attempt, data->>'workerId' as "workerId"
       from run_events where tenant_id = $1::uuid and run_id = any($2::uuid[]) and type = 'status' and status = 'RUNNING'
      order by run_id, sequence`,
    [tenant.tenantId, runIds],
  );
}

async function statusesOf(runIds: readonly string[]): Promise<string[]> {
  const rows = await database.sql.query<{ status: string }>(`select status from runs where tenant_id = $1::uuid and id = any($2::uuid[])`, [
    tenant.tenantId,
    runIds,
  ]);
  return rows.map((row) => row.status);
}

async function createRuns(workflow: string, count: number): Promise<string[]> {
  const runs = tenant.runs();
  const created = await Promise.all(
    Array.from({ length: count }, (_, n) =>
      runs.createRun({
        workflow,
        input: { kind: { case: "structValue", value: { fields: { n: { kind: { case: "numberValue", value: n } } } } } },
      }),
    ),
  );
  return created.map(({ run }) => run!.id);
}

/** An executor process holding `concurrency` runs of `workflow` with handlers that never end. */
async function startGhost(workflow: string, workerId: string, concurrency: number): Promise<PeerProcess> {
  return startPeer("executor-peer.ts", [url, tenant.key, workflow, workerId, String(concurrency), String(leaseMs)]);
}

/** An in-process executor that completes every run at once. */
function startLiveExecutor(workflow: string, workerId: string): Worker {
  return createWorker({
    server: url,
    apiKey: tenant.key,
    workflows: [workflow],
    workerId,
    concurrency: 8,
    leaseMs,
    handler: async () => ({ done: true }),
  });
}

/** Each run's claims must be exactly: attempt 1 by the ghost, attempt 2 by the live executor. */
function expectOneAttemptLost(claims: readonly Claim[], runIds: readonly string[], ghost: string, live: string): void {
  for (const runId of runIds) {
    expect(claims.filter((claim) => claim.runId === runId).map(({ attempt, workerId }) => ({ attempt, workerId }))).toEqual([
      { attempt: 1, workerId: ghost },
      { attempt: 2, workerId: live },
    ]);
  }
}

describe("an executor killed with kill -9 while holding 5 leases", () => {
  it("ends its Work session, claims nothing more in its name, and its runs lose one attempt each", async () => {
    const workflow = "killed-executor";
    await createWorkflowWith(tenant, workflow, { maxAttempts: 3, backoffMs });
    const ghost = await startGhost(workflow, "ghost-killed", 5);
    const runIds = await createRuns(workflow, 5);
    await eventually(10_000, "5 leases held", async () =>
      ghost.lines().filter((line) => line.startsWith("holding ")).length === 5 ? true : undefined,
    );
    expect(await statusesOf(runIds)).toEqual(Array(5).fill("RUNNING"));

    const killedAt = performance.now();
    await ghost.kill();
    const sessionEndedMs = await streamsReach(url, work, 0, 2_000);
    // No executor at all now: once the leases expire the runs must wait in the queue.
    // A session left open in the dead executor's name would claim them again here.
    await eventually(leaseMs + 2_000, "leases expired", async () =>
      (await statusesOf(runIds)).every((status) => status === "QUEUED") ? true : undefined,
    );
    const expiredMs = performance.now() - killedAt;
    await sleep(backoffMs + 1_000);
    expect(await statusesOf(runIds)).toEqual(Array(5).fill("QUEUED"));
    expect((await claimsOf(runIds)).map((claim) => claim.workerId)).toEqual(Array(5).fill("ghost-killed"));

    const liveSince = performance.now();
    const live = startLiveExecutor(workflow, "live-after-kill");
    try {
      await eventually(5_000, "runs done", async () =>
        (await statusesOf(runIds)).every((status) => status === "SUCCEEDED") ? true : undefined,
      );
      const takenOverMs = performance.now() - liveSince;
      expectOneAttemptLost(await claimsOf(runIds), runIds, "ghost-killed", "live-after-kill");
      console.log(
        `kill -9 with 5 leases: Work session ended ${sessionEndedMs.toFixed(0)} ms after the kill; leases expired ${expiredMs.toFixed(0)} ms after it (lease ${leaseMs} ms); no claim in the dead executor's name; a live executor finished all 5 within ${takenOverMs.toFixed(0)} ms, attempt 2 each`,
      );
    } finally {
      await live.stop({ graceMs: 1_000 });
    }
  });
});

describe("an executor frozen with SIGSTOP while holding 5 leases (no FIN)", () => {
  it("ends its Work session within the keepalive timeout; a live executor takes the runs within lease + backoff", async () => {
    const workflow = "frozen-executor";
    await createWorkflowWith(tenant, workflow, { maxAttempts: 3, backoffMs });
    const ghost = await startGhost(workflow, "ghost-frozen", 5);
    const runIds = await createRuns(workflow, 5);
    await eventually(10_000, "5 leases held", async () =>
      ghost.lines().filter((line) => line.startsWith("holding ")).length === 5 ? true : undefined,
    );
    // The live executor is there from the start, so it competes for every re-claim with
    // a session left open in the frozen executor's name, if there were one.
    const live = startLiveExecutor(workflow, "live-beside-frozen");
    try {
      await streamsReach(url, work, 2, 5_000);
      const frozenAt = performance.now();
      process.kill(ghost.pid, "SIGSTOP");
      const sessionEndedMs = await streamsReach(url, work, 1, 4_000);
      await eventually(leaseMs + backoffMs + 3_000, "runs done", async () =>
        (await statusesOf(runIds)).every((status) => status === "SUCCEEDED") ? true : undefined,
      );
      const doneMs = performance.now() - frozenAt;
      expectOneAttemptLost(await claimsOf(runIds), runIds, "ghost-frozen", "live-beside-frozen");
      // Keepalive 500 ms + 500 ms: about 1 s, plus timer and scrape slack.
      expect(sessionEndedMs).toBeLessThan(2_500);
      // The last heartbeat came at most lease/3 before the freeze; then lease, sweep, backoff.
      expect(doneMs).toBeLessThan(leaseMs + sweepMs + backoffMs + 1_500);
      console.log(
        `SIGSTOP with 5 leases: Work session ended ${sessionEndedMs.toFixed(0)} ms after the freeze (keepalive 500 + 500 ms); a live executor finished all 5 runs ${doneMs.toFixed(0)} ms after it (lease ${leaseMs} + backoff ${backoffMs} ms), attempt 2 each`,
      );
    } finally {
      await live.stop({ graceMs: 1_000 });
      process.kill(ghost.pid, "SIGCONT");
      await ghost.kill();
    }
  });
});

describe("shutdown after executors died or froze holding leases", () => {
  it("takes far less than the 10 s grace period", async () => {
    const server = await startTestServer(undefined, { RUNLINE_SHUTDOWN_GRACE_MS: "10000", RUNLINE_KEEPALIVE_TIMEOUT_MS: "500" });
    const own = await createTenant(server.url);
    const workflow = "shutdown-after-ghosts";
    await createWorkflowWith(own, workflow, { maxAttempts: 3 });
    const ghosts = await Promise.all(
      ["ghost-dead", "ghost-stopped"].map((workerId) =>
        startPeer("executor-peer.ts", [server.url, own.key, workflow, workerId, "2", String(leaseMs)]),
      ),
    );
    const runs = own.runs();
    await Promise.all(
      Array.from({ length: 4 }, () =>
        runs.createRun({
          workflow,
          input: { kind: { case: "structValue", value: { fields: { n: { kind: { case: "numberValue", value: 1 } } } } } },
        }),
      ),
    );
    await eventually(10_000, "4 leases held", async () =>
      ghosts.flatMap((ghost) => ghost.lines()).filter((line) => line.startsWith("holding ")).length === 4 ? true : undefined,
    );
    const [dead, stopped] = ghosts as [PeerProcess, PeerProcess];
    await dead.kill();
    process.kill(stopped.pid, "SIGSTOP");
    try {
      const started = performance.now();
      await server.close();
      const closeMs = performance.now() - started;
      expect(closeMs).toBeLessThan(3_000);
      console.log(
        `shutdown after one executor was killed and one frozen, each holding 2 leases: ${closeMs.toFixed(0)} ms (grace 10000 ms, keepalive timeout 500 ms)`,
      );
    } finally {
      process.kill(stopped.pid, "SIGCONT");
      await stopped.kill();
    }
  });
});
