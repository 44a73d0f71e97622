/**
 * WebhooksService: translation only; rules and SQL live in webhooks/.
 */
import type { ServiceImpl } from "@connectrpc/connect";
import { DeliveryOutcome as ProtoOutcome, type WebhookEndpoint, type WebhooksService } from "../../gen/runline/v1/webhooks_service_pb.js";
import type { AppContext } from "../app-context.js";
import { invalidArgument } from "../errors.js";
import { pageSize } from "../runs/page-token.js";
import { listDeliveries, redeliver, webhookIdOf, type Delivery, type DeliveryOutcome } from "../webhooks/delivery-queries.js";
import {
  createEndpoint,
  deleteEndpoint,
  getEndpoint,
  listEndpoints,
  updateEndpoint,
  type Endpoint,
  type EndpointField,
  type EndpointInput,
} from "../webhooks/endpoints.js";
import { tenantOf } from "./caller-context.js";
import { durationFrom, timestamp } from "./proto-convert.js";

function endpointMessage(endpoint: Endpoint) {
  return {
    id: endpoint.id,
    url: endpoint.url,
    eventTypes: endpoint.eventTypes,
    workflows: endpoint.workflowIds,
    labels: endpoint.labels,
    disabled: endpoint.disabled,
    description: endpoint.description,
    disabledReason: endpoint.disabledReason,
    createTime: timestamp(endpoint.createTime),
    updateTime: timestamp(endpoint.updateTime),
  };
}

function endpointInput(webhook: WebhookEndpoint | undefined): EndpointInput {
  return {
    url: webhook?.url ?? "",
    eventTypes: webhook?.eventTypes ?? [],
    workflows: webhook?.workflows ?? [],
    labels: webhook?.labels ?? {},
    disabled: webhook?.disabled ?? false,
    description: webhook?.description ?? "",
  };
}

/** Mask paths (proto or JSON spelling) → the domain's field names. */
const maskFields: Readonly<Record<string, EndpointField>> = {
  url: "url",
  event_types: "eventTypes",
  workflows: "workflows",
  labels: "labels",
  disabled: "disabled",
  description: "description",
};

function changesFrom(webhook: WebhookEndpoint | undefined, paths: readonly string[]): Partial<EndpointInput> {
  if (paths.length === 0) throw invalidArgument("updateMask", "must name the fields to change");
  const all = endpointInput(webhook);
  const changes: Partial<Record<EndpointField, unknown>> = {};
  for (const path of paths) {
    const field = maskFields[path.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`)];
    if (field === undefined) throw invalidArgument("updateMask", `"${path}" is not a field that can be changed`);
    changes[field] = all[field];
  }
  return changes as Partial<EndpointInput>;
}

const outcomes: Readonly<Record<DeliveryOutcome, ProtoOutcome>> = {
  PENDING: ProtoOutcome.PENDING,
  SUCCEEDED: ProtoOutcome.SUCCEEDED,
  FAILED: ProtoOutcome.FAILED,
};

function domainOutcome(outcome: ProtoOutcome): DeliveryOutcome | undefined {
  if (outcome === ProtoOutcome.UNSPECIFIED) return undefined;
  const found = (Object.keys(outcomes) as DeliveryOutcome[]).find((name) => outcomes[name] === outcome);
  if (found === undefined) throw invalidArgument("outcome", "is not a known outcome");
  return found;
}

function deliveryMessage(delivery: Delivery) {
  return {
    id: delivery.id,
    webhookId: webhookIdOf(delivery.id),
    runId: delivery.runId,
    endpointId: delivery.endpointId ?? "",
    type: delivery.type,
    url: delivery.url,
    outcome: outcomes[delivery.outcome],
    createTime: timestamp(delivery.createTime),
    nextAttemptTime: delivery.outcome === "PENDING" ? timestamp(delivery.nextAttemptTime) : undefined,
    attempts: delivery.attempts.map((attempt) => ({
      startTime: timestamp(attempt.startTime),
      httpStatus: attempt.httpStatus ?? 0,
      error: attempt.error ?? "",
      duration: durationFrom(attempt.durationMs),
      responseBody: attempt.responseBody,
    })),
  };
}

/** The WebhooksService implementation. */
export function webhooksService(app: AppContext): ServiceImpl<typeof WebhooksService> {
  const sql = app.database.sql;
  const { secrets, targets } = app.webhooks;
  return {
    async createWebhook(request, context) {
      const created = await createEndpoint(sql, secrets, targets, tenantOf(context), endpointInput(request.webhook));
      return { webhook: endpointMessage(created.endpoint), secret: created.secret };
    },
    async getWebhook(request, context) {
      return { webhook: endpointMessage(await getEndpoint(sql, tenantOf(context), request.id)) };
    },
    async listWebhooks(request, context) {
      const page = await listEndpoints(sql, app.pageTokens, tenantOf(context), pageSize(request.pageSize, 50, 100), request.pageToken);
      return { webhooks: page.endpoints.map(endpointMessage), nextPageToken: page.nextPageToken };
    },
    async updateWebhook(request, context) {
      const changes = changesFrom(request.webhook, request.updateMask?.paths ?? []);
      const id = request.webhook?.id ?? "";
      if (id === "") throw invalidArgument("webhook.id", "is required");
      return { webhook: endpointMessage(await updateEndpoint(sql, targets, tenantOf(context), id, changes)) };
    },
    async deleteWebhook(request, context) {
      await deleteEndpoint(sql, tenantOf(context), request.id);
      return {};
    },
    async rotateWebhookSecret(request, context) {
      return { secret: await secrets.rotateEndpointSecret(tenantOf(context), request.id) };
    },
    async getRunWebhookSecret(_request, context) {
      return { secret: await secrets.runSecret(tenantOf(context)) };
    },
    async rotateRunWebhookSecret(_request, context) {
      return { secret: await secrets.rotateRunSecret(tenantOf(context)) };
    },
    async listWebhookDeliveries(request, context) {
      const filter = { runId: request.runId, endpointId: request.endpointId, outcome: domainOutcome(request.outcome) };
      const limit = pageSize(request.pageSize, 50, 1000);
      const page = await listDeliveries(sql, app.pageTokens, tenantOf(context), filter, limit, request.pageToken);
      return { deliveries: page.deliveries.map(deliveryMessage), nextPageToken: page.nextPageToken };
    },
    async redeliverWebhook(request, context) {
      return { delivery: deliveryMessage(await redeliver(sql, tenantOf(context), request.id)) };
    },
  };
}
