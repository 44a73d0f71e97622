/**
 * The webhook outbox of a status change (issue 13): CTEs that insert one
 * webhook_deliveries row per target that wants the change, in the statement that makes
 * it, so a delivery commits with its status or not at all. transition-sql.ts's
 * statusEvent adds them beside every status event; webhooks/dispatcher.ts sends them.
 *
 * Targets: the run's own webhook (terminal statuses and INTERRUPTED, or every status with
 * webhook_intermediate) and each enabled tenant endpoint whose filters match (event
 * types, workflows, labels contained in the run's; empty = all), found through
 * webhook_endpoints_enabled. A run without webhook_url and a tenant without endpoints pay
 * one filter and one index probe per changed row.
 */

/** The channel the dispatchers LISTEN on: "deliveries are due". A hint; they also poll. */
export const webhooksChannel = "runline_webhooks";

/** The statuses a run's own webhook always gets; the others only with webhook_intermediate. */
const alwaysSentStatuses = ["SUCCEEDED", "FAILED", "CANCELLED", "TIMED_OUT", "INTERRUPTED"];

/**
 * The CTEs `<name>c` (the wanted deliveries of the rows of `changed`, runs after the
 * change) and `<name>d` (their insert). `payload` is the row as JSON, so a late delivery
 * still describes the run as it was at this change; the workflow's slug, which never
 * changes, is joined when the delivery is claimed (webhooks/delivery-writes.ts), not here
 * on the status change's path.
 *
 * The NOTIFY is an uncorrelated subquery in the insert's WHERE: Postgres evaluates it once
 * per statement, and it notifies only when some delivery was wanted.
 */
export function webhookDeliveries(changed: string, name: string): string {
  const wanted = `${name}c`;
  return `${wanted} as (
    select r.tenant_id, r.id as run_id, null::uuid as endpoint_id, r.webhook_url as url, r.status, r.last_sequence,
      to_jsonb(r) as row
    from ${changed} r
    where r.webhook_url is not null
      and (r.webhook_intermediate or r.status in (${alwaysSentStatuses.map((status) => `'${status}'`).join(", ")}))
    union all
    select r.tenant_id, r.id, ep.id, ep.url, r.status, r.last_sequence, to_jsonb(r)
    from ${changed} r
    join webhook_endpoints ep on ep.tenant_id = r.tenant_id and not ep.disabled
    where (cardinality(ep.event_types) = 0 or 'run.' || lower(r.status) = any(ep.event_types))
      and (cardinality(ep.workflow_ids) = 0 or r.workflow_id = any(ep.workflow_ids))
      and r.labels @> ep.labels
  ), ${name}d as (
    insert into webhook_deliveries (tenant_id, id, run_id, endpoint_id, url, type, sequence, payload)
    select c.tenant_id, gen_random_uuid(), c.run_id, c.endpoint_id, c.url, 'run.' || lower(c.status), c.last_sequence, c.row
    from ${wanted} c
    where (select count(pg_notify('${webhooksChannel}', '')) from (select from ${wanted} limit 1) one) >= 0
  )`;
}
