/**
 * One reader per watched run per process (issue 14). Every StreamRunEvents caller of a
 * run joins that run's shared tail: one event-hub subscription and one read per hint
 * (`sequence > tail cursor`, by the stream's batch limits), whatever the number of
 * callers, so Postgres load grows with events and watched runs, not with watchers; none
 * when the hint carried its events (an append of a few small ones) and they follow the
 * tail's cursor: a carried batch that does not (a lost hint) is read instead. The
 * batches read are kept in a bounded window (the retained tail) from which each caller
 * takes the events after its own cursor; a caller whose cursor is before the window
 * (it resumed from an old sequence, or fell behind) reads Postgres on its own until it
 * is back inside it. The tail never waits for a caller: one that does not pull just
 * falls behind, and the transport's per-stream bounds (issue 11) apply to it as before.
 *
 * A caller may instead park at the tail (`park`): the next batch the tail reads is handed
 * to it, the same object to every parked caller, so that what they make of it (the
 * encoded message) is made once for all; a parked caller costs no promise and no timer.
 *
 * Gapless and exactly once, as before: the tail subscribes before its first caller reads
 * the run's state, its cursor starts at the last sequence that read saw, every read is
 * "sequence > cursor", and sequences are gapless per run, so the window is always the
 * contiguous run of sequences that ends at the tail's cursor.
 */
import type { Sql } from "../db/database.js";
import { notFound } from "../errors.js";
import type { EventRecord } from "../runs/event-append.js";
import { readEventBatch, streamBatchLimits, type EventBatch } from "./event-batch.js";
import type { CarriedBatch, EventHub, Subscription } from "./event-hub.js";

/** How much of a run's newest events one process keeps in memory for its callers. */
export interface RetainedTailLimits {
  /** Most events kept per watched run. */
  readonly maxEvents: number;
  /** Most bytes of event JSON (data and type, as the batch limits count them) kept per watched run. */
  readonly maxBytes: number;
}

/**
 * 1,000 events and 1 MiB of event JSON per watched run: several seconds of a busy run,
 * so callers a few messages behind still take their events from memory, while a run of
 * large events costs at most 1 MiB of JSON (a few MiB as objects). An event larger than
 * the whole window is not kept: every caller reads that one from Postgres.
 */
export const retainedTailLimits: RetainedTailLimits = { maxEvents: 1000, maxBytes: 1024 * 1024 };

/** What the tails hold and have read, for metrics. */
export interface TailCensus {
  /** Runs with a shared tail (watched by at least one caller). */
  readonly tails: number;
  readonly retainedEvents: number;
  readonly retainedBytes: number;
  /** Callers parked at their run's tail, waiting for its next batch to be pushed to them. */
  readonly parked: number;
  /** Batches read by the tails (after hints), since start. */
  readonly tailReads: number;
  /** Batches the tails took from the hints that carried them, without a read, since start. */
  readonly carriedBatches: number;
  /** Batches read by callers on their own (behind the retained tail), since start. */
  readonly replayReads: number;
}

/** A batch the tail read, handed to every caller parked at the tail. */
export interface TailBatch {
  /** Contiguous events, in order; they may start before a caller's cursor when it parked ahead of the tail. */
  readonly events: readonly EventRecord[];
  /** What callers derive from the batch once for all (its encoded message per codec …), under keys of their own. */
  readonly derived: Map<string, unknown>;
}

/** A caller parked at the tail; either method unparks it (`park` again to go on). */
export interface TailListener {
  /** The tail read a batch. */
  onBatch(batch: TailBatch): void;
  /** The tail failed: NOT_FOUND once the run is deleted, or its read's failure. */
  onFailure(error: unknown): void;
}

/** One caller's place on a run's shared tail. */
export interface TailMember {
  /**
   * Says the run's last sequence as the caller read it after joining: a new tail's
   * cursor starts there (later callers' figures are ignored). Call once, before next.
   */
  start(lastSequence: number): void;
  /**
   * The events after `cursor` (at most one message's worth, in order), from the retained
   * tail or Postgres; waits at the tail for new ones. Empty only when `signal` aborted.
   * Throws NOT_FOUND once the run is deleted, or the tail's read failure.
   */
  next(cursor: number, signal: AbortSignal): Promise<EventRecord[]>;
  /**
   * Parks `listener` for the tail's next batch when `cursor` is at (or past) the tail and
   * returns true; returns false, parking nothing, when the caller is behind (`next` first).
   * Throws the tail's failure. Call after start.
   */
  park(cursor: number, listener: TailListener): boolean;
  /** Leaves the tail; the last to leave ends its reader and frees its memory. */
  leave(): void;
}

