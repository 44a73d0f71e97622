/**
 * One stream message's worth of a run's log: the events after a cursor, at most a count
 * and about a number of bytes, never fewer than one. A count alone does not bound a
 * message: 500 events of 100 KiB were one 50 MB message, held whole per stream by pg's
 * result, the proto objects and the serialized frame (issue 11: 40 readers, +5.9 GB).
 * The cut is made in Postgres, so an over-sized batch is never read into the process.
 */
import type { Sql } from "../db/database.js";
import type { EventRecord } from "../runs/event-append.js";

/** How much one batch may hold. */
export interface BatchLimits {
  /** Most events in one batch. */
  readonly maxEvents: number;
  /** Most bytes of event JSON (data and type) in one batch, unless its first event alone is larger. */
  readonly maxBytes: number;
}

/**
 * Most per stream message: 500 events, and 256 KiB of event JSON unless one event alone
 * is larger. The transport holds about one message per stream while its client is slow
 * (the handler is not pulled until the last one drained), so this is what a stalled
 * reader costs: 40 of them on 100 KiB events grew the server by 5.9 GB with 500-event
 * messages (bench/RESULTS.md, slow-readers). The shared tail reads by the same limits.
 */
export const streamBatchLimits: BatchLimits = { maxEvents: 500, maxBytes: 256 * 1024 };

/** A batch, and whether events after it were left for the next one. */
export interface EventBatch {
  readonly events: EventRecord[];
  /** Each event's bytes of JSON (data and type), as the limits count them. */
  readonly sizes: number[];
  /** True when a limit cut the batch: more events are stored after it. */
  readonly cut: boolean;
}

// run_events is partitioned by week of create_time (migration 0009), and each step below
// probes every week's primary key unless the plan can skip weeks: $6 is the run's own
// create_time, and no event of a run is written before the run (the run's row lock
// orders them), so weeks that ended before it are pruned at execution. A day of margin
// covers a database clock stepped back, and now() a create_time stored in the future.
// run_events_kept has no time bound and is always read.
const sinceRunCreated = "e.create_time >= least($6::timestamptz, now()) - interval '24 hours'";

// Walks the primary key (tenant_id, run_id, sequence) one event at a time from the
// cursor, summing each event's JSON size, and stops one event past a limit (that event
// only tells that the batch was cut). A recursive walk, because a window sum over a
// range scan cannot stop early: it would detoast all $4 events to return a few. The
// size is the JSON text's, not pg_column_size's: that one is the compressed size.
const batchStatement = `
  with recursive walk as (
    (select e.sequence, coalesce(octet_length(e.data::text), 0) + octet_length(e.type) as bytes, 1 as events
     from run_events e
     where e.tenant_id = $1::uuid and e.run_id = $2::uuid and e.sequence > $3::bigint and ${sinceRunCreated}
     order by e.sequence limit 1)
    union all
    select next.sequence, walk.bytes + next.size, walk.events + 1
    from walk cross join lateral (
      select e.sequence, coalesce(octet_length(e.data::text), 0) + octet_length(e.type) as size
      from run_events e
      where e.tenant_id = $1::uuid and e.run_id = $2::uuid and e.sequence > walk.sequence
        and ${sinceRunCreated}
      order by e.sequence limit 1
    ) as next
    where walk.events <= $4::int and (walk.bytes <= $5::bigint or walk.events = 1)
  )
  select e.run_id, e.sequence, e.type, e.data, e.status, e.event_id, e.create_time, walk.bytes as walked_bytes,
    (select count(*) from walk)::int as walked
  from walk join run_events e on e.tenant_id = $1::uuid and e.run_id = $2::uuid and e.sequence = walk.sequence
    and ${sinceRunCreated}
  where walk.events <= $4::int and (walk.bytes <= $5::bigint or walk.events = 1)
  order by e.sequence`;

/** The next batch of the run's log after `afterSequence`, in sequence order; `runCreateTime` is the run's create_time. */
export async function readEventBatch(
  sql: Sql,
  tenantId: string,
  runId: string,
  runCreateTime: string,
  afterSequence: number | string,
  limits: BatchLimits,
): Promise<EventBatch> {
  const rows = await sql.query<EventRecord & { walked: number; walked_bytes: number }>(batchStatement, [
    tenantId,
    runId,
    afterSequence,
    limits.maxEvents,
    limits.maxBytes,
    runCreateTime,
  ]);
  const walked = rows[0]?.walked ?? 0;
  // walked_bytes is the running total up to each event: its size is the step from the last.
  const sizes = rows.map((row, index) => row.walked_bytes - (index === 0 ? 0 : rows[index - 1]!.walked_bytes));
  const events = rows.map(({ walked: _walked, walked_bytes: _bytes, ...event }) => event);
  return { events, sizes, cut: walked > events.length };
}
