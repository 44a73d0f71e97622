/**
 * The rules of CreateAccessToken (API.md, "Browser access tokens"): what a key may put in
 * a token. Scopes never widen: each must be the key's own, or the key must be `admin`
 * (which covers every scope of its tenant). A wider scope is PERMISSION_DENIED, not
 * INVALID_ARGUMENT: the request is well formed and an admin key could make it; this key
 * lacks the authority (AIP-193). Only keys mint: a token minting tokens could outlive
 * itself, so a token is refused here too, whatever its scopes.
 */
import type { EntityManager } from "@mikro-orm/postgresql";
import { invalidArgument, RunlineError } from "../errors.js";
import { isUuid } from "../ids.js";
import { checkLabels } from "../runs/create-run.js";
import { getWorkflow } from "../workflows/workflows.js";
import type { AccessRestriction } from "./access-restriction.js";
import { defaultTokenTtlMs, maxTokenTtlMs, minTokenTtlMs, type TokenGrantRequest } from "./access-tokens.js";
import type { Caller, Scope } from "./caller.js";

/** A token request in domain terms (api/auth-service.ts translates the proto). */
export interface TokenRequest {
  readonly scopes: readonly Scope[];
  readonly runIds: readonly string[];
  readonly workflows: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
  readonly maxRuns: number;
  /** undefined: the default TTL. */
  readonly ttlMs: number | undefined;
}

const maxRunIds = 100;
const maxWorkflows = 20;
const maxLabels = 20;
const maxMaxRuns = 1_000_000;

/** Checks `request` against the minting caller and resolves its workflows; throws the refusal. */
export async function grantFor(em: EntityManager, minter: Caller, request: TokenRequest): Promise<TokenGrantRequest> {
  if (minter.token !== undefined) {
    throw new RunlineError(
      "permission_denied",
      "an access token cannot mint access tokens; mint with an API key",
      "ACCESS_TOKEN_CANNOT_MINT",
    );
  }
  const scopes = checkScopes(minter, request.scopes);
  const ttlMs = request.ttlMs ?? defaultTokenTtlMs;
  if (ttlMs < minTokenTtlMs || ttlMs > maxTokenTtlMs) throw invalidArgument("ttl", "must be between 1s and 24h (86400s)");
  checkMaxRuns(request, scopes);
  return {
    tenantId: minter.tenantId,
    keyId: minter.keyId,
    scopes,
    restriction: await restrictionOf(em, minter.tenantId, request),
    maxRuns: request.maxRuns,
    ttlMs,
  };
}

function checkScopes(minter: Caller, scopes: readonly Scope[]): Scope[] {
  if (scopes.length === 0) throw invalidArgument("scopes", "at least one scope is required");
  if (!minter.scopes.has("admin")) {
    scopes.forEach((scope, index) => {
      if (!minter.scopes.has(scope)) {
        throw new RunlineError(
          "permission_denied",
          `scopes[${index}]: "${scope}" is wider than the minting key's scopes (${[...minter.scopes].join(", ")})`,
          "ACCESS_TOKEN_SCOPE_WIDER",
          [{ field: `scopes[${index}]`, description: `the minting key does not have the "${scope}" scope` }],
        );
      }
    });
  }
  return [...new Set(scopes)];
}

function checkMaxRuns(request: TokenRequest, scopes: readonly Scope[]): void {
  if (request.maxRuns < 0 || request.maxRuns > maxMaxRuns) throw invalidArgument("maxRuns", `must be between 0 and ${maxMaxRuns}`);
  if (request.maxRuns === 0) return;
  if (!scopes.includes("write") && !scopes.includes("admin"))
    throw invalidArgument("maxRuns", "is only for tokens with the write or admin scope");
  if (request.runIds.length > 0) throw invalidArgument("maxRuns", "a token restricted to runIds cannot create runs");
}

async function restrictionOf(em: EntityManager, tenantId: string, request: TokenRequest): Promise<AccessRestriction | undefined> {
  const { runIds, workflows, labels } = request;
  if (runIds.length > maxRunIds) throw invalidArgument("runIds", `at most ${maxRunIds} runs`);
  runIds.forEach((id, index) => {
    if (!isUuid(id)) throw invalidArgument(`runIds[${index}]`, "is not a run id");
  });
  if (workflows.length > maxWorkflows) throw invalidArgument("workflows", `at most ${maxWorkflows} workflows`);
  if (Object.keys(labels).length > maxLabels) throw invalidArgument("labels", `at most ${maxLabels} labels`);
  checkLabels(labels, "");
  if (runIds.length === 0 && workflows.length === 0 && Object.keys(labels).length === 0) return undefined;
  return {
    runIds: runIds.length === 0 ? undefined : new Set(runIds.map((id) => id.toLowerCase())),
    workflows: workflows.length === 0 ? undefined : await resolveWorkflows(em, tenantId, workflows),
    labels: Object.keys(labels).length === 0 ? undefined : { ...labels },
  };
}

/** Workflow ids and slugs → id → slug, so verifying a token needs no lookup; an unknown one is named. */
async function resolveWorkflows(em: EntityManager, tenantId: string, workflows: readonly string[]): Promise<Map<string, string>> {
  const resolved = new Map<string, string>();
  for (const [index, workflow] of workflows.entries()) {
    if (workflow === "") throw invalidArgument(`workflows[${index}]`, "is empty; name a workflow by id or slug");
    const found = await getWorkflow(em, tenantId, workflow).catch((error: unknown) => {
      if (error instanceof RunlineError && error.kind === "not_found")
        throw invalidArgument(`workflows[${index}]`, "no such workflow in this tenant");
      throw error;
    });
    resolved.set(found.id, found.slug);
  }
  return resolved;
}