/** The process's shared tails. */
export interface SharedTails {
  /**
   * Joins the run's tail (ids as Postgres prints them; `createTime`, the run's
   * create_time, bounds the weeks of the log read), opening it when it is the first:
   * before reading the run's state.
   */
  join(tenantId: string, runId: string, createTime: string): TailMember;
  census(): TailCensus;
}

/** What createSharedTails needs. */
export interface SharedTailOptions {
  readonly sql: Sql;
  readonly hub: Pick<EventHub, "subscribe">;
  /** Default retainedTailLimits. */
  readonly limits?: RetainedTailLimits;
}

interface Tail {
  readonly tenantId: string;
  readonly runId: string;
  readonly createTime: string;
  readonly subscription: Subscription;
  readonly stop: AbortController;
  members: number;
  /** The last sequence read into the tail; undefined until the first caller starts. */
  cursor: number | undefined;
  /** Contiguous events ending at `cursor`, oldest first, and each one's size. */
  retained: EventRecord[];
  sizes: number[];
  bytes: number;
  failure: unknown;
  /** Callers waiting at the tail: called (once) when it moves, fails or stops. */
  readonly waiters: Set<() => void>;
  /** Callers parked at the tail: handed the next batch (or the failure), then unparked. */
  readonly parked: Set<TailListener>;
}

// Primary key of runs: whether a run whose log had nothing new after a wake-up still exists.
const runExists = `select 1 as one from runs where tenant_id = $1::uuid and id = $2::uuid`;

