/**
 * WorkflowsService: translation only; rules live in workflows/.
 */
import type { ServiceImpl } from "@connectrpc/connect";
import type { RunDefaults as ProtoRunDefaults, WorkflowsService } from "../../gen/runline/v1/workflows_service_pb.js";
import type { Value } from "@bufbuild/protobuf/wkt";
import type { AppContext } from "../app-context.js";
import { invalidArgument } from "../errors.js";
import { pageSize } from "../runs/page-token.js";
import {
  createWorkflow,
  createWorkflowVersion,
  getWorkflow,
  getWorkflowVersion,
  listWorkflows,
  listWorkflowVersions,
  type RunDefaults,
  type VersionContent,
  type Workflow,
  type WorkflowVersion,
} from "../workflows/workflows.js";
import { visibleWorkflowIds } from "./access-restrictions.js";
import { tenantOf } from "./caller-context.js";
import { durationFrom, jsonFromValue, millisFrom, timestamp, valueFromJson } from "./proto-convert.js";

function defaultsFrom(defaults: ProtoRunDefaults | undefined): RunDefaults {
  if (defaults === undefined) return {};
  const timeoutMs = millisFrom(defaults.timeout, "defaults.timeout");
  const backoffMs = millisFrom(defaults.backoff, "defaults.backoff");
  return {
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
    ...(backoffMs === undefined ? {} : { backoffMs }),
    ...(defaults.maxAttempts === 0 ? {} : { maxAttempts: defaults.maxAttempts }),
    ...(defaults.concurrencyLimit === 0 ? {} : { concurrencyLimit: defaults.concurrencyLimit }),
  };
}

function contentFrom(request: {
  definition?: Value | undefined;
  inputSchema?: Value | undefined;
  defaults?: ProtoRunDefaults | undefined;
}): VersionContent {
  return {
    definition: jsonFromValue(request.definition, "definition"),
    inputSchema: jsonFromValue(request.inputSchema, "inputSchema"),
    defaults: defaultsFrom(request.defaults),
  };
}

function workflowMessage(workflow: Workflow) {
  return { id: workflow.id, slug: workflow.slug, latestVersion: workflow.latestVersion, createTime: timestamp(workflow.createTime) };
}

function versionMessage(version: WorkflowVersion) {
  return {
    workflowId: version.workflowId,
    version: version.version,
    definition: valueFromJson(version.definition ?? null),
    inputSchema: version.inputSchema === undefined || version.inputSchema === null ? undefined : valueFromJson(version.inputSchema),
    defaults: {
      timeout: durationFrom(version.defaults.timeoutMs),
      backoff: durationFrom(version.defaults.backoffMs),
      maxAttempts: version.defaults.maxAttempts ?? 0,
      concurrencyLimit: version.defaults.concurrencyLimit ?? 0,
    },
    contentHash: version.contentHash,
    createTime: timestamp(version.createTime),
  };
}

/** Workflow page tokens are plain keyset cursors: the listing has no filter to bind. */
function workflowCursor(token: string): { createTime: Date; id: string } | undefined {
  if (token === "") return undefined;
  const [time, id] = Buffer.from(token, "base64url").toString("utf8").split("|");
  const createTime = new Date(time ?? "");
  if (id === undefined || Number.isNaN(createTime.getTime())) throw invalidArgument("pageToken", "is not a token this server issued");
  return { createTime, id };
}

/** The WorkflowsService implementation. */
export function workflowsService(app: AppContext): ServiceImpl<typeof WorkflowsService> {
  const em = () => app.database.entityManager();
  return {
    async createWorkflow(request, context) {
      const created = await createWorkflow(em(), tenantOf(context), request.slug, contentFrom(request));
      return { workflow: workflowMessage(created.workflow), version: versionMessage(created.version) };
    },
    async getWorkflow(request, context) {
      return { workflow: workflowMessage(await getWorkflow(em(), tenantOf(context), request.workflow)) };
    },
    async listWorkflows(request, context) {
      const limit = pageSize(request.pageSize, 50, 1000);
      const rows = await listWorkflows(em(), tenantOf(context), limit + 1, workflowCursor(request.pageToken), visibleWorkflowIds(context));
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      const nextPageToken =
        rows.length > limit && last !== undefined ? Buffer.from(`${last.createTime.toISOString()}|${last.id}`).toString("base64url") : "";
      return { workflows: page.map(workflowMessage), nextPageToken };
    },
    async createWorkflowVersion(request, context) {
      return { version: versionMessage(await createWorkflowVersion(em(), tenantOf(context), request.workflow, contentFrom(request))) };
    },
    async getWorkflowVersion(request, context) {
      return { version: versionMessage(await getWorkflowVersion(em(), tenantOf(context), request.workflow, request.version)) };
    },
    async listWorkflowVersions(request, context) {
      const limit = pageSize(request.pageSize, 50, 1000);
      const before = request.pageToken === "" ? 0 : Number(Buffer.from(request.pageToken, "base64url").toString("utf8"));
      if (!Number.isInteger(before) || before < 0) throw invalidArgument("pageToken", "is not a token this server issued");
      const rows = await listWorkflowVersions(em(), tenantOf(context), request.workflow, limit + 1, before);
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      const nextPageToken = rows.length > limit && last !== undefined ? Buffer.from(String(last.version)).toString("base64url") : "";
      return { versions: page.map(versionMessage), nextPageToken };
    },
  };
}
