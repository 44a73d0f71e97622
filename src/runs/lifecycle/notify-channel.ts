/**
 * The NOTIFY channel that tells every server process "run X has events up to N". A hint
 * only: subscribers read rows by (run, sequence > cursor), and a poller covers missed
 * hints. One NOTIFY per committed statement, never one per event: NOTIFYing commits
 * take a global lock.
 */

/** Channel name. */
export const eventsChannel = "runline_run_events";

/** SQL expression for the payload, given the alias of an updated `runs` row. */
export function notifyExpression(alias: string): string {
  return `pg_notify('${eventsChannel}', ${alias}.tenant_id::text || '/' || ${alias}.id::text || '/' || ${alias}.last_sequence::text)`;
}

/** Drops the `pg_notify` column that a statement selecting notifyExpression returns beside its row. */
export function withoutNotifyColumn<Row extends object>(row: Row & { pg_notify?: unknown }): Row {
  const { pg_notify: _notify, ...rest } = row;
  return rest as Row;
}

/** Splits a payload into its parts; undefined when malformed. */
export function parseNotification(payload: string): { tenantId: string; runId: string; lastSequence: number } | undefined {
  const [tenantId, runId, sequence] = payload.split("/");
  if (tenantId === undefined || runId === undefined || sequence === undefined) return undefined;
  return { tenantId, runId, lastSequence: Number(sequence) };
}

/**
 * The channel that tells every process "tenant T has newly claimable runs", so waiting
 * claimers wake at once. Coalesced: at most one NOTIFY per tenant per event-loop turn.
 */
export const queueChannel = "runline_queue";
