/**
 * `runline webhooks create|list|get|update|delete|rotate-secret|run-secret`: a tenant's
 * webhook endpoints and signing secrets. Secrets are printed only when created or
 * rotated (the server shows them only then), except the run-webhook secret, which
 * GetRunWebhookSecret returns on demand.
 */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import {
  CreateWebhookResponseSchema,
  DeleteWebhookResponseSchema,
  GetRunWebhookSecretResponseSchema,
  GetWebhookResponseSchema,
  ListWebhooksResponseSchema,
  RotateRunWebhookSecretResponseSchema,
  RotateWebhookSecretResponseSchema,
  UpdateWebhookResponseSchema,
  WebhooksService,
  type WebhookEndpoint,
  type WebhookEndpointSchema,
} from "../../../gen/runline/v1/webhooks_service_pb.js";
import { parseCountArgument, parseLabelArguments, splitList } from "../argument-values.js";
import { UsageError } from "../cli-errors.js";
import type { Arguments, Command, OptionSpec } from "../command.js";
import { collectPages } from "../paging.js";
import { formatTime } from "../run-format.js";
import type { Output } from "../output.js";

/** The options that set an endpoint's fields (create and update). */
const endpointOptions: readonly OptionSpec[] = [
  { name: "url", type: "string", value: "<url>", help: "where deliveries are POSTed (https://)" },
  { name: "events", type: "string", value: "<list>", help: 'event types, e.g. run.succeeded,run.failed ("" or omitted: all)' },
  { name: "workflow", type: "string", value: "<slug|id>", multiple: true, help: "only runs of this workflow" },
  { name: "label", type: "string", value: "<key=value>", multiple: true, help: "only runs with this label" },
  { name: "description", type: "string", value: "<text>", help: "a note for people" },
];

/** The endpoint fields given on the command line, and their update-mask paths. */
function endpointFields(args: Arguments): { webhook: MessageInitShape<typeof WebhookEndpointSchema>; paths: string[] } {
  const webhook: MessageInitShape<typeof WebhookEndpointSchema> = {};
  const paths: string[] = [];
  const set = (path: string, apply: () => void) => {
    apply();
    paths.push(path);
  };
  const url = args.string("url");
  if (url !== undefined) set("url", () => (webhook.url = url));
  const events = args.string("events");
  if (events !== undefined) set("event_types", () => (webhook.eventTypes = splitList([events])));
  if (args.strings("workflow").length > 0) set("workflows", () => (webhook.workflows = splitList(args.strings("workflow"))));
  if (args.strings("label").length > 0) set("labels", () => (webhook.labels = parseLabelArguments("label", args.strings("label"))));
  const description = args.string("description");
  if (description !== undefined) set("description", () => (webhook.description = description));
  return { webhook, paths };
}

function printWebhook(out: Output, webhook: WebhookEndpoint): void {
  out.line(`webhook ${webhook.id}`);
  out.line(`  url:         ${webhook.url}`);
  out.line(`  events:      ${webhook.eventTypes.join(",") || "all"}`);
  out.line(`  workflows:   ${webhook.workflows.join(",") || "all"}`);
  const labels = Object.entries(webhook.labels).map(([key, value]) => `${key}=${value}`);
  out.line(`  labels:      ${labels.join(",") || "-"}`);
  out.line(`  disabled:    ${webhook.disabled ? `yes${webhook.disabledReason === "" ? "" : ` (${webhook.disabledReason})`}` : "no"}`);
  if (webhook.description !== "") out.line(`  description: ${webhook.description}`);
  out.line(`  created:     ${formatTime(webhook.createTime)}`);
}

/** `webhooks create`. */
export const createWebhookCommand: Command = {
  path: ["webhooks", "create"],
  summary: "add a webhook endpoint and print its signing secret once",
  positionals: [],
  options: [...endpointOptions, { name: "disabled", type: "boolean", help: "create it disabled" }],
  key: "tenant",
  notes: "Example:\n  runline webhooks create --url https://example.com/hooks --events run.succeeded,run.failed",
  async run({ args, out, connect }) {
    args.required("url");
    const { webhook } = endpointFields(args);
    const response = await connect()
      .client(WebhooksService)
      .createWebhook({ webhook: { ...webhook, disabled: args.flag("disabled") } });
    if (out.json) return out.message(CreateWebhookResponseSchema, response);
    out.line(`created webhook ${response.webhook!.id}; its signing secret, shown only now:`);
    out.line(response.secret);
  },
};

