/**
 * Migration 0004: stored times and durations within what the API can carry and now
 * allows. Before the boundary checked them (issue 11), CreateRun over binary protocols
 * stored a `timeout` of 10^15 s or a `schedule_time` in year 10000, and every JSON read
 * including such a run failed ("cannot encode message google.protobuf.Duration to JSON").
 *
 * Repairs, in one pass over each table (values written in these columns by hand are
 * repaired the same way):
 * - runs.timeout_ms above 366 days, the most CreateRun now accepts: 366 days. A deadline
 *   already fixed from it (start + timeout, at the first claim) moves to start + 366
 *   days, so the run is held to the timeout reads show.
 * - runs.schedule_time outside the Timestamp range (0001-01-01..9999-12-31): the nearest
 *   end of it, status untouched. A SCHEDULED run in year 10000 stays SCHEDULED until
 *   9999-12-31T23:59:59.999999Z, so what it does is unchanged: it never comes due.
 *   Clamping it to the new bound (a year from now) would start, within the year, a run
 *   that no one planned for then; its creator can cancel or delete it. Times inside the
 *   range but more than 366 days ahead stay: they were accepted, reads can show them,
 *   and moving them would change when those runs start.
 * - every other time the API shows from runs, workflows, workflow versions, tenants and
 *   API keys (all written by the server's clock, so only a hand edit puts them out of
 *   range): clamped into the Timestamp range. These tables are scanned anyway or small.
 *
 * Left as stored, on purpose:
 * - run_events.create_time: only the server's clock writes it, and the event log is by
 *   far the largest table; scanning it would hold every replica's start for the sake of
 *   values no API call can produce. Reads clamp them (OutOfRange in proto-convert.ts).
 * - workflow versions' defaults (`timeoutMs`, `backoffMs` in the defaults JSON): a
 *   version is immutable and its content hash covers them; rewriting them would make the
 *   hash lie. A stored default timeout above 366 days is cut to 366 days when a run
 *   takes it (create-run.ts), and one beyond the Duration range reads clamped.
 *
 * Constraints, so the database refuses such values from now on, on the columns callers
 * set. runs.timeout_ms and runs.schedule_time: validated, at the cost of one more scan
 * of runs under the ALTER's exclusive lock (1M runs, 434 MB: repair 1.3 s, validation
 * 1.1 s, blocking other replicas' use of runs for that second; NOT VALID took 4 ms).
 * NOT VALID would not be cheaper in the end: Postgres still checks every later UPDATE,
 * so a bad run written by an older replica while this ran would fail every claim that
 * touches it, whereas a failed validation rolls this migration back, to be retried
 * (and that run repaired) at the next start. Workflow versions' default timeout: NOT
 * VALID, on purpose, as old versions keep theirs (above) and versions are never
 * updated. Server-written times get none: the clock is not a caller.
 *
 * The bounds are written out rather than imported: a migration must mean tomorrow what
 * it meant when it landed. Forward-only: never edited once landed.
 */
import { Migration } from "@mikro-orm/migrations";

// 366 days in milliseconds (runs_service.proto, CreateRunRequest.timeout).
const maxTimeoutMs = 31_622_400_000;
// google/protobuf/timestamp.proto's range at Postgres' microsecond precision.
const minTime = "0001-01-01 00:00:00+00";
const maxTime = "9999-12-31 23:59:59.999999+00";

/** `column` moved into the Timestamp range; null stays null (as least/greatest would not keep it). */
function clamped(column: string): string {
  return `case when ${column} < '${minTime}' then '${minTime}'::timestamptz when ${column} > '${maxTime}' then '${maxTime}'::timestamptz else ${column} end`;
}

function outOfRange(column: string): string {
  return `${column} < '${minTime}' or ${column} > '${maxTime}'`;
}

/** Server-written times the API shows, per table (runs' schedule_time is set by callers). */
const clockTimes: Record<string, readonly string[]> = {
  workflows: ["create_time"],
  workflow_versions: ["create_time"],
  tenants: ["create_time"],
  api_keys: ["create_time", "revoke_time"],
};

/** Times and durations within the API's ranges. */
export class TimeBounds extends Migration {
  override name = "0004-time-bounds";

  override up(): void {
    const runTimes = ["schedule_time", "create_time", "update_time", "start_time", "end_time"];
    this.addSql(`
      update runs set
        deadline_time = case when timeout_ms > ${maxTimeoutMs} and deadline_time is not null
          then least(deadline_time, start_time + interval '366 days') else deadline_time end,
        timeout_ms = case when timeout_ms > ${maxTimeoutMs} then ${maxTimeoutMs} else timeout_ms end,
        ${runTimes.map((column) => `${column} = ${clamped(column)}`).join(",\n        ")}
      where timeout_ms > ${maxTimeoutMs} or ${runTimes.map(outOfRange).join(" or ")}`);
    for (const [table, columns] of Object.entries(clockTimes)) {
      this.addSql(
        `update ${table} set ${columns.map((column) => `${column} = ${clamped(column)}`).join(", ")} where ${columns.map(outOfRange).join(" or ")}`,
      );
    }
    // One ALTER, so one scan validates both.
    this.addSql(`
      alter table runs
        add constraint runs_timeout_bounded check (timeout_ms <= ${maxTimeoutMs}),
        add constraint runs_schedule_time_in_range check (schedule_time >= '${minTime}' and schedule_time <= '${maxTime}')`);
    this.addSql(`
      alter table workflow_versions
        add constraint workflow_versions_default_timeout_bounded check ((defaults->>'timeoutMs')::numeric <= ${maxTimeoutMs}) not valid`);
  }
}