/** Creates the registry of tails; tails open and close with their callers. */
export function createSharedTails(options: SharedTailOptions): SharedTails {
  const limits = options.limits ?? retainedTailLimits;
  const tails = new Map<string, Tail>();
  const counts = { tailReads: 0, replayReads: 0, carriedBatches: 0 };

  const wake = (tail: Tail) => {
    const waiters = [...tail.waiters];
    tail.waiters.clear();
    for (const waiter of waiters) waiter();
  };

  // Unparks every parked caller before handing it the batch: each decides whether to park again.
  const push = (tail: Tail, events: readonly EventRecord[]) => {
    const parked = [...tail.parked];
    tail.parked.clear();
    const batch: TailBatch = { events, derived: new Map() };
    for (const listener of parked) listener.onBatch(batch);
  };

  const close = (tail: Tail, key: string) => {
    // Once only: a second close of the hub subscription could drop a newer tail's.
    if (tail.stop.signal.aborted) return;
    tail.stop.abort();
    tail.subscription.close();
    if (tails.get(key) === tail) tails.delete(key);
    tail.retained = [];
    tail.sizes = [];
    tail.bytes = 0;
    wake(tail);
    // Parked callers remain only when the tail failed (the last to leave was not parked).
    const parked = [...tail.parked];
    tail.parked.clear();
    for (const listener of parked) listener.onFailure(tail.failure);
  };

  // Appends a batch read after the cursor and drops the oldest events past the limits.
  const retain = (tail: Tail, batch: EventBatch) => {
    if (Number(batch.events[0]!.sequence) !== tail.cursor! + 1) {
      // Not contiguous (never expected: sequences are gapless): keep only what follows.
      tail.retained = [];
      tail.sizes = [];
      tail.bytes = 0;
    }
    tail.retained.push(...batch.events);
    tail.sizes.push(...batch.sizes);
    for (const size of batch.sizes) tail.bytes += size;
    tail.cursor = Number(batch.events.at(-1)!.sequence);
    let drop = Math.max(0, tail.retained.length - limits.maxEvents);
    let bytes = tail.bytes;
    for (let index = 0; index < drop; index++) bytes -= tail.sizes[index]!;
    while (bytes > limits.maxBytes) bytes -= tail.sizes[drop++]!;
    tail.retained.splice(0, drop);
    tail.sizes.splice(0, drop);
    tail.bytes = bytes;
  };

  // Reads what the hint announced, batch after batch while a limit cut one.
  const readNew = async (tail: Tail) => {
    for (;;) {
      const batch = await readEventBatch(options.sql, tail.tenantId, tail.runId, tail.createTime, tail.cursor!, streamBatchLimits);
      counts.tailReads++;
      if (tail.stop.signal.aborted) return;
      if (batch.events.length === 0) {
        const rows = await options.sql.query(runExists, [tail.tenantId, tail.runId]);
        if (rows.length === 0) throw notFound("run", tail.runId);
        return;
      }
      retain(tail, batch);
      push(tail, batch.events);
      wake(tail);
      if (!batch.cut) return;
    }
  };

  // Takes the events hints carried, after the cursor; false when one starts past it (a
  // hint went missing, or came as a plain one): then a read by cursor fills the gap.
  const takeCarried = (tail: Tail, carried: readonly CarriedBatch[]): boolean => {
    for (const batch of carried) {
      if (Number(batch.events.at(-1)!.sequence) <= tail.cursor!) continue;
      const skip = tail.cursor! + 1 - Number(batch.events[0]!.sequence);
      if (skip < 0) return false;
      const events = batch.events.slice(skip);
      counts.carriedBatches++;
      retain(tail, { events, sizes: batch.sizes.slice(skip), cut: false });
      push(tail, events);
      wake(tail);
    }
    return true;
  };

  const follow = async (tail: Tail, key: string) => {
    while (!tail.stop.signal.aborted) {
      await tail.subscription.wait(tail.stop.signal);
      if (tail.stop.signal.aborted) return;
      try {
        const wakes = tail.subscription.take();
        if (!wakes.uncovered && takeCarried(tail, wakes.carried)) continue;
        await readNew(tail);
      } catch (error) {
        // Every caller at the tail ends with it, as each one's own failed read ended it
        // before; callers that come back (to this process or another) open a new tail.
        if (!tail.stop.signal.aborted) tail.failure = error;
        close(tail, key);
        return;
      }
    }
  };

  const changed = (tail: Tail, signal: AbortSignal) =>
    new Promise<void>((resolve) => {
      const done = () => {
        tail.waiters.delete(done);
        signal.removeEventListener("abort", done);
        resolve();
      };
      tail.waiters.add(done);
      signal.addEventListener("abort", done, { once: true });
    });

  // The retained events after `cursor` (one message's worth); [] at the tail; undefined before the window.
  const retainedAfter = (tail: Tail, cursor: number): EventRecord[] | undefined => {
    if (cursor >= tail.cursor!) return [];
    const first = tail.cursor! - tail.retained.length + 1;
    if (cursor + 1 < first) return undefined;
    const from = cursor + 1 - first;
    let to = from;
    let bytes = 0;
    while (to < tail.retained.length && to - from < streamBatchLimits.maxEvents) {
      bytes += tail.sizes[to]!;
      if (bytes > streamBatchLimits.maxBytes && to > from) break;
      to++;
    }
    return tail.retained.slice(from, to);
  };

  const openTail = (key: string, tenantId: string, runId: string, createTime: string): Tail => {
    const tail: Tail = {
      tenantId,
      runId,
      createTime,
      subscription: options.hub.subscribe(tenantId, runId),
      stop: new AbortController(),
      members: 0,
      cursor: undefined,
      retained: [],
      sizes: [],
      bytes: 0,
      failure: undefined,
      waiters: new Set(),
      parked: new Set(),
    };
    tails.set(key, tail);
    return tail;
  };

  return {
    join(tenantId, runId, createTime) {
      const key = `${tenantId}/${runId}`;
      const tail = tails.get(key) ?? openTail(key, tenantId, runId, createTime);
      tail.members++;
      let left = false;
      let parkedListener: TailListener | undefined;
      return {
        start(lastSequence) {
          if (tail.cursor !== undefined || tail.failure !== undefined) return;
          tail.cursor = lastSequence;
          void follow(tail, key);
        },
        async next(cursor, signal) {
          while (!signal.aborted) {
            if (tail.failure !== undefined) throw tail.failure;
            const retained = retainedAfter(tail, cursor);
            if (retained !== undefined && retained.length > 0) return retained;
            if (retained === undefined) {
              const seen = tail.cursor;
              const batch = await readEventBatch(options.sql, tenantId, runId, tail.createTime, cursor, streamBatchLimits);
              counts.replayReads++;
              if (batch.events.length > 0) return batch.events;
              // Nothing stored after a cursor the tail has passed: the run was deleted,
              // which the tail's next wake-up (the poll) finds and reports. Unless the
              // tail moved or failed during the read: then look again at once.
              if (tail.cursor !== seen || tail.stop.signal.aborted) continue;
            }
            await changed(tail, signal);
          }
          return [];
        },
        park(cursor, listener) {
          if (tail.failure !== undefined) throw tail.failure;
          if (cursor < tail.cursor!) return false;
          parkedListener = listener;
          tail.parked.add(listener);
          return true;
        },
        leave() {
          if (left) return;
          left = true;
          if (parkedListener !== undefined) tail.parked.delete(parkedListener);
          if (--tail.members === 0) close(tail, key);
        },
      };
    },
    census() {
      let retainedEvents = 0;
      let retainedBytes = 0;
      let parked = 0;
      for (const tail of tails.values()) {
        retainedEvents += tail.retained.length;
        retainedBytes += tail.bytes;
        parked += tail.parked.size;
      }
      return { tails: tails.size, retainedEvents, retainedBytes, parked, ...counts };
    },
  };
}
