/**
 * The transition table, walked against Postgres: every transition's statement applied to
 * a run in every status. From a from-status the run takes one of the table's outcomes,
 * with its status event and its NOTIFY; from any other status, and for a fenced
 * transition with a wrong or expired lease, the statement matches nothing and the run
 * and its log stay exactly as they were.
 */
import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { claimAnyStatement } from "../../src/runs/lifecycle/claim-statements.js";
import { completeStatement } from "../../src/runs/lifecycle/completion-statements.js";
import { insertRunStatement } from "../../src/runs/lifecycle/create-statements.js";
import { eventsChannel } from "../../src/runs/lifecycle/notify-channel.js";
import {
  cancelStatement,
  failStatement,
  interruptStatement,
  releaseStatement,
  resumeStatement,
} from "../../src/runs/lifecycle/run-statements.js";
import {
  endCancelGraceStatement,
  expireLeasesStatement,
  startScheduledStatement,
  timeOutRunsStatement,
} from "../../src/runs/lifecycle/sweep-statements.js";
import { allowedTransitions, outcomesFrom, transitions, type TransitionName } from "../../src/runs/lifecycle/transitions.js";
import { runStatuses, type RunStatus } from "../../src/runs/run-status.js";
import { createTestDatabase } from "../support/test-database.js";

const tenantId = "01a21000-0000-7000-8000-0000000000e1";
const workflowId = "01a21000-0000-7000-8000-0000000000e2";
const leaseId = "01a21000-0000-7000-8000-0000000000e3";

let client: pg.Client;
let listener: pg.Client;
const notifications: string[] = [];

beforeAll(async () => {
  const url = await createTestDatabase();
  client = new pg.Client({ connectionString: url });
  listener = new pg.Client({ connectionString: url });
  await Promise.all([client.connect(), listener.connect()]);
  listener.on("notification", (message) => notifications.push(message.payload ?? ""));
  await listener.query(`listen ${eventsChannel}`);
  await client.query(`insert into tenants (id, slug) values ($1, 'lifecycle')`, [tenantId]);
  await client.query(`insert into workflows (tenant_id, id, slug, latest_version) values ($1, $2, 'w', 1)`, [tenantId, workflowId]);
  await client.query(
    `insert into workflow_versions (tenant_id, workflow_id, version, definition, content_hash) values ($1, $2, 1, '{}', 'x')`,
    [tenantId, workflowId],
  );
});

afterAll(async () => {
  await Promise.all([client?.end(), listener?.end()]);
});

/** How the test puts a run where a transition is due, and applies its statement. */
interface Driver {
  /** Column values of the run besides its status (SQL expressions). */
  readonly due: Readonly<Record<string, string>>;
  /** Runs the transition's statement on the run; its rows. */
  apply(runId: string): Promise<unknown[]>;
}

const currentLease = { lease_id: `'${leaseId}'`, lease_expire_time: "now() + interval '1 minute'" };
const query = async (text: string, values: unknown[]) => (await client.query(text, values)).rows;

const drivers: Record<Exclude<TransitionName, "create">, Driver> = {
  schedule: { due: { schedule_time: "now() - interval '1 second'" }, apply: () => query(startScheduledStatement.text, []) },
  claim: {
    due: { ready_time: "now() - interval '1 second'" },
    apply: () => query(claimAnyStatement.text, claimAnyStatement.values({ tenantId, workerIds: ["walker"], leaseMs: [30_000] })),
  },
  complete: {
    due: currentLease,
    apply: (runId) =>
      query(
        completeStatement.text,
        completeStatement.values({ tenantId, runIds: [runId], leaseIds: [leaseId], outputs: ['{"done":true}'] }),
      ),
  },
  fail: {
    due: currentLease,
    apply: (runId) =>
      query(failStatement.text, failStatement.values({ tenantId, runId, leaseId, error: '{"message":"no","code":"X"}', retryable: true })),
  },
  release: { due: currentLease, apply: (runId) => query(releaseStatement.text, releaseStatement.values({ tenantId, runId, leaseId })) },
  interrupt: {
    due: currentLease,
    apply: (runId) =>
      query(interruptStatement.text, interruptStatement.values({ tenantId, runId, leaseId, interrupt: '{"id":"i1","reason":"ask"}' })),
  },
  resume: {
    due: { interrupt: `'{"id":"i1"}'` },
    apply: (runId) => query(resumeStatement.text, resumeStatement.values({ tenantId, runId, input: "{}", interruptId: "i1" })),
  },
  cancel: { due: {}, apply: (runId) => query(cancelStatement.text, cancelStatement.values({ tenantId, runId, reason: "walk" })) },
  cancelGraceEnded: {
    due: { update_time: "now() - interval '1 hour'" },
    apply: () => query(endCancelGraceStatement.text, endCancelGraceStatement.values({ cancelGraceMs: 1000 })),
  },
  leaseExpired: {
    due: { lease_id: `'${leaseId}'`, lease_expire_time: "now() - interval '1 second'" },
    apply: () => query(expireLeasesStatement.text, []),
  },
  timeout: { due: { deadline_time: "now() - interval '1 second'" }, apply: () => query(timeOutRunsStatement.text, []) },
};

