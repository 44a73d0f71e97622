/**
 * Deliveries survive a replica's death (issue 13, API.md "Guarantees": at least once,
 * any replica may send). Two server processes share one database. Runs are created and
 * finished while the receiver is down, so their deliveries pile up PENDING; then the
 * receiver's port swallows connections without answering, so attempts hang, and replica
 * A is killed with kill -9 while it holds claims (leases it will never record). Once the
 * receiver is up, replica B sends every delivery: none lost, each webhook-id at least
 * once, per run in sequence order. A's leases last its attempt timeout (5 s) plus the
 * dispatcher's 30 s margin, so the test waits out about 35 s.
 */
import { once } from "node:events";
import net from "node:net";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebhooksService } from "../../gen/runline/v1/webhooks_service_pb.js";
import { clientFor, createTenant, json, type TenantFixture } from "../support/clients.js";
import { eventually } from "../support/expectations.js";
import { startServerProcess, type ServerProcess } from "../support/server-process.js";
import { createTestDatabase } from "../support/test-database.js";
import { startWebhookReceiver, type WebhookReceiver } from "../support/webhook-receiver.js";
import { createWorkflowWith, millis, workerClient } from "../workers/worker-fixtures.js";

const workflow = "replicated";
const runCount = 12;
/** Retries every ~250 ms for well over the test's length. */
const retrySchedule = Array.from({ length: 100 }, () => "250ms").join(",");
/** A's attempts may hang this long, so its claims are held when it dies; B's give up sooner. */
const replicaATimeoutMs = 5_000;
const replicaBTimeoutMs = 1_000;
/** dispatcher.ts's lease margin: a lease lasts the attempt timeout plus this. */
const leaseMarginMs = 30_000;

let database: pg.Client;
let replicaA: ServerProcess;
let replicaB: ServerProcess;
let tenant: TenantFixture;
let receiver: WebhookReceiver;
let secret: string;

beforeAll(async () => {
  const url = await createTestDatabase();
  const common = { RUNLINE_WEBHOOK_ALLOW: "127.0.0.1/32", RUNLINE_WEBHOOK_RETRY_SCHEDULE: retrySchedule };
  [replicaA, replicaB] = await Promise.all([
    startServerProcess({ ...common, RUNLINE_WEBHOOK_TIMEOUT_MS: String(replicaATimeoutMs) }, url),
    startServerProcess({ ...common, RUNLINE_WEBHOOK_TIMEOUT_MS: String(replicaBTimeoutMs) }, url),
  ]);
  database = new pg.Client({ connectionString: url });
  await database.connect();
  tenant = await createTenant(replicaA.url);
  await createWorkflowWith(tenant, workflow);
  ({ secret } = await clientFor(WebhooksService, "connect-json", replicaB.url, tenant.key).getRunWebhookSecret({}));
  receiver = await startWebhookReceiver({ secrets: [secret], listening: false });
}, 120_000);

afterAll(async () => {
  await receiver.close();
  await database.end();
});

/** Creates the runs on A with an every-status webhook and finishes them through B. */
async function finishedRuns(): Promise<string[]> {
  const ids: string[] = [];
  for (let n = 0; n < runCount; n++) {
    const { run } = await tenant
      .runs()
      .createRun({ workflow, input: json({ n }), webhook: { url: receiver.url(), intermediateStatus: true } });
    ids.push(run!.id);
  }
  const worker = workerClient(tenant, replicaB.url);
  let finished = 0;
  while (finished < runCount) {
    const { leases } = await worker.claimRuns({
      workerId: "replicas",
      workflows: [workflow],
      maxRuns: runCount,
      waitTimeout: millis(2000),
    });
    for (const lease of leases) await worker.completeRun({ runId: lease.run!.id, leaseId: lease.leaseId, output: json(null) });
    finished += leases.length;
  }
  return ids;
}

interface DeliveryRow {
  id: string;
  run_id: string;
  type: string;
  sequence: string;
  outcome: string;
  attempt_count: number;
}

async function deliveries(): Promise<DeliveryRow[]> {
  const { rows } = await database.query<DeliveryRow>(
    `select id, run_id, type, sequence::text, outcome, attempt_count from webhook_deliveries where tenant_id = $1::uuid order by run_id, sequence`,
    [tenant.tenantId],
  );
  return rows;
}

/** Deliveries leased longer than any lease B takes: A's claims, in flight. */
async function claimsHeldByA(): Promise<string[]> {
  const { rows } = await database.query<{ id: string }>(
    `select id from webhook_deliveries
      where tenant_id = $1::uuid and outcome = 'PENDING' and lease_expire_time > now() + $2::bigint * interval '1 millisecond'`,
    [tenant.tenantId, replicaBTimeoutMs + leaseMarginMs + 500],
  );
  return rows.map((row) => row.id);
}

/** A TCP server on the receiver's port that accepts connections and never answers. */
async function swallowConnections(port: number): Promise<() => Promise<void>> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => undefined);
  });
  server.listen(port, "127.0.0.1");
  await once(server, "listening");
  return async () => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of sockets) socket.destroy();
    await closed;
  };
}

const webhookIdOf = (deliveryId: string) => `msg_${deliveryId.replaceAll("-", "")}`;

describe("a replica killed with deliveries in hand", () => {
  it("loses none: the other replica delivers every one, in sequence order per run", { timeout: 150_000 }, async () => {
    const runIds = await finishedRuns();
    // Down: connection refused, so every delivery stays PENDING; each run.queued gets failed
    // attempts, and the later ones wait behind it.
    const pending = await eventually(20_000, "every delivery written, each run.queued tried", async () => {
      const rows = await deliveries();
      const tried = rows.every((row) => row.outcome === "PENDING" && (row.type !== "run.queued" || row.attempt_count > 0));
      return rows.length === runCount * 3 && tried ? rows : undefined;
    });
    expect(receiver.received()).toHaveLength(0);

    const stopSwallowing = await swallowConnections(receiver.port);
    const held = await eventually(20_000, "replica A holding claims", async () => {
      const ids = await claimsHeldByA();
      return ids.length > 0 ? ids : undefined;
    });
    process.kill(replicaA.pid, "SIGKILL");
    await eventually(10_000, "replica A gone", async () => (replicaA.alive() ? undefined : true));
    await stopSwallowing();
    await receiver.listen();

    const expectedIds = pending.map((row) => webhookIdOf(row.id));
    await receiver.waitFor(
      `all ${expectedIds.length} webhook-ids, ${held.length} of them leased by the dead replica`,
      (received) => expectedIds.every((id) => received.some((request) => request.webhookId === id)),
      leaseMarginMs + replicaATimeoutMs + 30_000,
    );
    await eventually(10_000, "every delivery SUCCEEDED", async () =>
      (await deliveries()).every((row) => row.outcome === "SUCCEEDED") ? true : undefined,
    );

    const received = receiver.received();
    for (const request of received) expect(request.verifiedBy).toEqual([secret]);
    for (const runId of runIds) {
      const firstArrivals = [...new Set(received.filter((request) => request.runId === runId).map((request) => request.webhookId))];
      const inSequence = pending.filter((row) => row.run_id === runId).map((row) => webhookIdOf(row.id));
      expect(firstArrivals).toEqual(inSequence);
    }
    expect(replicaB.alive()).toBe(true);
  });
});
