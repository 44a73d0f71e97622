/**
 * A tenant's webhook endpoints: checked input, and the SQL that creates, reads, lists,
 * changes and deletes them (tenant as argument; every statement keyed by the primary key
 * (tenant_id, id), so another tenant's endpoint is NOT_FOUND like an unknown one).
 *
 * Limits, so that one tenant cannot make every status change expensive (each change
 * reads the tenant's enabled endpoints): at most 100 endpoints per tenant, 100 workflows
 * and 64 labels per filter; URLs at most 2048 characters, descriptions 1024.
 */
import type { Sql } from "../db/database.js";
import { failedPrecondition, invalidArgument, notFound } from "../errors.js";
import { isUuid, newId } from "../ids.js";
import { labelKeyPattern } from "../runs/create-run.js";
import { runStatuses } from "../runs/run-status.js";
import type { PageTokens } from "../runs/page-token.js";
import type { WebhookSecrets } from "./secrets.js";
import { checkTargetUrl, type TargetPolicy } from "./target-policy.js";

/** At most this many endpoints per tenant. */
export const maxEndpointsPerTenant = 100;
const maxWorkflows = 100;
const maxLabels = 64;
const maxDescriptionLength = 1024;

/** Every event type: `run.` and a lowercase status, one per status change. */
export const webhookEventTypes: readonly string[] = runStatuses.map((status) => `run.${status.toLowerCase()}`);

/** What a caller sets on an endpoint; `workflows` are ids or slugs. */
export interface EndpointInput {
  readonly url: string;
  readonly eventTypes: readonly string[];
  readonly workflows: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
  readonly disabled: boolean;
  readonly description: string;
}

/** An endpoint as stored (without its secrets). */
export interface Endpoint {
  readonly id: string;
  readonly url: string;
  readonly eventTypes: string[];
  readonly workflowIds: string[];
  readonly labels: Record<string, string>;
  readonly disabled: boolean;
  readonly disabledReason: string;
  readonly description: string;
  readonly createTime: Date;
  readonly updateTime: Date;
}

/** The fields UpdateWebhook may change. */
export type EndpointField = keyof EndpointInput;

const endpointColumns = `id, url, event_types as "eventTypes", workflow_ids as "workflowIds", labels, disabled,
  coalesce(disabled_reason, '') as "disabledReason", description, create_time as "createTime", update_time as "updateTime"`;

function checkInput(input: Partial<EndpointInput>, policy: TargetPolicy): void {
  if (input.url !== undefined) {
    const problem = input.url === "" ? "is required" : checkTargetUrl(input.url, policy);
    if (problem !== undefined) throw invalidArgument("url", problem);
  }
  input.eventTypes?.forEach((type, index) => {
    if (!webhookEventTypes.includes(type)) throw invalidArgument(`eventTypes[${index}]`, `must be one of ${webhookEventTypes.join(", ")}`);
  });
  if (input.workflows !== undefined && input.workflows.length > maxWorkflows)
    throw invalidArgument("workflows", `at most ${maxWorkflows} workflows`);
  if (input.labels !== undefined) {
    const labels = Object.entries(input.labels);
    if (labels.length > maxLabels) throw invalidArgument("labels", `at most ${maxLabels} labels`);
    for (const [key, value] of labels) {
      if (!labelKeyPattern.test(key)) throw invalidArgument("labels", `key "${key}" must be 1-63 letters, digits, '_', '.', '/' or '-'`);
      if (value.length > 255) throw invalidArgument(`labels[${key}]`, "must be at most 255 characters");
    }
  }
  if (input.description !== undefined && input.description.length > maxDescriptionLength)
    throw invalidArgument("description", `must be at most ${maxDescriptionLength} characters`);
}

/** The workflows' ids, in order; INVALID_ARGUMENT naming the first one the tenant lacks. */
async function workflowIds(sql: Sql, tenantId: string, workflows: readonly string[]): Promise<string[]> {
  if (workflows.length === 0) return [];
  // The primary key for ids, the unique (tenant_id, slug) index for slugs.
  const rows = await sql.query<{ id: string; slug: string }>(
    `select id, slug from workflows where tenant_id = $1::uuid and (id = any($2::uuid[]) or slug = any($3::text[]))`,
    [tenantId, workflows.filter(isUuid), workflows.filter((workflow) => !isUuid(workflow))],
  );
  return workflows.map((workflow, index) => {
    const found = rows.find((row) => row.id === workflow.toLowerCase() || row.slug === workflow);
    if (found === undefined) throw invalidArgument(`workflows[${index}]`, `no workflow "${workflow}" in this tenant`);
    return found.id;
  });
}

/**
 * Creates an endpoint with a new secret; returns it and the secret (shown once). The
 * tenant row is locked for the count, so concurrent creates cannot pass the limit together.
 */
