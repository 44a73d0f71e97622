/**
 * Migration 0009: retention (issue 16). Tenants get a retention period for finished
 * runs, and `run_events` becomes a partitioned table whose old weeks are dropped whole.
 *
 * Tenants: `retention_seconds`, how long a finished run is kept after its end time;
 * 0 keeps runs forever. New tenants get 30 days. Tenants that exist now get 0: an
 * upgrade never deletes what the server used to keep; their operator chooses a period.
 *
 * The event log's layout:
 *
 *   run_events                 partitioned by LIST (kept)
 *   ├── run_events_kept        kept = true: one plain table
 *   └── run_events_history     kept = false, partitioned by RANGE (create_time)
 *       ├── run_events_legacy  every event stored before this migration, up to its time
 *       ├── run_events_20250106 one week (Monday 00:00 UTC to the next), and so on
 *       └── …
 *
 * Events are written with kept = false, so they land in the week of their create_time
 * (the server creates weeks ahead: retention/event-partitions.ts). A week is dropped
 * whole (DETACH … CONCURRENTLY, then DROP) once it is older than the longest finite
 * retention: by then the finished runs of every tenant it serves have expired and been
 * deleted, and their events there are unreachable (every reader looks the run up
 * first). The hard part is that a week may still hold events of runs that must stay:
 * runs still live (a run waiting on an interrupt for months), runs that finished
 * later, runs of tenants that keep runs forever (0) or longer. Before a week is
 * detached, the events of every run that still exists are moved to run_events_kept by
 * an UPDATE of the partition key (Postgres moves the row). Each event is moved at most
 * once in its life; the rows of deleted runs go with their week. When a kept run is
 * deleted later (its retention, DeleteRun), its kept events are deleted by index: few
 * rows, for runs that outlived their week.
 *
 * Keys. A unique index on a partitioned table must contain its partition keys, so
 * (tenant_id, run_id, sequence) cannot be unique on run_events itself. There is no
 * index on the parent: each leaf has its own primary key (tenant_id, run_id, sequence)
 * and unique index (tenant_id, run_id, event_id), the ones readers use. Within a leaf,
 * Postgres enforces both. Across leaves, sequences stay gapless and unique because every
 * append allocates them from runs.last_sequence under the run's row lock
 * (runs/event-append.ts, the transition statements), and an event id is looked up in
 * all leaves under that same lock before it is appended; no statement uses ON CONFLICT
 * on run_events. A move keeps a run's sequences (one statement moves all of a run's
 * rows of that week), so the kept leaf's keys hold too.
 *
 * Foreign keys. run_events → runs and idempotency_keys → runs (both ON DELETE CASCADE)
 * are dropped. A cascade deletes row by row, in every leaf, for each run deleted:
 * exactly what dropping weeks avoids. The key's cascade was a sequential scan of
 * idempotency_keys per deleted run (no index on run_id). Runs are deleted in two
 * places, which now delete their events and key themselves: DeleteRun
 * (runs/run-control.ts) and retention (retention/run-expiry.ts, by the key's primary
 * key through runs.idempotency_key).
 *
 * Existing rows are not copied: the old table becomes the first leaf, run_events_legacy,
 * [MINVALUE, cutover) where cutover is just after this migration's time. It gains the `kept`
 * column with a constant default (a catalog change, no rewrite) and keeps its primary
 * key and event id index under new names. One scan restamps events stamped after the
 * cutover (hand edits; see below), and ATTACH checks every row against the bound in
 * another; see README (Retention) for the time per million events. It is dropped like
 * any week once its bound is old enough, its surviving runs' events moved first.
 *
 * webhook_deliveries and webhook_attempts are not partitioned: they are a few rows per
 * run (one per status change and target, and its attempts), deliveries are updated
 * while pending, and both are deleted with their runs in the same bounded batches, by
 * index, like the runs themselves (retention/run-expiry.ts).
 *
 * Forward-only: never edited once landed.
 */
import { Migration } from "@mikro-orm/migrations";

