/**
 * Where a claimer's queue continues (issue 16, a queue that survives a held vacuum).
 * Each claim of a queue (a tenant and a set of workflows) used to walk runs_queue from
 * its head. While another transaction holds the xmin horizon, the head holds an entry
 * for every run claimed since: the old QUEUED version keeps its entry until VACUUM, and
 * an index scan marks an entry dead only when its tuple is dead to every snapshot. So
 * each claim visited one heap tuple per run claimed so far (bench/RESULTS.md,
 * "held-vacuum": 15,692 buffers for one run after 18,669 claims).
 *
 * A hint is the queue position of the furthest run this process claimed from a queue;
 * the hinted claim statements (claim-statements.ts) start the run's own priority there
 * and read higher priorities from their head, so "highest priority first" stays exact.
 * What a hint can pass over is a run of the same priority that sorts before it (its
 * creating transaction committed late, a claimer that skipped it rolled back, it was
 * handed back or requeued with an early ready time): a claim scans from the head when
 * the hinted ranges find too few runs, and at least every `headScanMs`, so such a run
 * waits at most that long. Another replica claiming the same queue only leaves runs
 * claimed past the hint, which the hinted range skips as it would any locked or claimed
 * run: hints are per process, in memory, and never need to agree.
 */
import { LRUCache } from "lru-cache";

/** A run's place in claim order: higher priority first, then earlier ready time, then id. */
export interface QueuePosition {
  readonly priority: number;
  /** ready_time in microseconds since the epoch (exact; int8 text from Postgres). */
  readonly readyMicros: string;
  readonly id: string;
}

/** Per-process queue hints. */
export interface QueueHints {
  /** Where a claim of `queue` starts, or undefined when it must scan from the head. */
  startOf(queue: string): QueuePosition | undefined;
  /** Records the runs a claim of `queue` took; the hint moves to the furthest of them. */
  claimed(queue: string, positions: readonly QueuePosition[]): void;
}

/** Options of createQueueHints. */
export interface QueueHintOptions {
  /** A queue's claims scan from the head at least this often (ms); 0 turns hints off. */
  readonly headScanMs: number;
  /** Queues remembered at most (least recently claimed forgotten first; default 10,000). */
  readonly maxQueues?: number;
  /** The clock (default Date.now). */
  readonly now?: () => number;
}

/** The key of a queue: a tenant and its claimer's workflow ids (empty: any workflow). */
export function queueKey(tenantId: string, workflowIds: readonly string[]): string {
  return `${tenantId}/${[...workflowIds].sort().join(",")}`;
}

/** Whether `a` comes after `b` in claim order. */
export function isFurther(a: QueuePosition, b: QueuePosition): boolean {
  if (a.priority !== b.priority) return a.priority < b.priority;
  const aMicros = BigInt(a.readyMicros);
  const bMicros = BigInt(b.readyMicros);
  if (aMicros !== bMicros) return aMicros > bMicros;
  return a.id > b.id; // lowercase uuid text sorts as Postgres sorts uuids
}

interface Hint {
  /** The furthest run claimed; undefined until one is. */
  position: QueuePosition | undefined;
  lastHeadScan: number;
}

/** Hints for one process; see the module comment. */
export function createQueueHints(options: QueueHintOptions): QueueHints {
  const now = options.now ?? Date.now;
  const hints = new LRUCache<string, Hint>({ max: options.maxQueues ?? 10_000 });
  return {
    startOf(queue) {
      if (options.headScanMs === 0) return undefined;
      const hint = hints.get(queue);
      const time = now();
      if (hint === undefined) {
        hints.set(queue, { position: undefined, lastHeadScan: time });
        return undefined;
      }
      if (time - hint.lastHeadScan >= options.headScanMs) {
        hint.lastHeadScan = time;
        return undefined;
      }
      return hint.position;
    },
    claimed(queue, positions) {
      if (options.headScanMs === 0 || positions.length === 0) return;
      const hint = hints.get(queue);
      if (hint === undefined) return; // forgotten meanwhile: the next claim scans from the head
      for (const position of positions) if (hint.position === undefined || isFurther(position, hint.position)) hint.position = position;
    },
  };
}