export async function createEndpoint(
  sql: Sql,
  secrets: WebhookSecrets,
  policy: TargetPolicy,
  tenantId: string,
  input: EndpointInput,
): Promise<{ endpoint: Endpoint; secret: string }> {
  checkInput(input, policy);
  const ids = await workflowIds(sql, tenantId, input.workflows);
  const id = newId();
  const { secret, sealed } = secrets.newEndpointSecret(tenantId, id);
  const endpoint = await sql.transaction(async (tx) => {
    await tx.query(`select 1 from tenants where id = $1::uuid for no key update`, [tenantId]);
    const [row] = await tx.query<Endpoint>(
      `insert into webhook_endpoints (tenant_id, id, url, event_types, workflow_ids, labels, disabled, description, secret)
       select $1::uuid, $2::uuid, $3::text, $4::text[], $5::uuid[], $6::jsonb, $7::boolean, $8::text, $9::bytea
       where (select count(*) from webhook_endpoints where tenant_id = $1::uuid) < $10::int
       returning ${endpointColumns}`,
      [
        tenantId,
        id,
        input.url,
        [...new Set(input.eventTypes)],
        ids,
        JSON.stringify(input.labels),
        input.disabled,
        input.description,
        sealed,
        maxEndpointsPerTenant,
      ],
    );
    return row;
  });
  if (endpoint === undefined)
    throw failedPrecondition(`a tenant has at most ${maxEndpointsPerTenant} webhook endpoints; delete one first`, "WEBHOOK_LIMIT_REACHED");
  return { endpoint, secret };
}

/** An endpoint by id; NOT_FOUND when unknown or another tenant's. */
export async function getEndpoint(sql: Sql, tenantId: string, id: string): Promise<Endpoint> {
  if (!isUuid(id)) throw notFound("webhook", id);
  const [row] = await sql.query<Endpoint>(`select ${endpointColumns} from webhook_endpoints where tenant_id = $1::uuid and id = $2::uuid`, [
    tenantId,
    id,
  ]);
  if (row === undefined) throw notFound("webhook", id);
  return row;
}

/** A page of endpoints, newest first (keyset on (create_time, id); a tenant has at most 100). */
export async function listEndpoints(
  sql: Sql,
  tokens: PageTokens,
  tenantId: string,
  limit: number,
  pageToken: string,
): Promise<{ endpoints: Endpoint[]; nextPageToken: string }> {
  const cursor = pageToken === "" ? undefined : tokens.open(pageToken, "webhooks");
  const rows = await sql.query<Endpoint & { cursorTime: string }>(
    `select ${endpointColumns}, create_time::text as "cursorTime" from webhook_endpoints
     where tenant_id = $1::uuid and ($2::timestamptz is null or (create_time, id) < ($2::timestamptz, $3::uuid))
     order by create_time desc, id desc limit $4::int`,
    [tenantId, cursor?.[0] ?? null, cursor?.[1] ?? null, limit + 1],
  );
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  const nextPageToken = rows.length > limit && last !== undefined ? tokens.seal("webhooks", [last.cursorTime, last.id]) : "";
  return { endpoints: page.map(({ cursorTime: _cursor, ...endpoint }) => endpoint), nextPageToken };
}

/**
 * Changes the given fields. Enabling an endpoint clears why it was disabled and its
 * failure streak, so the 24 h count starts again.
 */
export async function updateEndpoint(
  sql: Sql,
  policy: TargetPolicy,
  tenantId: string,
  id: string,
  changes: Partial<EndpointInput>,
): Promise<Endpoint> {
  if (!isUuid(id)) throw notFound("webhook", id);
  checkInput(changes, policy);
  const ids = changes.workflows === undefined ? null : await workflowIds(sql, tenantId, changes.workflows);
  // Each null parameter keeps its column as it is.
  const [row] = await sql.query<Endpoint>(
    `update webhook_endpoints set
       url = coalesce($3::text, url),
       event_types = coalesce($4::text[], event_types),
       workflow_ids = coalesce($5::uuid[], workflow_ids),
       labels = coalesce($6::jsonb, labels),
       disabled = coalesce($7::boolean, disabled),
       disabled_reason = case when $7::boolean = false then null else disabled_reason end,
       failing_since = case when $7::boolean = false then null else failing_since end,
       description = coalesce($8::text, description),
       update_time = now()
     where tenant_id = $1::uuid and id = $2::uuid
     returning ${endpointColumns}`,
    [
      tenantId,
      id,
      changes.url ?? null,
      changes.eventTypes === undefined ? null : [...new Set(changes.eventTypes)],
      ids,
      changes.labels === undefined ? null : JSON.stringify(changes.labels),
      changes.disabled ?? null,
      changes.description ?? null,
    ],
  );
  if (row === undefined) throw notFound("webhook", id);
  return row;
}

/**
 * Deletes an endpoint. Its pending deliveries end FAILED in the same statement (their
 * target is gone); the log keeps them. Uses webhook_deliveries_endpoint.
 */
export async function deleteEndpoint(sql: Sql, tenantId: string, id: string): Promise<void> {
  if (!isUuid(id)) throw notFound("webhook", id);
  const rows = await sql.query<{ id: string }>(
    `with deleted as (delete from webhook_endpoints where tenant_id = $1::uuid and id = $2::uuid returning id),
     ended as (
       update webhook_deliveries set outcome = 'FAILED', end_time = now(), lease_expire_time = null
       where tenant_id = $1::uuid and endpoint_id in (select id from deleted) and outcome = 'PENDING')
     select id from deleted`,
    [tenantId, id],
  );
  if (rows.length === 0) throw notFound("webhook", id);
}
