/**
 * A claim never commits a lease it cannot deliver. Runs stored before the boundary
 * checked them (written here straight into the database by SQL) can hold a timeout
 * beyond protobuf's Duration, a time outside the Timestamp range or a JSON number
 * beyond a double. Claiming such a run used to fail the claim (500, or the whole claim
 * statement for a 10^15 s timeout) after its lease was committed, and every later
 * claim of the queue took it first and failed again. Now the run is failed under its
 * lease with RUN_NOT_DELIVERABLE, the other runs of the batch are delivered, and the
 * queue goes on, whichever protocol or API claims.
 */
import { Code } from "@connectrpc/connect";
import { createClient } from "@connectrpc/connect";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WorkerService, type Lease, type WorkResponse } from "../../gen/runline/v1/worker_service_pb.js";
import { createTenant, h2ConnectTransport, json, type Protocol, type TenantFixture } from "../support/clients.js";
import { dropTimeBounds } from "../support/stored-before-bounds.js";
import { startTestServer } from "../support/test-server.js";
import { restClient } from "../rest/rest-client.js";
import { createWorkflowWith, eventually, millis, within, workerClient } from "./worker-fixtures.js";

let baseUrl: string;
let database: pg.Client;

beforeAll(async () => {
  const server = await startTestServer();
  baseUrl = server.url;
  database = new pg.Client({ connectionString: server.databaseUrl });
  await database.connect();
  // Migration 0004 repaired such runs and refuses new ones; deployments may still hold some.
  await dropTimeBounds(database);
});

afterAll(() => database.end());

/** Stored values no Lease message can carry, as SQL assignments to a run row. */
const poisons = {
  "a timeout of 10^15 s": "timeout_ms = 1000000000000000000",
  "a timeout beyond protobuf's Duration": "timeout_ms = 400000000000000",
  "a schedule_time before year 1": "schedule_time = '4000-01-01 BC'",
  "a schedule_time in year 10000": "schedule_time = '10000-01-01'",
  "an input number beyond a double": `input = '{"n": 1e400}'::jsonb`,
} as const;

/** A fresh tenant with workflow `q`: one poisoned run queued first, then `good` ordinary runs. */
async function poisonedQueue(poison: string, good: number): Promise<{ tenant: TenantFixture; bad: string; goods: string[] }> {
  const tenant = await createTenant(baseUrl);
  await createWorkflowWith(tenant, "q");
  const { runs } = await tenant
    .runs()
    .batchCreateRuns({ template: { workflow: "q" }, inputs: Array.from({ length: good + 1 }, (_, index) => json({ n: index })) });
  const [bad, ...goods] = runs.map((run) => run.id);
  // Queued first, so every claim reaches it before the others.
  await database.query(`update runs set ${poison}, ready_time = now() - interval '1 hour' where id = $1`, [bad]);
  return { tenant, bad: bad!, goods };
}

/** The run's status and error as stored (a JSON read of the poisoned run is not this test's concern). */
async function stored(runId: string): Promise<{ status: string; code: string | null; message: string | null; leased: boolean }> {
  const { rows } = await database.query<{ status: string; code: string | null; message: string | null; leased: boolean }>(
    "select status, error->>'code' as code, error->>'message' as message, lease_id is not null as leased from runs where id = $1",
    [runId],
  );
  return rows[0]!;
}

/** Ids of the tenant's RUNNING runs. */
async function runningOf(tenant: TenantFixture): Promise<string[]> {
  const { rows } = await database.query<{ id: string }>("select id from runs where tenant_id = $1 and status = 'RUNNING' order by id", [
    tenant.tenantId,
  ]);
  return rows.map((row) => row.id);
}

