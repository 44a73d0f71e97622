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
import { invalidArgument } from "../errors.js";
import type { RunRecord } from "../runs/run-record.js";
import { getRun } from "../runs/run-queries.js";
import { isTerminal, type RunStatus } from "../runs/run-status.js";
import type { SharedTails, TailMember } from "./shared-tail.js";
import type { EventRecord } from "../runs/event-append.js";

/** One message of the stream: the run (first message only) or a batch of events. */
export type StreamItem =
  | { readonly run: RunRecord; readonly events: readonly EventRecord[] }
  | { readonly run: undefined; readonly events: readonly EventRecord[] };

/** Whether `event` is the run's terminal status event, after which its stream ends. */
export function endsStream(event: EventRecord): boolean {
  return event.type === "status" && event.status !== null && isTerminal(event.status as RunStatus);
}

/** A stream's start: its place on the run's tail, and the run's state read after joining it. */
export interface OpenedRunEvents {
  readonly member: TailMember;
  readonly run: RunRecord;
  /** The stream ends with the run itself: it is settled and the caller has every event. */
  readonly complete: boolean;
}

/**
 * Joins the run's tail and reads its state (NOT_FOUND for an unknown run); the caller
 * must `leave` the member. Shared by both ways of serving a stream: this module's
 * generator and the push path (api/run-event-push.ts).
 */
export async function openRunEvents(
  sql: Sql,
  tails: SharedTails,
  tenantId: string,
  runId: string,
  afterSequence: number,
): Promise<OpenedRunEvents> {
  const run = await getRun(sql, tenantId, runId);
  // The stored id, not the caller's spelling: hints and polls name runs as Postgres
  // prints them (lower case), and the hub matches ids as strings.
  const member = tails.join(tenantId, run.id, run.create_time);
  try {
    // Re-read after joining: a change between the two reads is seen either in this
    // state or, as events, by the cursor loop that follows.
    const current = await getRun(sql, tenantId, run.id);
    const last = Number(current.last_sequence);
    // No client has seen an event past the run's last (an event is delivered only once it
    // and last_sequence are committed). Such a cursor would also skip the run's terminal
    // event, which is what ends a stream: it stayed open forever on keep-alives.
    if (afterSequence > last) throw invalidArgument("afterSequence", `is past the run's last event (sequence ${last})`);
    member.start(last);
    const complete = isTerminal(current.status) && afterSequence >= last;
    return { member, run: current, complete };
  } catch (error) {
    member.leave();
    throw error;
  }
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
  const { member, run, complete } = await openRunEvents(sql, tails, tenantId, runId, afterSequence);
  try {
    yield { run, events: [] };
    let cursor = afterSequence;
    if (complete) return;
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
