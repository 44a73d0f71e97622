/**
 * Live delivery across processes. One LISTEN connection per process receives the
 * "run X has events up to N" hints and wakes that run's local subscribers in memory; a
 * poller asks Postgres for the last sequence of every watched run every `pollIntervalMs`,
 * so a lost hint (a dropped LISTEN connection, a reconnect) delays delivery but never
 * loses an event. Subscribers read the rows themselves, by cursor, except for the events
 * a hint carried (notify-channel.ts), which each subscription keeps until it takes them.
 *
 * The same connection carries "tenant T has claimable runs" hints for waiting claimers
 * (WorkerService); their fallback is their own bounded re-poll.
 */
import pg from "pg";
import type { Sql } from "../db/database.js";
import type { Logger } from "../logger.js";
import type { EventRecord } from "../runs/event-append.js";
import { eventsChannel, parseNotification, queueChannel } from "../runs/lifecycle/notify-channel.js";

/** Events a hint carried: contiguous, in sequence order, with each one's JSON size. */
export interface CarriedBatch {
  readonly events: readonly EventRecord[];
  readonly sizes: readonly number[];
}

/** What woke a subscription since it was last taken (see Subscription.take). */
export interface Wakes {
  /** The batches hints carried, oldest first. */
  readonly carried: readonly CarriedBatch[];
  /**
   * True when a wake came without its events (a plain hint, the poller, a reconnect) or
   * carried batches were dropped past the bound: the subscriber must read by cursor.
   */
  readonly uncovered: boolean;
}

/** A subscriber's wake-up source for one run. */
export interface Subscription {
  /**
   * Resolves at the next wake after the previous call (at once when one already came),
   * or when `signal` aborts. Never misses a wake that happens between two calls.
   */
  wait(signal: AbortSignal): Promise<void>;
  /** What woke it since the last take, and forgets it. */
  take(): Wakes;
  close(): void;
}

/**
 * Most carried batches a subscription keeps untaken; past it they are dropped and the
 * subscriber reads instead (a subscriber that takes after every wait holds one or two).
 */
const carriedBatchesMax = 32;

/** The process-wide hub. */
export interface EventHub {
  /** Ids as Postgres prints them (lower-case UUIDs): hints are matched as strings. */
  subscribe(tenantId: string, runId: string): Subscription;
  /** Wakes when the tenant has newly claimable runs (see announceQueued). */
  subscribeQueue(tenantId: string): Subscription;
  /**
   * Says that the tenant has newly claimable runs: local claimers wake now, other
   * processes within 10 ms through one coalesced NOTIFY.
   */
  announceQueued(tenantId: string): void;
  /** Number of open subscriptions (for metrics and leak checks). */
  readonly size: number;
  close(): Promise<void>;
}

interface Waiter {
  pending: boolean;
  wake: (() => void) | undefined;
  carried: CarriedBatch[];
  uncovered: boolean;
}

/**
 * The events a hint carried, as EventRecords (each `[sequence, type, data, event_id,
 * create_time, size]`, as notifyWithEventsExpression writes them); undefined when they
 * do not parse or are not the contiguous run of sequences ending at the hint's, so that
 * the hint counts as a plain one and the subscriber reads instead.
 */
