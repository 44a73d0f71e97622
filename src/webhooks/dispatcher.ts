/**
 * The webhook dispatcher, one per replica (server.ts starts it): woken by NOTIFY on
 * `runline_webhooks` (sent by the statements that write deliveries, and by
 * RedeliverWebhook) and by a poll each second, it claims due deliveries
 * (delivery-writes.ts), signs them with Standard Webhooks and sends them, at most
 * `hostConcurrency` at once per target host, and records the attempts. Any replica may
 * send any delivery; a killed replica's leases run out and another takes its deliveries.
 *
 * What one delivery costs is kept down by batching, never by waiting on a timer while
 * there is work: a claim takes what every host has room for (its attempts in flight
 * plus as many again waiting their turn, so a host's next attempt starts the moment one
 * ends), at most one claim runs at a time and claims start at least statementGapMs apart,
 * and attempts that end within statementGapMs of the last record statement are recorded
 * together by the next.
 */
import pg from "pg";
import { Webhook } from "standardwebhooks";
import type { Sql } from "../db/database.js";
import type { Logger } from "../logger.js";
import { webhooksChannel } from "../runs/lifecycle/webhook-outbox.js";
import { deliveryOutcome } from "./delivery-outcome.js";
import { claimDeliveries, recordAttempts, releaseDeliveries, type ClaimedDelivery, type RecordedAttempt } from "./delivery-writes.js";
import type { SealedSecrets } from "./secrets.js";
import type { SendResult, WebhookRequest } from "./send-webhook.js";

/** Deliveries one replica holds at once (in flight, waiting their host's turn, or being recorded). */
const maxHeld = 512;
/** A host may hold its concurrency in flight and this many times it waiting. */
const waitingPerSlot = 1;
/** The fallback poll: a lost NOTIFY, or a retry coming due, waits at most this long. */
const pollIntervalMs = 1000;
/**
 * Claims start at least this far apart, and so do record statements: a NOTIFY per status
 * change would otherwise mean a claim per delivery, and an attempt ending while no record
 * runs a record statement per attempt. It adds at most this much to a delivery's latency.
 */
const statementGapMs = 10;
/** A lease outlives its delivery's wait and attempt by this much, so only a dead replica loses one. */
const leaseMarginMs = 30_000;

/** What the dispatcher needs; the renderer and the sender are injected by server.ts. */
export interface DispatcherOptions {
  /** Connection string for the LISTEN connection. */
  readonly url: string;
  readonly sql: Sql;
  readonly logger: Logger;
  /** The body of a delivery: its type, the change's time and the run (`payload`) as REST shows it. */
  readonly renderBody: (type: string, payload: Record<string, unknown>) => string;
  /** One attempt (send-webhook.ts's sendWebhook with the server's policy, agents and timeout). */
  readonly send: (request: WebhookRequest) => Promise<SendResult>;
  /** The whsec_ secrets to sign with, current first (secrets.ts), from those the claim read if any. */
  readonly signingSecrets: (tenantId: string, endpointId: string | null, sealed: SealedSecrets) => Promise<string[]>;
  /** config.webhooks: timeoutMs, retryScheduleMs, hostConcurrency. */
  readonly timeoutMs: number;
  readonly retryScheduleMs: readonly number[];
  readonly hostConcurrency: number;
  /** Called after each attempt is recorded, for metrics. */
  readonly onAttempt?: (outcome: "PENDING" | "SUCCEEDED" | "FAILED", seconds: number) => void;
}

/** A started dispatcher. */
export interface Dispatcher {
  /** Stops claiming, hands back what waits unsent, and waits for attempts in flight to be recorded. */
  stop(): Promise<void>;
}

/** The headers of one attempt: Standard Webhooks' three, one signature per secret. */
async function signedHeaders(delivery: ClaimedDelivery, body: string, secrets: readonly string[]): Promise<Record<string, string>> {
  const webhookId = `msg_${delivery.id.replaceAll("-", "")}`;
  const now = new Date();
  const signatures = secrets.map((secret) => new Webhook(secret).sign(webhookId, now, body));
  return {
    "content-type": "application/json",
    "user-agent": "Runline-Webhooks",
    "webhook-id": webhookId,
    "webhook-timestamp": String(Math.floor(now.getTime() / 1000)),
    "webhook-signature": signatures.join(" "),
  };
}

/** One host's deliveries on this replica. */
interface HostQueue {
  running: number;
  readonly waiting: { delivery: ClaimedDelivery; leaseEnd: number }[];
}

