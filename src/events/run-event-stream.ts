/**
 * StreamRunEvents as a domain generator: the run's current state first, then the stored
 * events after the cursor, then live ones, ending after the terminal status event.
 *
 * The seam between replay and live is safe because the subscription is opened before
 * anything is read: a hint that arrives during the replay leaves the subscription
 * pending, and every read is "sequence > cursor", so nothing is skipped or repeated.
 */
import type { Sql } from "../db/database.js";
import { notFound } from "../errors.js";
import type { RunRecord } from "../runs/run-record.js";
import { getRun } from "../runs/run-queries.js";
import { isTerminal, type RunStatus } from "../runs/run-status.js";
import type { EventHub } from "./event-hub.js";
import { readEventBatch, type BatchLimits } from "./event-batch.js";
import type { EventRecord } from "../runs/event-append.js";

/** One message of the stream: the run (first message only) or a batch of events. */
export type StreamItem =
  | { readonly run: RunRecord; readonly events: readonly EventRecord[] }
  | { readonly run: undefined; readonly events: readonly EventRecord[] };

/**
 * Most per message: 500 events, and 256 KiB of event JSON unless one event alone is
 * larger. The transport holds about one message per stream while its client is slow
 * (the handler is not pulled until the last one drained), so this is what a stalled
 * reader costs: 40 of them on 100 KiB events grew the server by 5.9 GB with 500-event
 * messages (bench/RESULTS.md, slow-readers).
 */
const batchLimits: BatchLimits = { maxEvents: 500, maxBytes: 256 * 1024 };

function endsStream(event: EventRecord): boolean {
  return event.type === "status" && event.status !== null && isTerminal(event.status as RunStatus);
}

/** Streams a run's events after `afterSequence` until its terminal event or `signal`. */
export async function* streamRunEvents(
  sql: Sql,
  hub: EventHub,
  tenantId: string,
  runId: string,
  afterSequence: number,
  signal: AbortSignal,
): AsyncGenerator<StreamItem> {
  const run = await getRun(sql, tenantId, runId);
  // The stored id, not the caller's spelling: hints and polls name runs as Postgres
  // prints them (lower case), and the hub matches ids as strings.
  const subscription = hub.subscribe(tenantId, run.id);
  try {
    // Re-read after subscribing: a change between the two reads is seen either in this
    // state or, as events, by the cursor loop below.
    const current = await getRun(sql, tenantId, run.id);
    yield { run: current, events: [] };
    let cursor = afterSequence;
    if (isTerminal(current.status) && cursor >= Number(current.last_sequence)) return;
    while (!signal.aborted) {
      const { events, cut } = await readEventBatch(sql, tenantId, run.id, cursor, batchLimits);
      if (events.length > 0) {
        yield { run: undefined, events };
        cursor = Number(events[events.length - 1]!.sequence);
        if (events.some(endsStream)) return;
        if (cut) continue;
      }
      await subscription.wait(signal);
      if (events.length === 0 && !signal.aborted) await ensureRunExists(sql, tenantId, run.id);
    }
  } finally {
    subscription.close();
  }
}

async function ensureRunExists(sql: Sql, tenantId: string, runId: string): Promise<void> {
  const rows = await sql.query<{ one: number }>(`select 1 as one from runs where tenant_id = $1::uuid and id = $2::uuid`, [
    tenantId,
    runId,
  ]);
  if (rows.length === 0) throw notFound("run", runId);
}