/** `webhooks list`. */
export const listWebhooksCommand: Command = {
  path: ["webhooks", "list"],
  summary: "list webhook endpoints, newest first",
  positionals: [],
  options: [{ name: "limit", type: "string", value: "<n>", help: "at most this many, following pages (default 100)" }],
  key: "tenant",
  async run({ args, out, connect }) {
    const client = connect().client(WebhooksService);
    const limit = parseCountArgument("limit", args.string("limit") ?? "100");
    const { items, nextPageToken } = await collectPages(limit, async (pageToken, pageSize) => {
      const page = await client.listWebhooks({ pageToken, pageSize });
      return { items: page.webhooks, nextPageToken: page.nextPageToken };
    });
    if (out.json) return out.message(ListWebhooksResponseSchema, create(ListWebhooksResponseSchema, { webhooks: items, nextPageToken }));
    out.table(
      ["ID", "URL", "EVENTS", "DISABLED", "CREATED"],
      items.map((webhook) => [
        webhook.id,
        webhook.url,
        webhook.eventTypes.join(",") || "all",
        webhook.disabled ? "yes" : "no",
        formatTime(webhook.createTime),
      ]),
    );
  },
};

/** `webhooks get`. */
export const getWebhookCommand: Command = {
  path: ["webhooks", "get"],
  summary: "show a webhook endpoint",
  positionals: ["webhook-id"],
  options: [],
  key: "tenant",
  async run({ args, out, connect }) {
    const response = await connect().client(WebhooksService).getWebhook({ id: args.positionals[0]! });
    if (out.json) return out.message(GetWebhookResponseSchema, response);
    printWebhook(out, response.webhook!);
  },
};

/** `webhooks update`. */
export const updateWebhookCommand: Command = {
  path: ["webhooks", "update"],
  summary: "change the given fields of a webhook endpoint",
  positionals: ["webhook-id"],
  options: [
    ...endpointOptions,
    { name: "enable", type: "boolean", help: "send deliveries again (clears why it was disabled)" },
    { name: "disable", type: "boolean", help: "stop sending deliveries" },
  ],
  key: "tenant",
  async run({ args, out, connect }) {
    const { webhook, paths } = endpointFields(args);
    if (args.flag("enable") && args.flag("disable")) throw new UsageError("--enable and --disable exclude each other");
    if (args.flag("enable") || args.flag("disable")) {
      webhook.disabled = args.flag("disable");
      paths.push("disabled");
    }
    if (paths.length === 0) throw new UsageError("nothing to change: give at least one of the options");
    const response = await connect()
      .client(WebhooksService)
      .updateWebhook({ webhook: { ...webhook, id: args.positionals[0]! }, updateMask: { paths } });
    if (out.json) return out.message(UpdateWebhookResponseSchema, response);
    printWebhook(out, response.webhook!);
  },
};

/** `webhooks delete`. */
export const deleteWebhookCommand: Command = {
  path: ["webhooks", "delete"],
  summary: "delete a webhook endpoint (its pending deliveries are not sent)",
  positionals: ["webhook-id"],
  options: [],
  key: "tenant",
  async run({ args, out, connect }) {
    const response = await connect().client(WebhooksService).deleteWebhook({ id: args.positionals[0]! });
    if (out.json) return out.message(DeleteWebhookResponseSchema, response);
    out.line(`deleted webhook ${args.positionals[0]!}`);
  },
};

/** `webhooks rotate-secret`. */
export const rotateWebhookSecretCommand: Command = {
  path: ["webhooks", "rotate-secret"],
  summary: "replace a webhook endpoint's signing secret (the old one signs too for a while)",
  positionals: ["webhook-id"],
  options: [],
  key: "tenant",
  async run({ args, out, connect }) {
    const response = await connect().client(WebhooksService).rotateWebhookSecret({ id: args.positionals[0]! });
    if (out.json) return out.message(RotateWebhookSecretResponseSchema, response);
    out.line("new signing secret, shown only now:");
    out.line(response.secret);
  },
};

/** `webhooks run-secret`. */
export const runWebhookSecretCommand: Command = {
  path: ["webhooks", "run-secret"],
  summary: "print the secret that signs per-run webhooks; --rotate replaces it",
  positionals: [],
  options: [{ name: "rotate", type: "boolean", help: "replace it (the old one signs too for a while)" }],
  key: "tenant",
  async run({ args, out, connect }) {
    const client = connect().client(WebhooksService);
    if (args.flag("rotate")) {
      const rotated = await client.rotateRunWebhookSecret({});
      if (out.json) return out.message(RotateRunWebhookSecretResponseSchema, rotated);
      return out.line(rotated.secret);
    }
    const response = await client.getRunWebhookSecret({});
    if (out.json) return out.message(GetRunWebhookSecretResponseSchema, response);
    out.line(response.secret);
  },
};