/** Starts the dispatcher: LISTEN, poll, and a first claim at once. */
export async function startDispatcher(options: DispatcherOptions): Promise<Dispatcher> {
  const log = options.logger.child({ component: "webhook-dispatcher" });
  const hostLimit = options.hostConcurrency * (1 + waitingPerSlot);
  // A delivery may wait behind hostLimit - 1 others, hostConcurrency at a time, then take its own timeout.
  const leaseMs = options.timeoutMs * (1 + waitingPerSlot + 1) + leaseMarginMs;
  const hosts = new Map<string, HostQueue>();
  const attempts = new Set<Promise<void>>();
  const toRecord: RecordedAttempt[] = [];
  let held = 0;
  let stopped = false;
  let claiming = false;
  let again = false;
  let lastClaim = 0;
  let gapTimer: NodeJS.Timeout | undefined;
  let recording: Promise<void> | undefined;
  let recordTimer: NodeJS.Timeout | undefined;
  let lastRecord = 0;
  let listener: pg.Client | undefined;

  const heldBy = (queue: HostQueue) => queue.running + queue.waiting.length;

  const hostRoom = () => {
    const names = [...hosts.keys()];
    return { hosts: names, free: names.map((name) => hostLimit - heldBy(hosts.get(name)!)), hostRoom: hostLimit };
  };

  /** Records what has ended, one statement at a time and statementGapMs apart, each taking all that ended meanwhile. */
  const record = (): void => {
    if (recording !== undefined || recordTimer !== undefined || toRecord.length === 0) return;
    const wait = lastRecord + statementGapMs - Date.now();
    if (wait > 0 && !stopped) {
      recordTimer = setTimeout(() => {
        recordTimer = undefined;
        record();
      }, wait);
      return;
    }
    lastRecord = Date.now();
    const batch = toRecord.splice(0);
    recording = (async () => {
      try {
        const recorded = await recordAttempts(options.sql, batch);
        for (const { delivery, attempt } of batch) {
          if (recorded.has(delivery.id)) options.onAttempt?.(attempt.outcome, attempt.durationMs / 1000);
        }
      } catch (error) {
        // Their leases run out and the deliveries are tried again, by this replica or another.
        log.warn({ err: error, deliveries: batch.length }, "webhook attempts not recorded");
      } finally {
        held -= batch.length;
        recording = undefined;
        record();
        wake();
      }
    })();
  };

  const attempt = async (delivery: ClaimedDelivery): Promise<void> => {
    try {
      const body = options.renderBody(delivery.type, delivery.payload);
      const headers = await signedHeaders(delivery, body, await options.signingSecrets(delivery.tenant_id, delivery.endpoint_id, delivery));
      const startTime = new Date();
      const result = await options.send({ url: delivery.url, headers, body });
      toRecord.push({ delivery, attempt: deliveryOutcome(result, delivery, options.retryScheduleMs, startTime) });
    } catch (error) {
      held--;
      log.warn({ err: error, deliveryId: delivery.id }, "webhook attempt failed before sending; its lease runs out and it is tried again");
    }
  };

  /** Starts the host's waiting deliveries while it has a free slot. */
  const pump = (host: string): void => {
    const queue = hosts.get(host);
    if (queue === undefined) return;
    while (queue.running < options.hostConcurrency && !stopped) {
      const next = queue.waiting.shift();
      if (next === undefined) break;
      if (next.leaseEnd - Date.now() < options.timeoutMs + leaseMarginMs / 2) {
        // Too close to its lease's end to be sure to be recorded within it: left to run out and be claimed again.
        held--;
        continue;
      }
      queue.running++;
      const running = attempt(next.delivery).finally(() => {
        queue.running--;
        attempts.delete(running);
        pump(host);
        record();
      });
      attempts.add(running);
    }
    if (heldBy(queue) === 0) hosts.delete(host);
  };

  const claim = async (): Promise<void> => {
    const room = maxHeld - held;
    if (room <= 0) return;
    lastClaim = Date.now();
    const claimed = await claimDeliveries(options.sql, room, leaseMs, hostRoom());
    const leaseEnd = lastClaim + leaseMs;
    held += claimed.length;
    const touched = new Set<string>();
    for (const delivery of claimed) {
      let queue = hosts.get(delivery.host);
      if (queue === undefined) hosts.set(delivery.host, (queue = { running: 0, waiting: [] }));
      queue.waiting.push({ delivery, leaseEnd });
      touched.add(delivery.host);
    }
    for (const host of touched) pump(host);
    if (claimed.length === room) again = true;
  };

  /** Claims until nothing more is due or there is no room; calls coalesce, and claims keep statementGapMs apart. */
  function wake(): void {
    if (stopped || gapTimer !== undefined) return;
    if (claiming) {
      again = true;
      return;
    }
    const wait = lastClaim + statementGapMs - Date.now();
    if (wait > 0) {
      gapTimer = setTimeout(() => {
        gapTimer = undefined;
        wake();
      }, wait);
      return;
    }
    claiming = true;
    again = false;
    void claim()
      .catch((error: unknown) => log.warn({ err: error }, "webhook claim failed; the poll retries"))
      .finally(() => {
        claiming = false;
        if (again) wake();
      });
  }

  const connect = async (): Promise<void> => {
    const client = new pg.Client({ connectionString: options.url });
    client.on("notification", () => wake());
    client.on("error", (error) => log.warn({ err: error }, "webhook LISTEN connection failed; reconnecting"));
    client.on("end", () => {
      listener = undefined;
      if (stopped) return;
      setTimeout(() => void connect().catch((error: unknown) => log.warn({ err: error }, "webhook LISTEN reconnect failed")), 500);
    });
    await client.connect();
    await client.query(`listen ${webhooksChannel}`);
    listener = client;
  };

  await connect();
  const poll = setInterval(wake, pollIntervalMs);
  poll.unref();
  wake();

  return {
    async stop() {
      stopped = true;
      clearInterval(poll);
      clearTimeout(gapTimer);
      clearTimeout(recordTimer);
      recordTimer = undefined;
      await listener?.end().catch(() => undefined);
      while (claiming) await new Promise((resolve) => setTimeout(resolve, 10));
      const unsent = [...hosts.values()].flatMap((queue) => queue.waiting.splice(0).map((entry) => entry.delivery));
      await releaseDeliveries(options.sql, unsent).catch((error: unknown) =>
        log.warn({ err: error }, "unsent webhook deliveries not handed back; their leases run out"),
      );
      await Promise.allSettled([...attempts]);
      while (recording !== undefined || toRecord.length > 0) {
        record();
        await recording;
      }
    },
  };
}
