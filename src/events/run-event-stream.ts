/**
 * StreamRunEvents as a domain generator: the run's current state first, then the stored
 * events after the cursor, then live ones, ending after the terminal status event. The
 * events come through the run's shared tail (shared-tail.ts): one reader per watched run
 * per process, from which each stream takes the events after its own cursor.
 *
 * The seam between replay and live is safe because the tail is joined (its hub
 * subscription opened) before anything is read: a hint that arrives during the replay
 * leaves the subscription pending, and every read is "sequence > cursor", so nothing is
 * skipped or repeated.
 */
import type { Sql } from "../db/database.js";
import type { RunRecord } from "../runs/run-record.js";
import { getRun } from "../runs/run-queries.js";
import { isTerminal, type RunStatus } from "../runs/run-status.js";
import type { SharedTails } from "./shared-tail.js";
import type { EventRecord } from "../runs/event-append.js";

/** One message of the stream: the run (first message only) or a batch of events. */
export type StreamItem =
  | { readonly run: RunRecord; readonly events: readonly EventRecord[] }
  | { readonly run: undefined; readonly events: readonly EventRecord[] };

function endsStream(event: EventRecord): boolean {
  return event.type === "status" && event.status !== null && isTerminal(event.status as RunStatus);
}

/** Streams a run's events after `afterSequence` until its terminal event or `signal`. */
export async function* streamRunEvents(
  sql: Sql,
  tails: SharedTails,
  tenantId: string,
  runId: string,
  afterSequence: number,
  signal: AbortSignal,
): AsyncGenerator<StreamItem> {
  const run = await getRun(sql, tenantId, runId);
  // The stored id, not the caller's spelling: hints and polls name runs as Postgres
  // prints them (lower case), and the hub matches ids as strings.
  const member = tails.join(tenantId, run.id, run.create_time);
  try {
    // Re-read after joining: a change between the two reads is seen either in this
    // state or, as events, by the cursor loop below.
    const current = await getRun(sql, tenantId, run.id);
    member.start(Number(current.last_sequence));
    yield { run: current, events: [] };
    let cursor = afterSequence;
    if (isTerminal(current.status) && cursor >= Number(current.last_sequence)) return;
    while (!signal.aborted) {
      const events = await member.next(cursor, signal);
      if (events.length === 0) continue;
      yield { run: undefined, events };
      cursor = Number(events[events.length - 1]!.sequence);
      if (events.some(endsStream)) return;
    }
  } finally {
    member.leave();
  }
}
