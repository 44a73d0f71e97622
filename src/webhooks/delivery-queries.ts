/**
 * The delivery log as callers see it: pages of deliveries with their attempts, and
 * redelivery. Writing deliveries (the outbox) and sending them is the dispatcher's work;
 * this module only reads them and puts one back in the queue.
 *
 * Pages are keyset on (create_time, id), newest first: both are immutable, so deliveries
 * written while a caller pages never shift the pages.
 */
import type { Sql } from "../db/database.js";
import { invalidArgument, notFound } from "../errors.js";
import { isUuid } from "../ids.js";
import type { PageTokens } from "../runs/page-token.js";
import { contentHash } from "../workflows/content-hash.js";
import { pendingHosts } from "./delivery-writes.js";

/** Where a delivery stands, as stored. */
export type DeliveryOutcome = "PENDING" | "SUCCEEDED" | "FAILED";

/** One attempt of a delivery. */
export interface DeliveryAttempt {
  readonly startTime: Date;
  /** Null when there was no answer. */
  readonly httpStatus: number | null;
  readonly error: string | null;
  readonly durationMs: number;
  readonly responseBody: string;
}

/** A delivery with its attempts, oldest first. */
export interface Delivery {
  readonly id: string;
  readonly runId: string;
  /** Null for the run's own webhook. */
  readonly endpointId: string | null;
  readonly type: string;
  readonly url: string;
  readonly outcome: DeliveryOutcome;
  readonly createTime: Date;
  readonly nextAttemptTime: Date;
  readonly attempts: DeliveryAttempt[];
}

/** ListWebhookDeliveries' filters, combined with AND; "" and undefined mean any. */
export interface DeliveryFilter {
  readonly runId: string;
  readonly endpointId: string;
  readonly outcome: DeliveryOutcome | undefined;
}

/** The `webhook-id` header of a delivery: `msg_` and its UUID without dashes. */
export function webhookIdOf(deliveryId: string): string {
  return `msg_${deliveryId.replace(/-/g, "")}`;
}

const deliveryColumns = `d.id, d.run_id as "runId", d.endpoint_id as "endpointId", d.type, d.url, d.outcome,
  d.create_time as "createTime", d.next_attempt_time as "nextAttemptTime"`;

type DeliveryRow = Omit<Delivery, "attempts">;

/** Each delivery of `rows` with its attempts (one statement, on webhook_attempts' primary key). */
async function withAttempts(sql: Sql, tenantId: string, rows: readonly DeliveryRow[]): Promise<Delivery[]> {
  if (rows.length === 0) return [];
  const attempts = await sql.query<DeliveryAttempt & { deliveryId: string }>(
    `select delivery_id as "deliveryId", start_time as "startTime", http_status as "httpStatus", error,
       duration_ms as "durationMs", response_body as "responseBody"
     from webhook_attempts where tenant_id = $1::uuid and delivery_id = any($2::uuid[]) order by delivery_id, attempt`,
    [tenantId, rows.map((row) => row.id)],
  );
  return rows.map((row) => ({
    ...row,
    attempts: attempts.filter((attempt) => attempt.deliveryId === row.id).map(({ deliveryId: _id, ...attempt }) => attempt),
  }));
}

function checkFilter(filter: DeliveryFilter): void {
  if (filter.runId !== "" && !isUuid(filter.runId)) throw invalidArgument("runId", "must be a run id (a UUID)");
  if (filter.endpointId !== "" && !isUuid(filter.endpointId)) throw invalidArgument("endpointId", "must be a webhook id (a UUID)");
}

/**
 * A page of deliveries matching `filter`, newest first. By endpoint the walk follows
 * webhook_deliveries_endpoint; by run, webhook_deliveries_run (a run has few deliveries).
 */
