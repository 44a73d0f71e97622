/**
 * What an access token's restriction and `maxRuns` mean for each RPC, enforced by one
 * interceptor after authentication, so a handler written tomorrow is covered without a
 * line of its own: an RPC missing from `rules` is PERMISSION_DENIED to restricted tokens.
 *
 * - An RPC that names a run (GetRun, events, output, definition, cancel, delete, resume,
 *   rerun, ingest, deliveries by run …): NOT_FOUND unless the run lies inside the
 *   restriction, worded as for an unknown run (auth/access-restriction.ts).
 * - Lists: ListRuns and SearchRuns narrow their filter in SQL (`narrowedRunFilter`),
 *   ListWorkflows lists only the token's workflows, ListWebhooks is empty (endpoints
 *   are the tenant's, inside no restriction), ListWebhookDeliveries needs a `runId`.
 * - Creates: the run must fall inside the restriction (labels are added to it), and a
 *   token restricted to named runs creates none. With `maxRuns`, each create reserves
 *   its runs first (auth/token-run-quota.ts); a failed create or an idempotent replay
 *   gives them back.
 * - Tenant settings (webhook endpoints and secrets, new workflows, executors): a
 *   restricted token is refused, or sees NOT_FOUND for what it names.
 */
import { create, type Message } from "@bufbuild/protobuf";
import type { HandlerContext, Interceptor, StreamResponse } from "@connectrpc/connect";
import type { BatchCreateRunsRequest, CreateRunRequest, RerunRunRequest } from "../../gen/runline/v1/runs_service_pb.js";
import type { ListWebhookDeliveriesRequest, UpdateWebhookRequest } from "../../gen/runline/v1/webhooks_service_pb.js";
import { admitCreatedRun, allowsWorkflow, checkRunAllowed, narrowRunFilter, type AccessRestriction } from "../auth/access-restriction.js";
import { callerKey, type TokenGrant } from "../auth/caller.js";
import { releaseTokenRuns, reserveTokenRuns } from "../auth/token-run-quota.js";
import type { Sql } from "../db/database.js";
import { invalidArgument, notFound, RunlineError } from "../errors.js";
import type { RunFilter } from "../runs/run-queries.js";
import { deliveryRunId } from "../webhooks/delivery-queries.js";
import { callerOf } from "./caller-context.js";

/** What a rule checks a request with. */
interface Admission {
  readonly sql: Sql;
  readonly tenantId: string;
  readonly restriction: AccessRestriction;
}

/** How one RPC meets a restriction. */
interface RestrictionRule {
  /** Checks (and may complete: labels of created runs) the request before the handler; throws to refuse. */
  readonly admit?: (message: Message, admission: Admission) => Promise<void> | void;
  /** Answered with an empty response (the handler's answer is dropped). */
  readonly empty?: true;
}

/** How many runs an RPC creates, for `maxRuns`. */
interface CreationRule {
  count(message: Message): number;
  /** Whether the response found an existing run by its idempotency key (nothing created). */
  replayed?(response: Message): boolean;
}

/** A rule over a typed request; the table below pairs each with its method. */
function rule<M extends Message>(admit: (message: M, admission: Admission) => Promise<void> | void): RestrictionRule {
  return { admit: (message, admission) => admit(message as M, admission) };
}

const byRunId = rule<Message & { runId: string }>((m, a) => checkRunAllowed(a.sql, a.tenantId, a.restriction, m.runId));
const byWorkflow = rule<Message & { workflow: string }>((m, a) => {
  if (!allowsWorkflow(a.restriction, m.workflow)) throw notFound("workflow", m.workflow);
});
const byWebhookId = rule<Message & { id: string }>((m) => {
  throw notFound("webhook", m.id);
});
/** The handler applies the restriction itself (lists narrowed in SQL, minting refused). */
const leftToHandler: RestrictionRule = {};

function denied(what: string): RestrictionRule {
  return rule(() => {
    throw new RunlineError(
      "permission_denied",
      `an access token restricted to runs, workflows or labels cannot ${what}`,
      "ACCESS_TOKEN_RESTRICTED",
    );
  });
}

function admitCreate(request: CreateRunRequest | undefined, field: string, restriction: AccessRestriction): void {
  if (request !== undefined) admitCreatedRun(restriction, { workflow: request.workflow, labels: request.labels, field });
}

const createsOne = rule<Message & { run?: CreateRunRequest | undefined }>((m, a) => admitCreate(m.run, "run.", a.restriction));