describe("ClaimRuns with a run the API cannot express", () => {
  for (const [name, poison] of Object.entries(poisons)) {
    for (const protocol of ["connect-json", "grpc"] as const satisfies readonly Protocol[]) {
      it(`with ${name}, over ${protocol}: fails that run (RUN_NOT_DELIVERABLE), delivers the others, and later claims work`, async () => {
        const { tenant, bad, goods } = await poisonedQueue(poison, 2);
        const worker = workerClient(tenant, baseUrl, protocol);
        const { leases } = await worker.claimRuns({ workerId: "w", workflows: ["q"], maxRuns: 3 });
        expect(leases.map((lease) => lease.run!.id).sort()).toEqual([...goods].sort());
        const failed = await stored(bad);
        expect([failed.status, failed.code, failed.leased]).toEqual(["FAILED", "RUN_NOT_DELIVERABLE", false]);
        expect(failed.message).toMatch(/cannot be expressed in the API/);
        // Nothing RUNNING that was not handed out.
        expect(await runningOf(tenant)).toEqual([...goods].sort());

        const { run: next } = await tenant.runs().createRun({ workflow: "q", input: json({ n: 9 }) });
        const again = await worker.claimRuns({ workerId: "w", workflows: ["q"], maxRuns: 3 });
        expect(again.leases.map((lease) => lease.run!.id)).toEqual([next!.id]);
      });
    }
  }

  it("names the field when it can: run.timeout for a timeout beyond the Duration range", async () => {
    const { tenant, bad } = await poisonedQueue(poisons["a timeout beyond protobuf's Duration"], 0);
    expect((await workerClient(tenant, baseUrl).claimRuns({ workerId: "w", workflows: ["q"] })).leases).toEqual([]);
    expect((await stored(bad)).message).toMatch(/run\.timeout/);
  });

  it("over REST, claiming one run: the poisoned run first in the queue is failed and the same call answers 200 with the next run", async () => {
    const { tenant, bad, goods } = await poisonedQueue(poisons["a schedule_time in year 10000"], 1);
    const claimed = await restClient(baseUrl, tenant.key).post<{ leases: { run: { id: string } }[] }>("/api/v1/workers/rest:claim", {
      workflows: ["q"],
      maxRuns: 1,
      waitTimeout: "5s",
    });
    expect(claimed.status, claimed.text).toBe(200);
    expect(claimed.body.leases.map((lease) => lease.run.id)).toEqual(goods);
    expect((await stored(bad)).status).toBe("FAILED");
  });
});

describe("a Work session with a run the API cannot express", () => {
  for (const [name, poison] of Object.entries(poisons)) {
    it(`with ${name}: the session skips it (failed), receives the other runs one at a time and finishes them`, async () => {
      const { tenant, bad, goods } = await poisonedQueue(poison, 2);
      const requests = new AbortController();
      const transport = h2ConnectTransport(baseUrl, tenant.key);
      const leases: Lease[] = [];
      const outgoing: { kind: { case: "complete"; value: { runId: string; leaseId: string } } }[] = [];
      let wake: (() => void) | undefined;
      async function* messages() {
        yield {
          kind: { case: "open" as const, value: { workerId: "session", workflows: ["q"], maxRuns: 1, leaseDuration: millis(30_000) } },
        };
        while (!requests.signal.aborted) {
          const message = outgoing.shift();
          if (message !== undefined) yield message;
          else await new Promise<void>((resolve) => (wake = resolve));
        }
      }
      const responses: WorkResponse[] = [];
      const closed = (async () => {
        for await (const response of createClient(WorkerService, transport).work(messages(), { signal: AbortSignal.timeout(20_000) })) {
          responses.push(response);
          if (response.kind.case !== "assigned") continue;
          for (const lease of response.kind.value.leases) {
            leases.push(lease);
            outgoing.push({ kind: { case: "complete", value: { runId: lease.run!.id, leaseId: lease.leaseId } } });
            wake?.();
          }
        }
      })().catch((error: unknown) => error);
      await eventually(
        10_000,
        "both good runs succeeded",
        async () => ((await Promise.all(goods.map(stored))).every((run) => run.status === "SUCCEEDED") ? true : undefined),
        50,
      );
      requests.abort();
      wake?.();
      await within(10_000, "session end", closed);
      expect(leases.map((lease) => lease.run!.id).sort()).toEqual([...goods].sort());
      expect((await stored(bad)).code).toBe("RUN_NOT_DELIVERABLE");
      expect(responses.every((response) => response.kind.case !== "outcome" || response.kind.value.error === undefined)).toBe(true);
    });
  }
});

describe("the SQL of a claim", () => {
  it("is not failed by a stored timeout whose deadline overflows an interval (10^15 s)", async () => {
    const { tenant } = await poisonedQueue(poisons["a timeout of 10^15 s"], 0);
    // Before, the statement itself failed ("interval out of range") for every claimer.
    expect(
      await workerClient(tenant, baseUrl, "grpc")
        .claimRuns({ workerId: "w", workflows: ["q"] })
        .then(
          () => undefined,
          (error: unknown) => (error as { code: Code }).code,
        ),
    ).toBeUndefined();
  });
});