/** Inserts a run of `status` with `columns`, at sequence 1 with its first event. */
async function insertRun(status: RunStatus, columns: Readonly<Record<string, string>>): Promise<string> {
  const runId = randomUUID();
  const names = [
    "tenant_id",
    "id",
    "workflow_id",
    "workflow_version",
    "status",
    "created_by",
    "attempt",
    "max_attempts",
    "last_sequence",
    ...Object.keys(columns),
  ];
  const values = ["$1", "$2", "$3", "1", `'${status}'`, "'walker'", "1", "3", "1", ...Object.values(columns)];
  await client.query(`insert into runs (${names.join(", ")}) values (${values.join(", ")})`, [tenantId, runId, workflowId]);
  await client.query(`insert into run_events (tenant_id, run_id, sequence, type, status) values ($1, $2, 1, 'status', $3)`, [
    tenantId,
    runId,
    status,
  ]);
  return runId;
}

/** The run's row and its log, as JSON. */
async function stateOf(
  runId: string,
): Promise<{ run: Record<string, unknown>; events: { sequence: string; type: string; status: string; data: unknown }[] }> {
  const [run] = await query(`select to_jsonb(r) as run from runs r where tenant_id = $1 and id = $2`, [tenantId, runId]);
  const events = await query(`select sequence, type, status, data from run_events where tenant_id = $1 and run_id = $2 order by sequence`, [
    tenantId,
    runId,
  ]);
  return { run: (run as { run: Record<string, unknown> }).run, events: events as never };
}

async function notified(payload: string): Promise<boolean> {
  for (let waited = 0; waited < 10_000 && !notifications.includes(payload); waited += 20)
    await new Promise((resolve) => setTimeout(resolve, 20));
  return notifications.includes(payload);
}

const cases = Object.entries(drivers).flatMap(([name, driver]) =>
  runStatuses.map((status) => [name as keyof typeof drivers, status, driver] as const),
);

describe("the transition table, applied to a run in every status", () => {
  it("has a driver here for every transition but create", () => {
    expect(Object.keys(drivers).sort()).toEqual(
      Object.keys(transitions)
        .filter((name) => name !== "create")
        .sort(),
    );
  });

  it.each(cases)(
    "%s from %s: an allowed change is applied, written and notified; any other changes nothing",
    async (name, status, driver) => {
      const transition = transitions[name];
      const runId = await insertRun(status, driver.due);
      const before = await stateOf(runId);
      const rows = await driver.apply(runId);
      const after = await stateOf(runId);
      const reachable = outcomesFrom(transition, status);
      if (reachable.length === 0) {
        expect(rows).toEqual([]);
        expect(after).toEqual(before);
      } else {
        expect(rows).toHaveLength(1);
        const to = after.run["status"] as RunStatus;
        expect(reachable).toContain(to);
        expect(allowedTransitions.get(status)).toContain(to);
        expect(after.run["last_sequence"]).toBe(2);
        expect(after.events).toHaveLength(2);
        expect(after.events[1]).toMatchObject({ sequence: "2", type: "status", status: to });
        expect(await notified(`${tenantId}/${runId}/2`)).toBe(true);
      }
      await client.query(`delete from runs where tenant_id = $1 and id = $2`, [tenantId, runId]);
    },
  );

  const fenced = Object.keys(drivers).filter((name) => transitions[name as keyof typeof drivers].fenced) as (keyof typeof drivers)[];
  it.each(fenced)("%s with a wrong or an expired lease changes nothing", async (name) => {
    const stale = [
      { lease_id: `'${randomUUID()}'`, lease_expire_time: "now() + interval '1 minute'" },
      { lease_id: `'${leaseId}'`, lease_expire_time: "now() - interval '1 second'" },
    ];
    for (const lease of stale) {
      const runId = await insertRun("RUNNING", lease);
      const before = await stateOf(runId);
      expect(await drivers[name].apply(runId)).toEqual([]);
      expect(await stateOf(runId)).toEqual(before);
      await client.query(`delete from runs where tenant_id = $1 and id = $2`, [tenantId, runId]);
    }
  });

  it("create: a new run is QUEUED, or SCHEDULED while its time is ahead, with its first status event", async () => {
    for (const [scheduleTime, expected] of [
      [null, "QUEUED"],
      [new Date(Date.now() + 3_600_000), "SCHEDULED"],
    ] as const) {
      const runId = randomUUID();
      const rows = await query(
        insertRunStatement.text,
        insertRunStatement.values({
          tenantId,
          runId,
          workflowId,
          version: 1,
          input: "{}",
          labels: "{}",
          maxAttempts: 1,
          priority: 0,
          timeoutMs: null,
          backoffMs: 1000,
          createdBy: "walker",
          idempotencyKey: null,
          webhookUrl: null,
          webhookIntermediate: false,
          scheduleTime,
          checkLatest: false,
        }),
      );
      expect(rows).toHaveLength(1);
      const { run, events } = await stateOf(runId);
      expect(run["status"]).toBe(expected);
      expect(events).toEqual([{ sequence: "1", type: "status", status: expected, data: null }]);
      await client.query(`delete from runs where tenant_id = $1 and id = $2`, [tenantId, runId]);
    }
  });
});
