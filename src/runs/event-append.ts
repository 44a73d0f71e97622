/**
 * Appending to the run event log (IngestRunEvents; ReportRunEvents adds a lease check to
 * the lock, see workers/report-events.ts). The log's writers live in runs/ beside the
 * status changes (lifecycle/), which also write to it; events/ reads it and runs the
 * live hub. Sequences are gapless per run: an append locks the run row, reads `last_sequence`, inserts the new
 * events after it and moves it, all in one transaction, so concurrent writers queue on
 * the row lock and never leave a hole or a duplicate.
 */
import type { Sql } from "../db/database.js";
import { failedPrecondition, invalidArgument, notFound } from "../errors.js";
import { isUuid } from "../ids.js";
import { notifyWithEventsExpression } from "./lifecycle/notify-channel.js";
import type { RunStatus } from "./run-status.js";
import { isTerminal } from "./run-status.js";

/** A stored event (snake_case: the row as Postgres returns it). */
export interface EventRecord {
  run_id: string;
  /** bigint arrives as a string from pg. */
  sequence: string;
  type: string;
  data: unknown;
  status: RunStatus | null;
  event_id: string | null;
  create_time: string;
}

/** An event to append. */
export interface NewEvent {
  readonly type: string;
  readonly data: unknown;
  readonly eventId: string;
}

/** The columns of an EventRecord, in its order. */
export const eventColumns = "run_id, sequence, type, data, status, event_id, create_time";

// Primary key of runs; the row lock serialises appenders of one run.
const lockRun = `select status, last_sequence from runs where tenant_id = $1::uuid and id = $2::uuid for update`;

// run_events_event_id (tenant_id, run_id, event_id).
const findByEventIds = `
  select ${eventColumns} from run_events
  where tenant_id = $1::uuid and run_id = $2::uuid and event_id = any($3::text[])`;

// Inserts the batch after $3 and moves last_sequence past it; one NOTIFY per batch,
// carrying the events when they are few and small (notify-channel.ts).
const appendStatement = `
  with e as (
    insert into run_events (tenant_id, run_id, sequence, type, data, event_id)
    select $1::uuid, $2::uuid, $3::bigint + x.ordinality, x.type, x.data, x.event_id
    from unnest($4::text[], $5::jsonb[], $6::text[]) with ordinality as x(type, data, event_id, ordinality)
    returning ${eventColumns}
  ), r as (
    update runs set last_sequence = $3::bigint + (select count(*) from e)
    where tenant_id = $1::uuid and id = $2::uuid
    returning tenant_id, id, last_sequence
  ), n as (select ${notifyWithEventsExpression("r", "e")} from r)
  select e.*, (select count(*) from n) as notified from e order by e.sequence`;

/** Refuses batches no log accepts (before any statement runs). */
export function checkEvents(events: readonly NewEvent[]): void {
  if (events.length === 0) throw invalidArgument("events", "at least one event is required");
  if (events.length > 1000) throw invalidArgument("events", "at most 1000 events per call");
  events.forEach((event, index) => {
    if (event.type === "" || event.type.length > 64) throw invalidArgument(`events[${index}].type`, "must be 1 to 64 characters");
    if (event.type === "status") throw invalidArgument(`events[${index}].type`, `"status" is reserved for the server`);
    if (event.eventId.length > 128) throw invalidArgument(`events[${index}].eventId`, "must be at most 128 characters");
  });
}

/**
 * Appends events. Events whose `eventId` is already in the run's log (or earlier in the
 * same batch) are not appended again; the stored copy is returned in their place.
 */
export async function appendEvents(sql: Sql, tenantId: string, runId: string, events: readonly NewEvent[]): Promise<EventRecord[]> {
  if (!isUuid(runId)) throw notFound("run", runId);
  checkEvents(events);
  return sql.transaction(async (transaction) => {
    const [run] = await transaction.query<{ status: RunStatus; last_sequence: string }>(lockRun, [tenantId, runId]);
    if (run === undefined) throw notFound("run", runId);
    if (isTerminal(run.status)) throw failedPrecondition(`run is ${run.status}; its log is closed`, "RUN_ALREADY_FINISHED");
    return appendToLockedRun(transaction, tenantId, runId, run.last_sequence, events);
  });
}

/**
 * The append itself, inside the caller's transaction, which already holds the run's row
 * lock and read its `last_sequence` (appendEvents, or the lease-fenced append in
 * workers/report-events.ts): the lock is what keeps sequences gapless.
 */
export async function appendToLockedRun(
  transaction: Sql,
  tenantId: string,
  runId: string,
  lastSequence: string,
  events: readonly NewEvent[],
): Promise<EventRecord[]> {
  const ids = [...new Set(events.map((event) => event.eventId).filter((id) => id !== ""))];
  const existing = ids.length === 0 ? [] : await transaction.query<EventRecord>(findByEventIds, [tenantId, runId, ids]);
  const known = new Map(existing.map((event) => [event.event_id!, event]));
  const fresh: NewEvent[] = [];
  const seen = new Set<string>();
  for (const event of events) {
    if (event.eventId !== "" && (known.has(event.eventId) || seen.has(event.eventId))) continue;
    if (event.eventId !== "") seen.add(event.eventId);
    fresh.push(event);
  }
  const inserted =
    fresh.length === 0
      ? []
      : await transaction.query<EventRecord & { notified?: unknown }>(appendStatement, [
          tenantId,
          runId,
          lastSequence,
          fresh.map((event) => event.type),
          fresh.map((event) => JSON.stringify(event.data ?? null)),
          fresh.map((event) => (event.eventId === "" ? null : event.eventId)),
        ]);
  const byId = new Map(known);
  for (const event of inserted) if (event.event_id !== null) byId.set(event.event_id, event);
  const anonymous = inserted.filter((event) => event.event_id === null);
  let next = 0;
  // Answer in request order: each event as stored, new or found again.
  return events.map((event) => (event.eventId !== "" ? byId.get(event.eventId)! : anonymous[next++]!)).map(stripNotified);
}

function stripNotified(event: EventRecord & { notified?: unknown }): EventRecord {
  const { notified: _notified, ...rest } = event;
  return rest;
}
