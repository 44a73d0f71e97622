/**
 * The webhook dispatcher, one per replica (server.ts starts it): woken by NOTIFY on
 * `runline_webhooks` (sent by the statements that write deliveries, and by
 * RedeliverWebhook) and by a poll each second, it claims due deliveries
 * (delivery-writes.ts), signs them with Standard Webhooks and sends them, at most
 * `hostConcurrency` at once per target host and maxInFlight in all, and records each
 * attempt. Any replica may send any delivery; a killed replica's leases run out and
 * another takes its deliveries.
 */
import pg from "pg";
import { Webhook } from "standardwebhooks";
import type { Sql } from "../db/database.js";
import type { Logger } from "../logger.js";
import { webhooksChannel } from "../runs/lifecycle/webhook-outbox.js";
import { deliveryOutcome } from "./delivery-outcome.js";
import { claimDeliveries, deliveryHost, recordAttempt, releaseDeliveries, type ClaimedDelivery } from "./delivery-writes.js";
import type { SealedSecrets } from "./secrets.js";
import type { SendResult, WebhookRequest } from "./send-webhook.js";

/** Attempts in flight at once on one replica, over all hosts. */
const maxInFlight = 64;
/** The fallback poll: a lost NOTIFY, or a retry coming due, waits at most this long. */
const pollIntervalMs = 1000;
/** A lease outlives an attempt's timeout by this much, so only a dead replica loses one. */
const leaseMarginMs = 30_000;

/** What the dispatcher needs; the renderer and the sender are injected by server.ts. */
export interface DispatcherOptions {
  /** Connection string for the LISTEN connection. */
  readonly url: string;
  readonly sql: Sql;
  readonly logger: Logger;
  /** The body of a delivery: its type, the change's time and the run (`payload`) as REST shows it. */
  readonly renderBody: (type: string, payload: Record<string, unknown>) => string;
  /** One attempt (send-webhook.ts's sendWebhook with the server's policy and timeout). */
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
  /** Stops claiming and waits for attempts in flight to be recorded. */
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

/** Starts the dispatcher: LISTEN, poll, and a first claim at once. */
export async function startDispatcher(options: DispatcherOptions): Promise<Dispatcher> {
  const log = options.logger.child({ component: "webhook-dispatcher" });
  const perHost = new Map<string, number>();
  const inFlight = new Set<Promise<void>>();
  let stopped = false;
  let claiming = false;
  let again = false;
  let listener: pg.Client | undefined;

  const hostRoom = () => ({
    hosts: [...perHost.keys()],
    free: [...perHost.values()].map((count) => options.hostConcurrency - count),
    hostConcurrency: options.hostConcurrency,
  });

  const attempt = async (delivery: ClaimedDelivery, host: string): Promise<void> => {
    try {
      const body = options.renderBody(delivery.type, delivery.payload);
      const headers = await signedHeaders(delivery, body, await options.signingSecrets(delivery.tenant_id, delivery.endpoint_id, delivery));
      const startTime = new Date();
      const result = await options.send({ url: delivery.url, headers, body });
      const record = deliveryOutcome(result, delivery, options.retryScheduleMs, startTime);
      if (await recordAttempt(options.sql, delivery, record)) options.onAttempt?.(record.outcome, result.durationMs / 1000);
    } catch (error) {
      // The lease runs out and the delivery is tried again, by this replica or another.
      log.warn({ err: error, deliveryId: delivery.id }, "webhook attempt not recorded");
    } finally {
      const count = (perHost.get(host) ?? 1) - 1;
      if (count === 0) perHost.delete(host);
      else perHost.set(host, count);
      wake();
    }
  };

  const start = (delivery: ClaimedDelivery): boolean => {
    const host = deliveryHost(delivery.url);
    const count = perHost.get(host) ?? 0;
    if (count >= options.hostConcurrency) return false;
    perHost.set(host, count + 1);
    const running = attempt(delivery, host);
    inFlight.add(running);
    void running.finally(() => inFlight.delete(running));
    return true;
  };

  const claim = async (): Promise<void> => {
    const room = maxInFlight - inFlight.size;
    if (room <= 0) return;
    const claimed = await claimDeliveries(options.sql, room, options.timeoutMs + leaseMarginMs, hostRoom());
    // The claim takes no more for a host than it had room for; should one hold more, those go back at once.
    const overflow = claimed.filter((delivery) => !start(delivery));
    await releaseDeliveries(options.sql, overflow);
    if (claimed.length === room && overflow.length === 0) again = true;
  };

  /** Claims until nothing more is due or there is no room; calls coalesce. */
  function wake(): void {
    if (stopped) return;
    if (claiming) {
      again = true;
      return;
    }
    claiming = true;
    void (async () => {
      try {
        do {
          again = false;
          await claim();
        } while (again && !stopped);
      } catch (error) {
        log.warn({ err: error }, "webhook claim failed; the poll retries");
      } finally {
        claiming = false;
      }
    })();
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
      await listener?.end().catch(() => undefined);
      while (claiming) await new Promise((resolve) => setTimeout(resolve, 10));
      await Promise.allSettled([...inFlight]);
    },
  };
}
