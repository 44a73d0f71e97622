/**
 * `runline workflows create|list`: what a tenant can run. A workflow's definition and
 * input JSON Schema are given inline or as `@file`.
 */
import { create } from "@bufbuild/protobuf";
import {
  CreateWorkflowResponseSchema,
  ListWorkflowsResponseSchema,
  WorkflowsService,
} from "../../../gen/runline/v1/workflows_service_pb.js";
import { parseCountArgument, parseDurationArgument, parseValueArgument, type DurationBounds } from "../argument-values.js";
import type { Command } from "../command.js";
import { collectPages } from "../paging.js";
import { formatTime } from "../run-format.js";

/** What RunDefaults.timeout accepts (workflows_service.proto): positive, at most 366 days. */
const timeoutBounds: DurationBounds = { positive: true, max: "366d" };

/** `workflows create`. */
export const createWorkflowCommand: Command = {
  path: ["workflows", "create"],
  summary: "create a workflow (or fail if the slug is taken)",
  positionals: ["slug"],
  options: [
    { name: "definition", type: "string", value: "<json|@file>", help: "the workflow definition (required)" },
    { name: "input-schema", type: "string", value: "<json|@file>", help: "JSON Schema that run inputs must match" },
    { name: "max-attempts", type: "string", value: "<n>", help: "default attempts per run" },
    { name: "timeout", type: "string", value: "<duration>", help: `default run timeout, e.g. 30s, 5m (at most ${timeoutBounds.max})` },
  ],
  key: "tenant",
  async run({ args, out, connect }) {
    const schema = args.string("input-schema");
    const maxAttempts = args.string("max-attempts");
    const timeout = args.string("timeout");
    const response = await connect()
      .client(WorkflowsService)
      .createWorkflow({
        slug: args.positionals[0]!,
        definition: parseValueArgument("definition", args.required("definition")),
        ...(schema === undefined ? {} : { inputSchema: parseValueArgument("input-schema", schema) }),
        defaults: {
          maxAttempts: maxAttempts === undefined ? 0 : parseCountArgument("max-attempts", maxAttempts),
          ...(timeout === undefined ? {} : { timeout: parseDurationArgument("timeout", timeout, timeoutBounds) }),
        },
      });
    if (out.json) return out.message(CreateWorkflowResponseSchema, response);
    out.line(`created workflow ${response.workflow!.slug} (${response.workflow!.id}) version ${response.workflow!.latestVersion}`);
  },
};

/** `workflows list`. */
export const listWorkflowsCommand: Command = {
  path: ["workflows", "list"],
  summary: "list the tenant's workflows",
  positionals: [],
  options: [{ name: "limit", type: "string", value: "<n>", help: "at most this many (default 100)" }],
  key: "tenant",
  async run({ args, out, connect }) {
    const limit = parseCountArgument("limit", args.string("limit") ?? "100");
    const workflows = connect().client(WorkflowsService);
    const { items, nextPageToken } = await collectPages(limit, async (pageToken, pageSize) => {
      const page = await workflows.listWorkflows({ pageToken, pageSize });
      return { items: page.workflows, nextPageToken: page.nextPageToken };
    });
    if (out.json) return out.message(ListWorkflowsResponseSchema, create(ListWorkflowsResponseSchema, { workflows: items, nextPageToken }));
    out.table(
      ["SLUG", "ID", "VERSION", "CREATED"],
      items.map((workflow) => [workflow.slug, workflow.id, String(workflow.latestVersion), formatTime(workflow.createTime)]),
    );
  },
};
