/**
 * The dispatcher's SQL (dispatcher.ts): claiming due deliveries under a lease, host by
 * host; recording attempts with their outcomes, a batch per statement. Deliveries are
 * written by the status changes themselves (runs/lifecycle/webhook-outbox.ts).
 */
import { plannedEachTime, type Sql } from "../db/database.js";
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
  /** The target's host[:port], lowercase (the column Postgres computes from url). */
  host: string;
  /** The lease, as text: recording the attempt is fenced on it. */
  lease_expire_time: string;
}

/**
 * The CTE `hosts(host)`: every host with PENDING deliveries, then a null row, found by a
 * loose index scan of webhook_deliveries_host_due (one probe per host, however many rows
 * each has). Needs `with recursive`; readers skip the null row.
 */
export const pendingHosts = `hosts(host) as (
    (select d.host from webhook_deliveries d where d.outcome = 'PENDING' order by d.host limit 1)
    union all
    select (select d.host from webhook_deliveries d where d.outcome = 'PENDING' and d.host > h.host order by d.host limit 1)
    from hosts h where h.host is not null
  )`;

/** Hosts this replica holds deliveries for, and how many more each may take (the rest: hostRoom). */
export interface HostRoom {
  readonly hosts: readonly string[];
  readonly free: readonly number[];
  /** A host this replica holds nothing for may take this many. */
  readonly hostRoom: number;
}

/**
 * Up to :limit due PENDING deliveries, leased for :leaseMs (a killed replica's claims
 * come back when their leases run out), no more for each host than it has room for
 * (:hosts / :free, else :hostRoom); a host without room is not read at all.
 *
 * `hosts` walks webhook_deliveries_host_due once per host with pending rows (a loose
 * index scan: each step is one index probe for the next host), and each host with room
 * reads its oldest due rows in that index's order, locking them with SKIP LOCKED, so
 * that replicas claiming at once take different rows and a busy host's backlog costs a
 * claim nothing. A delivery is only due when no earlier-sequence delivery of the same run
 * and target (endpoint_id, null for the run's own webhook) is still PENDING, leased or
 * not (webhook_deliveries_run): a later status never overtakes an earlier one, also
 * across retries.
 *
 * The target's secrets come along, read by primary key, so signing reads nothing more
 * (secrets.ts opens them); a rotation committed after the claim signs from the next
 * attempt on. So does the workflow's slug, which the payload leaves out (slugs never
 * change, and the status change's statement is the hotter one).
 *
 * It is planned at every execution (plannedEachTime): it polls an empty table from
 * start-up, and a generic plan cached then scanned the whole table per candidate once a
 * burst had filled it.
 */
const claimStatement = plannedEachTime(`
  with recursive ${pendingHosts}, room as (
    select h.host, coalesce((select f.n from unnest($3::text[], $4::int[]) as f(h, n) where f.h = h.host), $5::int) as n
    from hosts h where h.host is not null
  ), taken as (
    select c.tenant_id, c.id, c.endpoint_id from room cross join lateral (
      select d.tenant_id, d.id, d.endpoint_id, d.next_attempt_time from webhook_deliveries d
      where d.outcome = 'PENDING' and d.host = room.host and d.next_attempt_time <= now()
        and (d.lease_expire_time is null or d.lease_expire_time < now())
        and not exists (
          select 1 from webhook_deliveries p
          where p.tenant_id = d.tenant_id and p.run_id = d.run_id and p.endpoint_id is not distinct from d.endpoint_id
            and p.sequence < d.sequence and p.outcome = 'PENDING')
      order by d.next_attempt_time
      limit room.n
      for update of d skip locked
    ) c
    where room.n > 0
    order by c.next_attempt_time
    limit $1::int
  )
  update webhook_deliveries d set lease_expire_time = now() + $2::bigint * interval '1 millisecond'
  from taken
    left join webhook_endpoints e on e.tenant_id = taken.tenant_id and e.id = taken.endpoint_id
    left join run_webhook_secrets s on taken.endpoint_id is null and s.tenant_id = taken.tenant_id
  where d.tenant_id = taken.tenant_id and d.id = taken.id
  returning d.tenant_id, d.id, d.run_id, d.endpoint_id, d.url, d.host, d.type,
    d.payload || jsonb_build_object('workflow_slug',
      (select w.slug from workflows w where w.tenant_id = d.tenant_id and w.id = (d.payload ->> 'workflow_id')::uuid)) as payload,
    d.attempt_count,
    d.lease_expire_time::text,
    coalesce(e.secret, s.secret) as secret, coalesce(e.previous_secret, s.previous_secret) as previous_secret,
    coalesce(coalesce(e.previous_secret_expire_time, s.previous_secret_expire_time) > now(), false) as previous_valid`);

/** Claims due deliveries; see claimStatement. */
export async function claimDeliveries(sql: Sql, limit: number, leaseMs: number, room: HostRoom): Promise<ClaimedDelivery[]> {
  return sql.query<ClaimedDelivery>(claimStatement, [limit, leaseMs, room.hosts, room.free, room.hostRoom]);
}