export async function listDeliveries(
  sql: Sql,
  tokens: PageTokens,
  tenantId: string,
  filter: DeliveryFilter,
  limit: number,
  pageToken: string,
): Promise<{ deliveries: Delivery[]; nextPageToken: string }> {
  checkFilter(filter);
  const hash = contentHash({ ...filter, outcome: filter.outcome ?? "" }).slice(0, 32);
  const cursor = pageToken === "" ? undefined : tokens.open(pageToken, hash);
  const rows = await sql.query<DeliveryRow & { cursorTime: string }>(
    `select ${deliveryColumns}, d.create_time::text as "cursorTime" from webhook_deliveries d
     where d.tenant_id = $1::uuid
       and ($2::uuid is null or d.run_id = $2::uuid)
       and ($3::uuid is null or d.endpoint_id = $3::uuid)
       and ($4::text is null or d.outcome = $4::text)
       and ($5::timestamptz is null or (d.create_time, d.id) < ($5::timestamptz, $6::uuid))
     order by d.create_time desc, d.id desc limit $7::int`,
    [
      tenantId,
      filter.runId === "" ? null : filter.runId,
      filter.endpointId === "" ? null : filter.endpointId,
      filter.outcome ?? null,
      cursor?.[0] ?? null,
      cursor?.[1] ?? null,
      limit + 1,
    ],
  );
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  const nextPageToken = rows.length > limit && last !== undefined ? tokens.seal(hash, [last.cursorTime, last.id]) : "";
  return {
    deliveries: await withAttempts(
      sql,
      tenantId,
      page.map(({ cursorTime: _cursor, ...row }) => row),
    ),
    nextPageToken,
  };
}

/** The run a delivery is about (an access token's restriction is decided on it); NOT_FOUND when unknown or another tenant's. */
export async function deliveryRunId(sql: Sql, tenantId: string, id: string): Promise<string> {
  if (!isUuid(id)) throw notFound("webhook delivery", id);
  // Primary key.
  const [row] = await sql.query<{ run_id: string }>(`select run_id from webhook_deliveries where tenant_id = $1::uuid and id = $2::uuid`, [
    tenantId,
    id,
  ]);
  if (row === undefined) throw notFound("webhook delivery", id);
  return row.run_id;
}

/**
 * Puts a delivery back in the queue: PENDING, due now, its attempts kept (the next one
 * carries the same webhook-id), and wakes the dispatchers. The lease is left alone: an
 * attempt in flight finishes and is recorded as usual. NOT_FOUND when unknown or another
 * tenant's.
 */
export async function redeliver(sql: Sql, tenantId: string, id: string): Promise<Delivery> {
  if (!isUuid(id)) throw notFound("webhook delivery", id);
  // Primary key; the notification is sent at commit, so a dispatcher woken by it sees the row.
  const rows = await sql.query<DeliveryRow>(
    `with queued as (
       update webhook_deliveries d set outcome = 'PENDING', next_attempt_time = now(), end_time = null
       where d.tenant_id = $1::uuid and d.id = $2::uuid
       returning ${deliveryColumns})
     select queued.*, pg_notify('runline_webhooks', '') is null as notified from queued`,
    [tenantId, id],
  );
  const [row] = rows;
  if (row === undefined) throw notFound("webhook delivery", id);
  const { notified: _notified, ...delivery } = row as DeliveryRow & { notified: boolean };
  const [withLog] = await withAttempts(sql, tenantId, [delivery]);
  return withLog!;
}

// The oldest of each host's oldest due delivery, through pendingHosts and webhook_deliveries_host_due.
const oldestDueStatement = `
  with recursive ${pendingHosts}
  select coalesce(extract(epoch from now() - min(o.due))::float8, 0) as seconds
  from hosts h cross join lateral (
    select d.next_attempt_time as due from webhook_deliveries d
    where d.outcome = 'PENDING' and d.host = h.host and d.next_attempt_time <= now()
    order by d.next_attempt_time limit 1) o
  where h.host is not null`;

/** How long the oldest due delivery has waited to be sent, in seconds (0 when none): the metrics' gauge. */
export async function oldestDueSeconds(sql: Sql): Promise<number> {
  const [row] = await sql.query<{ seconds: number }>(oldestDueStatement);
  return row?.seconds ?? 0;
}
