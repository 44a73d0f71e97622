/**
 * Reading the run event log by cursor (the log is written in runs/: event-append.ts and
 * the lifecycle's status events). Sequences are gapless per run, so a reader that
 * resumes after the last sequence it saw misses nothing.
 */
import type { Sql } from "../db/database.js";
import { eventColumns, type EventRecord } from "../runs/event-append.js";

// Primary key (tenant_id, run_id, sequence): a range scan from the cursor.
const listAfter = `
  select ${eventColumns} from run_events
  where tenant_id = $1::uuid and run_id = $2::uuid and sequence > $3::bigint
  order by sequence limit $4::int`;

/** Up to `limit` events after `afterSequence`, in sequence order. */
export async function listEventsAfter(
  sql: Sql,
  tenantId: string,
  runId: string,
  afterSequence: number | string,
  limit: number,
): Promise<EventRecord[]> {
  return sql.query<EventRecord>(listAfter, [tenantId, runId, afterSequence, limit]);
}
