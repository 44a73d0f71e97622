/**
 * The dispatcher's SQL (dispatcher.ts): claiming due deliveries under a lease, recording
 * an attempt with its outcome. Deliveries are written
 * by the status changes themselves (runs/lifecycle/webhook-outbox.ts).
 */
import type { Sql } from "../db/database.js";
import type { SealedSecrets } from "./secrets.js";

/** A claimed delivery, as the dispatcher sends it, with its target's secrets as stored. */
export interface ClaimedDelivery extends SealedSecrets {
  tenant_id: string;
  id: string;
  run_id: string;
  endpoint_id: string | null;
  url: string;
  type: string;
  payload: Record<string, unknown>;
  /** Attempts recorded before this one. */
  attempt_count: number;
  /** The lease, as text: recording the attempt is fenced on it. */
  lease_expire_time: string;
}

/** A delivery's target host (host[:port], lowercase), as the claim's SQL computes it too. */
export function deliveryHost(url: string): string {
  return (/^[^:]+:\/\/(?:[^@/?#]*@)?([^/?#]*)/.exec(url)?.[1] ?? "").toLowerCase();
}
const hostSql = `lower(substring(d.url from '^[^:]+://(?:[^@/?#]*@)?([^/?#]*)'))`;

/** Hosts with attempts in flight and how many more each may take (the rest: hostConcurrency). */
export interface HostRoom {
  readonly hosts: readonly string[];
  readonly free: readonly number[];
  /** A host with nothing in flight may take this many (config.webhooks.hostConcurrency). */
  readonly hostConcurrency: number;
}

/**
 * Up to :limit due PENDING deliveries, oldest first, leased for :leaseMs (a killed
 * replica's claims come back when it ends), no more for each host than it has room for
 * (:hosts / :free, else :hostConcurrency; a full host is not read at all). A delivery is
 * only due when no earlier-sequence delivery of the same run and target (endpoint_id,
 * null for the run's own webhook) is still PENDING, leased or not: a later status never
 * overtakes an earlier one, also across retries. webhook_deliveries_due finds the due
 * rows, webhook_deliveries_run the earlier ones.
 *
 * Of the due rows locked, only those within their host's room are leased; the others
 * are left as they were and unlocked at commit. Leasing all :limit and handing back what
 * a nearly full host could not take cost two updates of dozens of rows after every
 * attempt while one host was busy.
 *
 * The target's secrets come along, read by primary key, so signing reads nothing more
 * (secrets.ts opens them). A rotation committed after the claim signs from the next
 * attempt on, as it did when they were read just before signing.
 */
const claimStatement = `
  with due as (
    select d.tenant_id, d.id, d.endpoint_id, d.next_attempt_time, ${hostSql} as host from webhook_deliveries d
    where d.outcome = 'PENDING' and d.next_attempt_time <= now()
      and (d.lease_expire_time is null or d.lease_expire_time < now())
      and ${hostSql} <> all(array(select f.h from unnest($3::text[], $4::int[]) as f(h, n) where f.n <= 0))
      and not exists (
        select 1 from webhook_deliveries p
        where p.tenant_id = d.tenant_id and p.run_id = d.run_id and p.endpoint_id is not distinct from d.endpoint_id
          and p.sequence < d.sequence and p.outcome = 'PENDING')
    order by d.next_attempt_time
    limit $1::int
    for update skip locked
  ), taken as (
    select r.tenant_id, r.id, r.endpoint_id from (
      select due.*, row_number() over (partition by due.host order by due.next_attempt_time) as rank from due) r
    where r.rank <= coalesce((select f.n from unnest($3::text[], $4::int[]) as f(h, n) where f.h = r.host), $5::int)
  )
  update webhook_deliveries d set lease_expire_time = now() + $2::bigint * interval '1 millisecond'
  from taken
    left join webhook_endpoints e on e.tenant_id = taken.tenant_id and e.id = taken.endpoint_id
    left join run_webhook_secrets s on taken.endpoint_id is null and s.tenant_id = taken.tenant_id
  where d.tenant_id = taken.tenant_id and d.id = taken.id
  returning d.tenant_id, d.id, d.run_id, d.endpoint_id, d.url, d.type, d.payload, d.attempt_count, d.lease_expire_time::text,
    coalesce(e.secret, s.secret) as secret, coalesce(e.previous_secret, s.previous_secret) as previous_secret,
    coalesce(coalesce(e.previous_secret_expire_time, s.previous_secret_expire_time) > now(), false) as previous_valid`;

/** Claims due deliveries; see claimStatement. */
export async function claimDeliveries(sql: Sql, limit: number, leaseMs: number, room: HostRoom): Promise<ClaimedDelivery[]> {
  return sql.query<ClaimedDelivery>(claimStatement, [limit, leaseMs, room.hosts, room.free, room.hostConcurrency]);
}

/** Hands claimed deliveries back unsent (their host was full): due again at once. */
export async function releaseDeliveries(sql: Sql, deliveries: readonly ClaimedDelivery[]): Promise<void> {
  if (deliveries.length === 0) return;
  await sql.query(
    `update webhook_deliveries set lease_expire_time = null
     where tenant_id = any($1::uuid[]) and id = any($2::uuid[]) and outcome = 'PENDING'`,
    [deliveries.map((delivery) => delivery.tenant_id), deliveries.map((delivery) => delivery.id)],
  );
}

/** One attempt's result and what it makes of the delivery. */
export interface AttemptRecord {
  readonly startTime: Date;
  readonly durationMs: number;
  readonly httpStatus: number | null;
  readonly error: string | null;
  readonly responseBody: string;
  /** PENDING (retry after retryDelayMs), SUCCEEDED or FAILED. */
  readonly outcome: "PENDING" | "SUCCEEDED" | "FAILED";
  readonly retryDelayMs: number;
  /** A tenant endpoint answered 410 Gone: disable it. */
  readonly gone: boolean;
}

/** How long a tenant endpoint may fail without a success before it is disabled. */
export const endpointFailingLimitHours = 24;

/**
 * Records the attempt (number attempt_count + 1) and the delivery's outcome, fenced on
 * the lease (a delivery whose lease passed to another replica, or that was deleted,
 * matches no row and nothing is written). For a tenant endpoint: a success clears
 * failing_since; a failed attempt sets it if unset, and disables the endpoint on 410 or
 * when it has been failing for endpointFailingLimitHours; disabling fails the endpoint's
 * other pending deliveries, which would never be sent.
 */
const recordStatement = `
  with d as (
    update webhook_deliveries d set
      attempt_count = d.attempt_count + 1,
      outcome = $3::text,
      next_attempt_time = case when $3::text = 'PENDING' then now() + $4::bigint * interval '1 millisecond' else d.next_attempt_time end,
      lease_expire_time = null,
      end_time = case when $3::text = 'PENDING' then null else now() end
    where d.tenant_id = $1::uuid and d.id = $2::uuid and d.outcome = 'PENDING' and d.lease_expire_time = $5::timestamptz
    returning d.tenant_id, d.id, d.endpoint_id, d.attempt_count
  ), a as (
    insert into webhook_attempts (tenant_id, delivery_id, attempt, start_time, duration_ms, http_status, error, response_body)
    select d.tenant_id, d.id, d.attempt_count, $6::timestamptz, $7::int, $8::int, $9::text, $10::text from d
  ), x as (
    select e.tenant_id, e.id, e.disabled as was_disabled,
      $11::boolean or ($3::text <> 'SUCCEEDED' and coalesce(e.failing_since < now() - interval '${endpointFailingLimitHours} hours', false))
        as disable,
      case when $11::boolean then 'the endpoint answered 410 Gone'
           else 'every delivery failed for ${endpointFailingLimitHours} hours' end as reason
    from d join webhook_endpoints e on e.tenant_id = d.tenant_id and e.id = d.endpoint_id
    where ($3::text = 'SUCCEEDED') <> (e.failing_since is null) or $11::boolean
      or ($3::text <> 'SUCCEEDED' and e.failing_since < now() - interval '${endpointFailingLimitHours} hours')
  ), ep as (
    update webhook_endpoints e set
      failing_since = case when $3::text = 'SUCCEEDED' then null else coalesce(e.failing_since, now()) end,
      disabled = e.disabled or x.disable,
      disabled_reason = case when x.disable and not x.was_disabled then x.reason else e.disabled_reason end,
      update_time = case when x.disable and not x.was_disabled then now() else e.update_time end
    from x where e.tenant_id = x.tenant_id and e.id = x.id
    returning e.tenant_id, e.id, e.disabled
  ), others as (
    update webhook_deliveries o set outcome = 'FAILED', end_time = now()
    from ep, d
    where ep.disabled and o.tenant_id = ep.tenant_id and o.endpoint_id = ep.id and o.outcome = 'PENDING' and o.id <> d.id
  )
  select d.attempt_count from d`;

/** Records an attempt; false when the lease was lost (nothing recorded). */
export async function recordAttempt(sql: Sql, delivery: ClaimedDelivery, attempt: AttemptRecord): Promise<boolean> {
  const rows = await sql.query(recordStatement, [
    delivery.tenant_id,
    delivery.id,
    attempt.outcome,
    attempt.retryDelayMs,
    delivery.lease_expire_time,
    attempt.startTime,
    Math.round(attempt.durationMs),
    attempt.httpStatus,
    attempt.error,
    attempt.responseBody,
    attempt.gone,
  ]);
  return rows.length > 0;
}
