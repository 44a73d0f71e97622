/**
 * A lease claimed just as its executor's transport dies is handed back, not left to
 * expire. A claim commits before its lease message is built, and building the message of
 * a resumed run first reads the run's history. If the executor leaves in between, nobody
 * will ever receive that lease: it must go back to the queue at once (ReleaseRun's
 * statement, the attempt not counted), not expire under nobody (the run waits out the
 * lease and loses an attempt). Holds for WorkerService.Work and StreamAssignments.
 *
 * The window is opened for certain, without timing: the server's statement pool (4
 * connections here) is taken by 4 heartbeats of a run whose row the test keeps locked,
 * so the history read waits for a connection while the claim itself, on the workers'
 * own pool, goes through. The executor leaves; then the test lets go of the lock.
 */
import { createClient, type Transport } from "@connectrpc/connect";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Health } from "../../gen/health/v1/health_pb.js";
import { RunStatus } from "../../gen/runline/v1/run_pb.js";
import { WorkerService, type Lease } from "../../gen/runline/v1/worker_service_pb.js";
import { createTenant, h2ConnectTransport, json, type TenantFixture } from "../support/clients.js";
import { startTestServer } from "../support/test-server.js";
import { createWorkflowWith, eventually, millis, plain, within, workerClient } from "./worker-fixtures.js";

const statementPool = 4;

let baseUrl: string;
let database: pg.Client;
let locker: pg.Client;
let databaseName: string;

beforeAll(async () => {
  const server = await startTestServer(undefined, { RUNLINE_DB_POOL_SIZE: String(statementPool) });
  baseUrl = server.url;
  databaseName = new URL(server.databaseUrl).pathname.slice(1);
  database = new pg.Client({ connectionString: server.databaseUrl });
  locker = new pg.Client({ connectionString: server.databaseUrl });
  await Promise.all([database.connect(), locker.connect()]);
});

afterAll(() => Promise.all([database.end(), locker.end()]));

/** An HTTP/2 transport as executors use (Connect binary over h2c). */
function h2Transport(tenant: TenantFixture): Transport {
  return h2ConnectTransport(baseUrl, tenant.key);
}

async function stored(runId: string): Promise<{ status: string; attempt: number; worker_id: string | null }> {
  const { rows } = await database.query<{ status: string; attempt: number; worker_id: string | null }>(
    "select status, attempt, worker_id from runs where id = $1",
    [runId],
  );
  return rows[0]!;
}

/**
 * A tenant whose workflow `w` has a resumed run (QUEUED after an interrupt, so its lease
 * message carries its history) held back from claims by its ready_time, an ordinary run
 * ready now, and a run of workflow `blocker` leased to someone else (the heartbeats' target).
 */
async function scene() {
  const tenant = await createTenant(baseUrl);
  await createWorkflowWith(tenant, "w");
  await createWorkflowWith(tenant, "blocker");
  const worker = workerClient(tenant, baseUrl);
  const runs = tenant.runs();
  const resumedId = (await runs.createRun({ workflow: "w", input: json({ n: 1 }) })).run!.id;
  const [first] = (await worker.claimRuns({ workerId: "first", workflows: ["w"] })).leases;
  const { interrupt } = await worker.interruptRun({ runId: resumedId, leaseId: first!.leaseId, reason: "approval" });
  expect((await runs.resumeRun({ runId: resumedId, interruptId: interrupt!.id, input: json({ approved: true }) })).run!.status).toBe(
    RunStatus.QUEUED,
  );
  await database.query("update runs set ready_time = now() + interval '1 hour' where id = $1", [resumedId]);
  const ordinaryId = (await runs.createRun({ workflow: "w", input: json({ n: 2 }) })).run!.id;
  await runs.createRun({ workflow: "blocker", input: json({ n: 3 }) });
  const [blocker] = (await worker.claimRuns({ workerId: "holder", workflows: ["blocker"], leaseDuration: millis(60_000) })).leases;
  return { tenant, worker, resumedId, ordinaryId, blocker: blocker! };
}

/**
 * Takes every connection of the server's statement pool until `release` is called:
 * heartbeats of `blocker`, whose row this test holds locked.
 */
async function starveStatementPool(worker: ReturnType<typeof workerClient>, blocker: Lease): Promise<{ release: () => Promise<void> }> {
  await locker.query("begin");
  await locker.query("select 1 from runs where id = $1 for update", [blocker.run!.id]);
  const beats = Array.from({ length: statementPool }, () => worker.heartbeat({ runId: blocker.run!.id, leaseId: blocker.leaseId }));
  await eventually(10_000, `${statementPool} statements waiting on the locked row`, async () => {
    const { rows } = await database.query<{ waiting: number }>(
      "select count(*)::int as waiting from pg_stat_activity where datname = $1 and wait_event_type = 'Lock'",
      [databaseName],
    );
    return rows[0]!.waiting >= statementPool ? true : undefined;
  });
  return {
    async release() {
      await locker.query("rollback");
      await Promise.all(beats);
    },
  };
}