const rules: Readonly<Record<string, RestrictionRule>> = {
  "runline.v1.RunsService/CreateRun": rule<CreateRunRequest>((m, a) => admitCreate(m, "", a.restriction)),
  "runline.v1.RunsService/BatchCreateRuns": rule<BatchCreateRunsRequest>((m, a) => {
    m.requests.forEach((one, index) => admitCreate(one, `requests[${index}].`, a.restriction));
    admitCreate(m.template, "template.", a.restriction);
  }),
  "runline.v1.RunsService/RunAndWait": createsOne,
  "runline.v1.RunsService/RunAndStream": createsOne,
  // The original must be visible; the new run keeps its workflow and labels, over which
  // the restriction's labels must not be overridden.
  "runline.v1.RunsService/RerunRun": rule<RerunRunRequest>(async (m, a) => {
    await checkRunAllowed(a.sql, a.tenantId, a.restriction, m.runId);
    admitCreatedRun(a.restriction, { workflow: "", labels: m.labels, field: "" });
  }),
  "runline.v1.RunsService/GetRun": byRunId,
  "runline.v1.RunsService/ListRuns": leftToHandler,
  "runline.v1.RunsService/SearchRuns": leftToHandler,
  "runline.v1.RunsService/CancelRun": byRunId,
  "runline.v1.RunsService/DeleteRun": byRunId,
  "runline.v1.RunsService/ResumeRun": byRunId,
  "runline.v1.RunsService/GetRunDefinition": byRunId,
  "runline.v1.RunsService/GetRunOutput": byRunId,
  "runline.v1.RunsService/ListRunEvents": byRunId,
  "runline.v1.RunsService/StreamRunEvents": byRunId,
  "runline.v1.RunsService/IngestRunEvents": byRunId,
  "runline.v1.WorkflowsService/GetWorkflow": byWorkflow,
  "runline.v1.WorkflowsService/ListWorkflows": leftToHandler,
  "runline.v1.WorkflowsService/GetWorkflowVersion": byWorkflow,
  "runline.v1.WorkflowsService/ListWorkflowVersions": byWorkflow,
  "runline.v1.WorkflowsService/CreateWorkflow": denied("create workflows"),
  // A new version changes what every later run of the workflow does: only a token
  // restricted to named workflows may, and only to those.
  "runline.v1.WorkflowsService/CreateWorkflowVersion": rule<Message & { workflow: string }>((m, a) => {
    if (a.restriction.workflows === undefined) return denied("add workflow versions").admit!(m, a);
    if (!allowsWorkflow(a.restriction, m.workflow)) throw notFound("workflow", m.workflow);
  }),
  // Refused by the handler for every token, restricted or not, with the reason (token-requests.ts).
  "runline.v1.AuthService/CreateAccessToken": leftToHandler,
  "runline.v1.WebhooksService/CreateWebhook": denied("create webhook endpoints"),
  "runline.v1.WebhooksService/GetWebhook": byWebhookId,
  "runline.v1.WebhooksService/ListWebhooks": { empty: true },
  "runline.v1.WebhooksService/UpdateWebhook": rule<UpdateWebhookRequest>((m) => {
    throw notFound("webhook", m.webhook?.id ?? "");
  }),
  "runline.v1.WebhooksService/DeleteWebhook": byWebhookId,
  "runline.v1.WebhooksService/RotateWebhookSecret": byWebhookId,
  "runline.v1.WebhooksService/GetRunWebhookSecret": denied("read the tenant's run-webhook secret"),
  "runline.v1.WebhooksService/RotateRunWebhookSecret": denied("rotate the tenant's run-webhook secret"),
  "runline.v1.WebhooksService/ListWebhookDeliveries": rule<ListWebhookDeliveriesRequest>(async (m, a) => {
    if (m.runId === "") throw invalidArgument("runId", "is required with an access token restricted to runs, workflows or labels");
    await checkRunAllowed(a.sql, a.tenantId, a.restriction, m.runId);
  }),
  "runline.v1.WebhooksService/RedeliverWebhook": rule<Message & { id: string }>(async (m, a) => {
    const runId = await deliveryRunId(a.sql, a.tenantId, m.id);
    // The run's NOT_FOUND would name the run: the caller named a delivery.
    await checkRunAllowed(a.sql, a.tenantId, a.restriction, runId).catch((error: unknown) => {
      throw error instanceof RunlineError && error.kind === "not_found" ? notFound("webhook delivery", m.id) : error;
    });
  }),
};

