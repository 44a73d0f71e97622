/**
 * The NOTIFY channel that tells every server process "run X has events up to N". A hint:
 * subscribers read rows by (run, sequence > cursor), and a poller covers missed hints.
 * One NOTIFY per committed statement, never one per event: NOTIFYing commits take a
 * global lock. An append of a few small events carries them in the hint itself
 * (`notifyWithEventsExpression`), so that every process's shared tail takes them from
 * the notification instead of reading them back: one statement fewer per process and
 * batch, and no round trip between the commit and the subscribers.
 */

/** Channel name. */
export const eventsChannel = "runline_run_events";

/** The plain hint's payload, `tenant/run/last_sequence`, given the alias of a `runs` row. */
function hintPayload(alias: string): string {
  return `${alias}.tenant_id::text || '/' || ${alias}.id::text || '/' || ${alias}.last_sequence::text`;
}

/** SQL expression for the payload, given the alias of an updated `runs` row. */
export function notifyExpression(alias: string): string {
  return `pg_notify('${eventsChannel}', ${hintPayload(alias)})`;
}

/** Drops the `pg_notify` column that a statement selecting notifyExpression returns beside its row. */
export function withoutNotifyColumn<Row extends object>(row: Row & { pg_notify?: unknown }): Row {
  const { pg_notify: _notify, ...rest } = row;
  return rest as Row;
}

/**
 * Events carried in a hint: at most this many, and a payload under Postgres' 8,000-byte
 * limit with room to spare (pg_notify fails at the limit; a larger batch sends the plain hint).
 */
const carriedEventsMax = 64;
const carriedPayloadMaxBytes = 7_900;

/**
 * The hint for an append: the plain hint, followed by `/` and the appended events as a
 * JSON array when they fit. `r` is the alias of the updated `runs` row, `e` that of the
 * inserted events (EventRecord columns). Each event is `[sequence, type, data, event_id,
 * create_time, size]`, every value as the reader would get it from a row (text for
 * bigint and timestamptz, in this session's settings, as the pool's sessions share them);
 * size is the JSON size the batch limits count. Events whose stored JSON is large are not
 * even rendered: their binary size alone rules them out.
 */
export function notifyWithEventsExpression(r: string, e: string): string {
  const hint = hintPayload(r);
  const carried = `(select json_agg(json_build_array(${e}.sequence::text, ${e}.type, ${e}.data, ${e}.event_id, ${e}.create_time::text,
      coalesce(octet_length(${e}.data::text), 0) + octet_length(${e}.type)) order by ${e}.sequence)::text from ${e})`;
  const small = `(select count(*) <= ${carriedEventsMax} and coalesce(sum(pg_column_size(${e}.data)), 0) < ${carriedPayloadMaxBytes} from ${e})`;
  return `pg_notify('${eventsChannel}', case when ${small} then (select case when octet_length(h.full) < ${carriedPayloadMaxBytes} then h.full else ${hint} end
      from (select ${hint} || '/' || ${carried} as full) as h) else ${hint} end)`;
}

/** A hint: the run and its last sequence; `carried`, the JSON text of the events it carried (see notifyWithEventsExpression). */
export interface Notification {
  readonly tenantId: string;
  readonly runId: string;
  readonly lastSequence: number;
  readonly carried?: string;
}

/** Splits a payload into its parts; undefined when malformed. The carried events stay JSON text (events/event-hub.ts reads them). */
export function parseNotification(payload: string): Notification | undefined {
  const first = payload.indexOf("/");
  const second = payload.indexOf("/", first + 1);
  if (first < 0 || second < 0) return undefined;
  const third = payload.indexOf("/", second + 1);
  const hint = { tenantId: payload.slice(0, first), runId: payload.slice(first + 1, second) };
  if (third < 0) return { ...hint, lastSequence: Number(payload.slice(second + 1)) };
  return { ...hint, lastSequence: Number(payload.slice(second + 1, third)), carried: payload.slice(third + 1) };
}

/**
 * The channel that tells every process "tenant T has newly claimable runs", so waiting
 * claimers wake at once. Coalesced: at most one NOTIFY per tenant per event-loop turn.
 */
export const queueChannel = "runline_queue";
