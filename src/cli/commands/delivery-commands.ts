/**
 * `runline deliveries list|redeliver`: the webhook delivery log, and sending one again
 * (a new attempt with the same webhook-id).
 */
import { create } from "@bufbuild/protobuf";
import {
  DeliveryOutcome,
  ListWebhookDeliveriesResponseSchema,
  RedeliverWebhookResponseSchema,
  WebhooksService,
  type WebhookDelivery,
} from "../../../gen/runline/v1/webhooks_service_pb.js";
import { parseCountArgument } from "../argument-values.js";
import { UsageError } from "../cli-errors.js";
import type { Command } from "../command.js";
import { collectPages } from "../paging.js";
import { formatTime } from "../run-format.js";

const outcomeNames = ["pending", "succeeded", "failed"] as const;

function parseOutcome(text: string | undefined): DeliveryOutcome {
  if (text === undefined) return DeliveryOutcome.UNSPECIFIED;
  const index = outcomeNames.indexOf(text.toLowerCase().replace(/^delivery_outcome_/, "") as (typeof outcomeNames)[number]);
  if (index < 0) throw new UsageError(`--outcome: unknown outcome "${text}" (one of ${outcomeNames.join(", ")})`);
  return [DeliveryOutcome.PENDING, DeliveryOutcome.SUCCEEDED, DeliveryOutcome.FAILED][index]!;
}

/** The last attempt in a few words: `503`, or the network error. */
function lastAttempt(delivery: WebhookDelivery): string {
  const attempt = delivery.attempts[delivery.attempts.length - 1];
  if (attempt === undefined) return "-";
  return attempt.httpStatus === 0 ? attempt.error : String(attempt.httpStatus);
}

/** `deliveries list`. */
export const listDeliveriesCommand: Command = {
  path: ["deliveries", "list"],
  summary: "list webhook deliveries, newest first, with their attempts",
  positionals: [],
  options: [
    { name: "run", type: "string", value: "<run-id>", help: "only deliveries about this run" },
    { name: "endpoint", type: "string", value: "<webhook-id>", help: "only deliveries to this webhook endpoint" },
    { name: "outcome", type: "string", value: "<outcome>", help: `only this outcome: ${outcomeNames.join(", ")}` },
    { name: "limit", type: "string", value: "<n>", help: "at most this many, following pages (default 50)" },
  ],
  key: "tenant",
  async run({ args, out, connect }) {
    const client = connect().client(WebhooksService);
    const filter = {
      runId: args.string("run") ?? "",
      endpointId: args.string("endpoint") ?? "",
      outcome: parseOutcome(args.string("outcome")),
    };
    const limit = parseCountArgument("limit", args.string("limit") ?? "50");
    const { items, nextPageToken } = await collectPages(limit, async (pageToken, pageSize) => {
      const page = await client.listWebhookDeliveries({ ...filter, pageToken, pageSize });
      return { items: page.deliveries, nextPageToken: page.nextPageToken };
    });
    if (out.json) {
      return out.message(
        ListWebhookDeliveriesResponseSchema,
        create(ListWebhookDeliveriesResponseSchema, { deliveries: items, nextPageToken }),
      );
    }
    out.table(
      ["ID", "RUN", "TYPE", "OUTCOME", "ATTEMPTS", "LAST", "CREATED"],
      items.map((delivery) => [
        delivery.id,
        delivery.runId,
        delivery.type,
        (DeliveryOutcome[delivery.outcome] ?? String(delivery.outcome)).toLowerCase(),
        String(delivery.attempts.length),
        lastAttempt(delivery),
        formatTime(delivery.createTime),
      ]),
    );
  },
};

/** `deliveries redeliver`. */
export const redeliverCommand: Command = {
  path: ["deliveries", "redeliver"],
  summary: "send a webhook delivery again (same webhook-id, a new attempt)",
  positionals: ["delivery-id"],
  options: [],
  key: "tenant",
  async run({ args, out, connect }) {
    const response = await connect().client(WebhooksService).redeliverWebhook({ id: args.positionals[0]! });
    if (out.json) return out.message(RedeliverWebhookResponseSchema, response);
    out.line(`delivery ${response.delivery!.id} (${response.delivery!.webhookId}) is pending again`);
  },
};