function carriedBatch(runId: string, lastSequence: number, json: string): CarriedBatch | undefined {
  let rows: unknown;
  try {
    rows = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (!Array.isArray(rows) || rows.length === 0) return undefined;
  const events: EventRecord[] = [];
  const sizes: number[] = [];
  const firstSequence = lastSequence - rows.length + 1;
  for (const [index, row] of (rows as unknown[]).entries()) {
    if (!Array.isArray(row) || row.length !== 6) return undefined;
    const [sequence, type, data, eventId, createTime, size] = row as unknown[];
    if (typeof sequence !== "string" || Number(sequence) !== firstSequence + index) return undefined;
    if (typeof type !== "string" || typeof createTime !== "string" || typeof size !== "number") return undefined;
    if (eventId !== null && typeof eventId !== "string") return undefined;
    events.push({ run_id: runId, sequence, type, data, status: null, event_id: eventId, create_time: createTime });
    sizes.push(size);
  }
  return { events, sizes };
}

/** Options for startEventHub. */
export interface EventHubOptions {
  readonly url: string;
  readonly sql: Sql;
  readonly logger: Logger;
  /** Fallback poll period (default 2000 ms). */
  readonly pollIntervalMs?: number;
}

// Primary key of runs, probed for every watched run at once.
const pollStatement = `
  select r.tenant_id, r.id, r.last_sequence
  from unnest($1::uuid[], $2::uuid[]) as w(tenant_id, id)
  left join runs r on r.tenant_id = w.tenant_id and r.id = w.id`;

/** Connects the LISTEN connection and starts the poller. */
export async function startEventHub(options: EventHubOptions): Promise<EventHub> {
  const log = options.logger.child({ component: "event-hub" });
  const watchers = new Map<string, Set<Waiter>>();
  const lastSeen = new Map<string, string>();
  let closed = false;
  let listener: pg.Client | undefined;

  const wakeKey = (key: string, carried?: CarriedBatch) => {
    for (const waiter of watchers.get(key) ?? []) {
      if (carried === undefined || waiter.carried.length >= carriedBatchesMax) {
        waiter.uncovered = true;
        waiter.carried = [];
      } else if (!waiter.uncovered) waiter.carried.push(carried);
      waiter.pending = true;
      waiter.wake?.();
    }
  };
  const wakeAll = () => {
    for (const key of watchers.keys()) wakeKey(key);
  };

  const connect = async (): Promise<void> => {
    const client = new pg.Client({ connectionString: options.url });
    client.on("notification", (message) => {
      if (message.channel === queueChannel) {
        wakeKey(`queue/${message.payload ?? ""}`);
        return;
      }
      const hint = message.payload === undefined ? undefined : parseNotification(message.payload);
      if (hint === undefined) return;
      const carried = hint.carried === undefined ? undefined : carriedBatch(hint.runId, hint.lastSequence, hint.carried);
      wakeKey(`${hint.tenantId}/${hint.runId}`, carried);
    });
    client.on("error", (error) => log.warn({ err: error }, "LISTEN connection failed; reconnecting"));
    client.on("end", () => {
      if (closed) return;
      listener = undefined;
      // Hints may have been lost while disconnected: everyone re-reads by cursor.
      wakeAll();
      setTimeout(() => void connect().catch((error: unknown) => log.warn({ err: error }, "LISTEN reconnect failed")), 500);
    });
    await client.connect();
    await client.query(`listen ${eventsChannel}`);
    await client.query(`listen ${queueChannel}`);
    listener = client;
    wakeAll();
  };
  await connect();

  const poll = async () => {
    const keys = [...watchers.keys()].filter((key) => !key.startsWith("queue/"));
    if (keys.length === 0) return;
    const rows = await options.sql.query<{ tenant_id: string | null; id: string | null; last_sequence: string | null }>(pollStatement, [
      keys.map((key) => key.split("/")[0]),
      keys.map((key) => key.split("/")[1]),
    ]);
    const found = new Map(rows.filter((row) => row.id !== null).map((row) => [`${row.tenant_id}/${row.id}`, row.last_sequence ?? ""]));
    for (const key of keys) {
      const sequence = found.get(key) ?? "deleted";
      if (lastSeen.get(key) !== sequence) {
        lastSeen.set(key, sequence);
        wakeKey(key);
      }
    }
  };
  const poller = setInterval(() => {
    poll().catch((error: unknown) => log.warn({ err: error }, "event poll failed"));
  }, options.pollIntervalMs ?? 2000);
  poller.unref();

  const queuedTenants = new Set<string>();
  const flushQueued = () => {
    const tenants = [...queuedTenants];
    queuedTenants.clear();
    options.sql
      .query(`select pg_notify('${queueChannel}', t) from unnest($1::text[]) as t`, [tenants])
      .catch((error: unknown) => log.warn({ err: error }, "queue NOTIFY failed; claimers fall back to polling"));
  };

  const subscribeKey = (key: string): Subscription => {
    const waiter: Waiter = { pending: false, wake: undefined, carried: [], uncovered: false };
    let set = watchers.get(key);
    if (set === undefined) watchers.set(key, (set = new Set()));
    set.add(waiter);
    return {
      wait(signal) {
        if (waiter.pending || signal.aborted) {
          waiter.pending = false;
          return Promise.resolve();
        }
        return new Promise<void>((resolve) => {
          const done = () => {
            waiter.wake = undefined;
            waiter.pending = false;
            signal.removeEventListener("abort", done);
            resolve();
          };
          waiter.wake = done;
          signal.addEventListener("abort", done, { once: true });
        });
      },
      take() {
        const wakes = { carried: waiter.carried, uncovered: waiter.uncovered };
        waiter.carried = [];
        waiter.uncovered = false;
        return wakes;
      },
      close() {
        waiter.wake?.();
        set.delete(waiter);
        if (set.size === 0) {
          watchers.delete(key);
          lastSeen.delete(key);
        }
      },
    };
  };

  return {
    subscribe: (tenantId, runId) => subscribeKey(`${tenantId}/${runId}`),
    subscribeQueue: (tenantId) => subscribeKey(`queue/${tenantId}`),
    announceQueued(tenantId) {
      if (closed) return;
      wakeKey(`queue/${tenantId}`);
      // One NOTIFY per tenant per 10 ms at most: NOTIFYing commits take a global lock,
      // so a burst of CreateRuns must not become a burst of NOTIFYs.
      if (queuedTenants.size === 0) setTimeout(flushQueued, 10).unref();
      queuedTenants.add(tenantId);
    },
    get size() {
      let count = 0;
      for (const set of watchers.values()) count += set.size;
      return count;
    },
    async close() {
      closed = true;
      clearInterval(poller);
      wakeAll();
      await listener?.end().catch(() => undefined);
    },
  };
}