const one = { count: () => 1 };
const creations: Readonly<Record<string, CreationRule>> = {
  "runline.v1.RunsService/CreateRun": {
    ...one,
    replayed: (response) => (response as Message & { idempotentReplayed: boolean }).idempotentReplayed,
  },
  "runline.v1.RunsService/RerunRun": {
    ...one,
    replayed: (response) => (response as Message & { idempotentReplayed: boolean }).idempotentReplayed,
  },
  // Replays are not told apart in a batch: every run of it counts.
  "runline.v1.RunsService/BatchCreateRuns": {
    count: (message) => (message as BatchCreateRunsRequest).requests.length + (message as BatchCreateRunsRequest).inputs.length,
  },
  "runline.v1.RunsService/RunAndWait": one,
  "runline.v1.RunsService/RunAndStream": one,
};

/** The rule for a method, PERMISSION_DENIED when the method has none. */
function ruleFor(procedure: string): RestrictionRule {
  return rules[procedure] ?? denied(`call ${procedure}`);
}

/** Enforces access tokens' restrictions and run limits (see the module comment). */
export function accessRestrictionInterceptor(sql: Sql): Interceptor {
  return (next) => async (request) => {
    const grant = request.contextValues.get(callerKey)?.token;
    if (grant === undefined) return next(request);
    const procedure = `${request.service.typeName}/${request.method.name}`;
    const restrictionRule = grant.restriction === undefined ? undefined : ruleFor(procedure);
    const creation = grant.maxRuns > 0 ? creations[procedure] : undefined;
    if (restrictionRule === undefined && creation === undefined) return next(request);
    const tenantId = request.contextValues.get(callerKey)!.tenantId;
    if (restrictionRule?.empty === true) {
      // The handler's answer is replaced rather than skipped: its response carries the
      // headers the protocol set up (content type …), which a response made here lacks.
      const response = await next(request);
      return response.stream ? response : { ...response, message: create(request.method.output) };
    }
    let reserved = 0;
    const admit = async (message: Message) => {
      if (restrictionRule?.admit !== undefined) await restrictionRule.admit(message, { sql, tenantId, restriction: grant.restriction! });
      if (creation === undefined) return;
      const count = creation.count(message);
      await reserveTokenRuns(sql, quotaHolder(grant, tenantId), count);
      reserved += count;
    };
    const release = async () => {
      if (reserved > 0) await releaseTokenRuns(sql, grant.tokenId, reserved);
      reserved = 0;
    };
    if (!request.stream) {
      await admit(request.message);
      try {
        const response = await next(request);
        if (!response.stream && creation?.replayed?.(response.message) === true) await release();
        return response;
      } catch (error) {
        await release();
        throw error;
      }
    }
    const response = await next({ ...request, message: admitted(request.message, admit) });
    if (!response.stream || creation === undefined) return response;
    const streamed: StreamResponse = { ...response, message: releasedOnEarlyFailure(response.message, release) };
    return streamed as typeof response;
  };
}

function quotaHolder(grant: TokenGrant, tenantId: string) {
  return { tokenId: grant.tokenId, tenantId, maxRuns: grant.maxRuns, expireTime: grant.expireTime };
}

/** Streamed request messages, each admitted before the handler sees it. */
async function* admitted<T extends Message>(messages: AsyncIterable<T>, admit: (message: T) => Promise<void>): AsyncIterable<T> {
  for await (const message of messages) {
    await admit(message);
    yield message;
  }
}

/** A stream that gives back its reservation when it fails before its first message (RunAndStream created nothing). */
async function* releasedOnEarlyFailure<T>(messages: AsyncIterable<T>, release: () => Promise<void>): AsyncIterable<T> {
  let sent = false;
  try {
    for await (const message of messages) {
      sent = true;
      yield message;
    }
  } catch (error) {
    if (!sent) await release();
    throw error;
  }
}

/** ListRuns/SearchRuns: the caller's filter narrowed to its token's restriction, if any. */
export function narrowedRunFilter(filter: RunFilter, context: HandlerContext): RunFilter {
  const restriction = callerOf(context).token?.restriction;
  return restriction === undefined ? filter : narrowRunFilter(filter, restriction);
}

/** ListWorkflows: the ids of the only workflows the caller may see, or undefined for all. */
export function visibleWorkflowIds(context: HandlerContext): string[] | undefined {
  const workflows = callerOf(context).token?.restriction?.workflows;
  return workflows === undefined ? undefined : [...workflows.keys()];
}