/** Hands claimed deliveries back unsent (the replica is stopping): due again at once, unless their lease already passed on. */
export async function releaseDeliveries(sql: Sql, deliveries: readonly ClaimedDelivery[]): Promise<void> {
  if (deliveries.length === 0) return;
  await sql.query(
    `update webhook_deliveries d set lease_expire_time = null
     from unnest($1::uuid[], $2::uuid[], $3::timestamptz[]) as r(tenant_id, id, lease)
     where d.tenant_id = r.tenant_id and d.id = r.id and d.outcome = 'PENDING' and d.lease_expire_time = r.lease`,
    [
      deliveries.map((delivery) => delivery.tenant_id),
      deliveries.map((delivery) => delivery.id),
      deliveries.map((delivery) => delivery.lease_expire_time),
    ],
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
 * Records a batch of attempts (each number attempt_count + 1) and their deliveries'
 * outcomes in one statement, each fenced on its lease: a delivery whose lease passed to
 * another replica, or that was deleted, matches no row and nothing is written for it.
 *
 * - A delivery left PENDING for a retry pushes the later PENDING deliveries of its run
 *   and target to its own retry time: they could not go before it anyway, and so they
 *   stay out of the claim's due range instead of being read and skipped by every claim.
 * - For a tenant endpoint (once per endpoint in the batch): a success clears
 *   failing_since; attempts that all failed set it if unset, and disable the endpoint
 *   on 410 or when it has been failing for endpointFailingLimitHours; disabling fails
 *   the endpoint's other pending deliveries, which would never be sent.
 */
const recordStatement = `
  with r as (
    select * from unnest($1::uuid[], $2::uuid[], $3::text[], $4::bigint[], $5::timestamptz[], $6::timestamptz[], $7::int[],
      $8::int[], $9::text[], $10::text[], $11::boolean[])
      as r(tenant_id, id, outcome, retry_ms, lease, start_time, duration_ms, http_status, error, response_body, gone)
  ), d as (
    update webhook_deliveries d set
      attempt_count = d.attempt_count + 1,
      outcome = r.outcome,
      next_attempt_time = case when r.outcome = 'PENDING' then now() + r.retry_ms * interval '1 millisecond' else d.next_attempt_time end,
      lease_expire_time = null,
      end_time = case when r.outcome = 'PENDING' then null else now() end
    from r
    where d.tenant_id = r.tenant_id and d.id = r.id and d.outcome = 'PENDING' and d.lease_expire_time = r.lease
    returning d.tenant_id, d.id, d.run_id, d.endpoint_id, d.sequence, d.attempt_count, d.next_attempt_time, r.outcome, r.gone,
      r.start_time, r.duration_ms, r.http_status, r.error, r.response_body
  ), a as (
    insert into webhook_attempts (tenant_id, delivery_id, attempt, start_time, duration_ms, http_status, error, response_body)
    select d.tenant_id, d.id, d.attempt_count, d.start_time, d.duration_ms, d.http_status, d.error, d.response_body from d
  ), x as (
    select e.tenant_id, e.id, e.disabled as was_disabled, bool_or(d.outcome = 'SUCCEEDED') as succeeded, bool_or(d.gone) as gone,
      bool_or(d.gone) or (not bool_or(d.outcome = 'SUCCEEDED')
        and coalesce(e.failing_since < now() - interval '${endpointFailingLimitHours} hours', false)) as disable
    from d join webhook_endpoints e on e.tenant_id = d.tenant_id and e.id = d.endpoint_id
    group by e.tenant_id, e.id
  ), ep as (
    update webhook_endpoints e set
      failing_since = case when x.succeeded then null else coalesce(e.failing_since, now()) end,
      disabled = e.disabled or x.disable,
      disabled_reason = case when x.disable and not x.was_disabled then
          case when x.gone then 'the endpoint answered 410 Gone' else 'every delivery failed for ${endpointFailingLimitHours} hours' end
        else e.disabled_reason end,
      update_time = case when x.disable and not x.was_disabled then now() else e.update_time end
    from x
    where e.tenant_id = x.tenant_id and e.id = x.id
      and (x.succeeded <> (e.failing_since is null) or x.disable)
    returning e.tenant_id, e.id, e.disabled
  ), others as (
    update webhook_deliveries o set outcome = 'FAILED', end_time = now()
    from ep
    where ep.disabled and o.tenant_id = ep.tenant_id and o.endpoint_id = ep.id and o.outcome = 'PENDING'
      and not exists (select 1 from d where d.tenant_id = o.tenant_id and d.id = o.id)
  ), later as (
    update webhook_deliveries l set next_attempt_time = d.next_attempt_time
    from d
    where d.outcome = 'PENDING' and l.tenant_id = d.tenant_id and l.run_id = d.run_id
      and l.endpoint_id is not distinct from d.endpoint_id and l.sequence > d.sequence and l.outcome = 'PENDING'
      and l.next_attempt_time < d.next_attempt_time
      and not exists (select 1 from r where r.tenant_id = l.tenant_id and r.id = l.id)
      and not exists (select 1 from ep where ep.disabled and ep.tenant_id = d.tenant_id and ep.id = d.endpoint_id)
  )
  select d.id, d.outcome from d`;

/** One delivery's attempt to record: the delivery as claimed and what the attempt made of it. */
export interface RecordedAttempt {
  readonly delivery: ClaimedDelivery;
  readonly attempt: AttemptRecord;
}

/** Records attempts in one statement; returns the ids of the deliveries recorded (the others had lost their lease). */
export async function recordAttempts(sql: Sql, attempts: readonly RecordedAttempt[]): Promise<Set<string>> {
  if (attempts.length === 0) return new Set();
  const column = <T>(pick: (entry: RecordedAttempt) => T): T[] => attempts.map(pick);
  const rows = await sql.query<{ id: string }>(recordStatement, [
    column((entry) => entry.delivery.tenant_id),
    column((entry) => entry.delivery.id),
    column((entry) => entry.attempt.outcome),
    column((entry) => entry.attempt.retryDelayMs),
    column((entry) => entry.delivery.lease_expire_time),
    column((entry) => entry.attempt.startTime),
    column((entry) => Math.round(entry.attempt.durationMs)),
    column((entry) => entry.attempt.httpStatus),
    column((entry) => entry.attempt.error),
    column((entry) => entry.attempt.responseBody),
    column((entry) => entry.attempt.gone),
  ]);
  return new Set(rows.map((row) => row.id));
}
