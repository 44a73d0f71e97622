/**
 * Which scopes may call which RPC, whether the caller holds an API key or an access
 * token (a token's scopes are checked the same way; what its restrictions add is in
 * access-restrictions.ts). Services not listed here (health, reflection) need no key.
 * `admin` may do everything within its tenant; AdminService is root-only.
 */
import type { Scope } from "../auth/caller.js";

/** The access rule of one RPC. */
export type Access =
  { readonly kind: "public" } | { readonly kind: "root" } | { readonly kind: "scopes"; readonly anyOf: readonly Scope[] };

const read: Access = { kind: "scopes", anyOf: ["read", "admin"] };
const write: Access = { kind: "scopes", anyOf: ["write", "admin"] };
const worker: Access = { kind: "scopes", anyOf: ["worker", "admin"] };
const root: Access = { kind: "root" };

const rules: Record<string, Access | Record<string, Access>> = {
  "runline.v1.RunsService": {
    CreateRun: write,
    BatchCreateRuns: write,
    GetRun: read,
    ListRuns: read,
    SearchRuns: read,
    CancelRun: write,
    DeleteRun: write,
    ResumeRun: write,
    GetRunDefinition: read,
    GetRunOutput: read,
    ListRunEvents: read,
    StreamRunEvents: read,
    RunAndWait: write,
    RunAndStream: write,
    RerunRun: write,
    // Unfenced appends, for callers outside any lease. Executors (the worker scope) report
    // through WorkerService.ReportRunEvents, fenced by their lease: a worker key here
    // could write into a run it lost (API.md, "Events written by executors are fenced").
    IngestRunEvents: write,
  },
  "runline.v1.WorkflowsService": {
    CreateWorkflow: write,
    GetWorkflow: read,
    ListWorkflows: read,
    CreateWorkflowVersion: write,
    GetWorkflowVersion: read,
    ListWorkflowVersions: read,
  },
  "runline.v1.WebhooksService": {
    CreateWebhook: write,
    GetWebhook: read,
    ListWebhooks: read,
    UpdateWebhook: write,
    DeleteWebhook: write,
    RotateWebhookSecret: write,
    // A read, but it returns a signing secret: whoever holds it can forge deliveries.
    GetRunWebhookSecret: write,
    RotateRunWebhookSecret: write,
    ListWebhookDeliveries: read,
    RedeliverWebhook: write,
  },
  // Keys with write or admin mint tokens no wider than themselves; tokens mint none
  // (auth/token-requests.ts refuses them whatever their scopes).
  "runline.v1.AuthService": { CreateAccessToken: write },
  "runline.v1.WorkerService": worker,
  "runline.v1.AdminService": root,
};

/** The rule for `service`/`method`; unknown methods of known services default to admin-only. */
export function accessFor(service: string, method: string): Access {
  const rule = rules[service];
  if (rule === undefined) return { kind: "public" };
  if ("kind" in rule) return rule as Access;
  return (rule as Record<string, Access>)[method] ?? { kind: "scopes", anyOf: ["admin"] };
}