/**
 * The common course: `open` starts the executor's call (receiving the ordinary run
 * proves its claim loop is running); the pool is starved; the resumed run becomes ready
 * and is claimed; the executor leaves (`leave`); the pool is given back. Returns the
 * resumed run's attempt under the lost claim.
 */
async function claimAsExecutorLeaves(workerId: string, open: (tenant: TenantFixture, received: Lease[]) => { leave: () => Promise<void> }) {
  const { tenant, worker, resumedId, ordinaryId, blocker } = await scene();
  const received: Lease[] = [];
  const call = open(tenant, received);
  await eventually(10_000, "the ordinary run pushed", async () => (received.length === 1 ? true : undefined));
  expect(received[0]!.run!.id).toBe(ordinaryId);

  const pool = await starveStatementPool(worker, blocker);
  await database.query("update runs set ready_time = now() where id = $1", [resumedId]);
  const claimed = await eventually(10_000, "the resumed run claimed for the executor", async () => {
    const run = await stored(resumedId);
    return run.status === "RUNNING" && run.worker_id === workerId ? run : undefined;
  });
  await call.leave();
  await pool.release();
  return { tenant, worker, resumedId, ordinaryId, claimed, received };
}

/** The executor's HTTP/2 connection has carried a later call, so the server has read the reset before it. */
async function afterServerSawTheReset(transport: Transport): Promise<void> {
  await createClient(Health, transport).check({});
}

async function expectHandedBack(result: Awaited<ReturnType<typeof claimAsExecutorLeaves>>): Promise<void> {
  const { tenant, worker, resumedId, ordinaryId, claimed, received } = result;
  // Lease 60 s: only a hand-back brings the run back this soon.
  await eventually(
    10_000,
    "the resumed run QUEUED again",
    async () => ((await stored(resumedId)).status === "QUEUED" ? true : undefined),
    50,
  );
  expect(received.map((lease) => lease.run!.id)).toEqual([ordinaryId]);
  const { events } = await tenant.runs().listRunEvents({ runId: resumedId });
  expect(plain(events.at(-1)!.data)).toMatchObject({ reason: "released" });
  // The attempt did not count: the next claim gets the same attempt number, with the history.
  const { leases } = await worker.claimRuns({ workerId: "next", workflows: ["w"] });
  expect(leases.map((lease) => [lease.run!.id, lease.run!.attempt])).toEqual([[resumedId, claimed.attempt]]);
  expect(leases[0]!.history.length).toBeGreaterThan(0);
  // The lease that was pushed is untouched.
  expect((await stored(ordinaryId)).status).toBe("RUNNING");
}

describe("a lease claimed as the executor leaves", () => {
  it("on a Work session, is handed back once its message is built, not left to expire", { timeout: 40_000 }, async () => {
    const result = await claimAsExecutorLeaves("work-executor", (tenant, received) => {
      const transport = h2Transport(tenant);
      const cancel = new AbortController();
      async function* requests() {
        yield {
          kind: {
            case: "open" as const,
            value: { workerId: "work-executor", workflows: ["w"], maxRuns: 2, leaseDuration: millis(60_000) },
          },
        };
        await new Promise((resolve) => cancel.signal.addEventListener("abort", resolve, { once: true }));
      }
      const ended = (async () => {
        for await (const response of createClient(WorkerService, transport).work(requests(), { signal: cancel.signal })) {
          if (response.kind.case === "assigned") received.push(...response.kind.value.leases);
        }
      })().catch((error: unknown) => error);
      return {
        async leave() {
          cancel.abort();
          await within(5000, "the cancelled session ending", ended);
          await afterServerSawTheReset(transport);
        },
      };
    });
    await expectHandedBack(result);
  });

  it("on StreamAssignments, is handed back once its message is built, not left to expire", { timeout: 40_000 }, async () => {
    const result = await claimAsExecutorLeaves("stream-executor", (tenant, received) => {
      const transport = h2Transport(tenant);
      const cancel = new AbortController();
      const ended = (async () => {
        const request = { workerId: "stream-executor", workflows: ["w"], maxRuns: 2, leaseDuration: millis(60_000) };
        for await (const response of createClient(WorkerService, transport).streamAssignments(request, { signal: cancel.signal }))
          received.push(...response.leases);
      })().catch((error: unknown) => error);
      return {
        async leave() {
          cancel.abort();
          await within(5000, "the cancelled stream ending", ended);
          await afterServerSawTheReset(transport);
        },
      };
    });
    await expectHandedBack(result);
  });
});