/** Tenants' retention, and run_events partitioned by time. */
export class EventPartitions extends Migration {
  override name = "0009-event-partitions";

  override up(): void {
    this.addSql(`alter table tenants add column retention_seconds integer not null default 0`);
    this.addSql(`alter table tenants alter column retention_seconds set default 2592000`);
    // 0, or 1 day (idempotency keys are promised for 24 h and die with their run) to 3,660 days.
    this.addSql(`
      alter table tenants add constraint tenants_retention_bounded
        check (retention_seconds = 0 or retention_seconds between 86400 and 316224000)`);

    this.addSql(`alter table run_events drop constraint run_events_tenant_id_run_id_fkey`);
    this.addSql(`alter table idempotency_keys drop constraint idempotency_keys_tenant_id_run_id_fkey`);

    this.addSql(`alter table run_events rename to run_events_legacy`);
    this.addSql(`alter index run_events_pkey rename to run_events_legacy_pkey`);
    this.addSql(`alter index run_events_event_id rename to run_events_legacy_event_id`);
    this.addSql(`alter table run_events_legacy add column kept boolean not null default false`);

    this.addSql(`
      create table run_events (
        tenant_id uuid not null,
        run_id uuid not null,
        sequence bigint not null constraint run_events_sequence_check check (sequence > 0),
        type text not null,
        data jsonb,
        status text,
        event_id text,
        create_time timestamptz not null default now(),
        kept boolean not null default false
      ) partition by list (kept)`);
    this.addSql(`alter table run_events alter column tenant_id set statistics 0`);
    this.addSql(`create table run_events_kept partition of run_events for values in (true)`);
    // Every leaf: no statistics on tenant_id (0003), its own keys (see "Keys" above).
    this.addSql(`alter table run_events_kept alter column tenant_id set statistics 0`);
    this.addSql(`alter table run_events_kept add constraint run_events_kept_pkey primary key (tenant_id, run_id, sequence)`);
    this.addSql(`create unique index run_events_kept_event_id on run_events_kept (tenant_id, run_id, event_id) where event_id is not null`);
    this.addSql(`create table run_events_history partition of run_events for values in (false) partition by range (create_time)`);
    this.addSql(`alter table run_events_history alter column tenant_id set statistics 0`);

    // The old table becomes the first leaf, up to just after this migration's time (the
    // cutover, 1 µs later: a bound is exclusive); the next leaf runs from there to the
    // next Monday 00:00 UTC, and one more week follows. An event stamped later than the
    // migration's time (only a hand edit can write one: the server stamps now()) is
    // stamped with that time: left as it was, it would hold the first leaf open as long. Hours, not days, in the arithmetic: a day is
    // not 24 h in a session time zone with summer time.
    this.addSql(`update run_events_legacy set create_time = now() where create_time > now()`);
    this.addSql(`
      do $$
      declare
        cutover constant timestamptz := now() + interval '1 microsecond';
        bounds constant timestamptz[] := array[
          cutover,
          date_trunc('week', cutover, 'UTC') + interval '168 hours',
          date_trunc('week', cutover, 'UTC') + interval '336 hours'];
        leaf text;
      begin
        execute format('alter table run_events_history attach partition run_events_legacy for values from (minvalue) to (%L)', cutover);
        for week in 1..2 loop
          leaf := format('run_events_%s', to_char(bounds[week] at time zone 'UTC', 'YYYYMMDD'));
          execute format('create table %I (like run_events including defaults including constraints)', leaf);
          execute format('alter table %I alter column tenant_id set statistics 0', leaf);
          execute format('alter table %I add constraint %I primary key (tenant_id, run_id, sequence)', leaf, leaf || '_pkey');
          execute format('create unique index %I on %I (tenant_id, run_id, event_id) where event_id is not null', leaf || '_event_id', leaf);
          execute format('alter table run_events_history attach partition %I for values from (%L) to (%L)', leaf, bounds[week], bounds[week + 1]);
        end loop;
      end $$`);
  }
}
