/**
 * Long-poll claims: try to claim; when nothing is ready, sleep until the tenant's queue
 * is announced (a run was queued here or, through NOTIFY, on another replica) and try
 * again, until the wait ends. The subscription is opened before the first attempt, so
 * a run queued between the attempt and the sleep still wakes the claimer. A bounded
 * re-poll (every `fallbackPollMs`) covers lost notifications.
 */
import { LRUCache } from "lru-cache";
import type { Sql } from "../db/database.js";
import { invalidArgument, notFound } from "../errors.js";
import type { EventHub } from "../events/event-hub.js";
import { isUuid } from "../ids.js";
import type { Claimer, ClaimRequest } from "./claim-runs.js";
import type { LeaseRecord } from "./lease-record.js";

const fallbackPollMs = 2000;

/** Claims, waiting up to `waitMs` for a run when none is ready. */
export async function claimWithWait(
  claimer: Claimer,
  hub: EventHub,
  tenantId: string,
  request: ClaimRequest,
  waitMs: number,
  signal: AbortSignal,
): Promise<LeaseRecord[]> {
  const subscription = hub.subscribeQueue(tenantId);
  const deadline = Date.now() + waitMs;
  try {
    for (;;) {
      const leases = await claimer.claim(tenantId, request);
      const left = deadline - Date.now();
      if (leases.length > 0 || left <= 0 || signal.aborted) return leases;
      await subscription.wait(AbortSignal.any([signal, AbortSignal.timeout(Math.min(left, fallbackPollMs))]));
    }
  } finally {
    subscription.close();
  }
}

// workflows primary key or (tenant_id, slug) unique index.
const resolveWorkflows = `
  select id, slug from workflows
  where tenant_id = $1::uuid and (id = any($2::uuid[]) or slug = any($3::text[]))`;

/**
 * Workflow ids for the ids or slugs a claimer names; an unknown one is NOT_FOUND.
 * Workflows are never deleted and their slugs never change, so a resolution that
 * succeeded stays true: it is remembered (per tenant and list of names, a bounded number
 * of lists) and an executor's claims after its first cost no lookup.
 */
export function createWorkflowResolver(sql: Sql): (tenantId: string, workflows: readonly string[]) => Promise<string[]> {
  const known = new LRUCache<string, string[]>({ max: 10_000 });
  return async (tenantId, workflows) => {
    if (workflows.length === 0) return [];
    if (workflows.length > 100) throw invalidArgument("workflows", "at most 100 workflows per claim");
    const key = `${tenantId}/${workflows.join("\n")}`;
    const remembered = known.get(key);
    if (remembered !== undefined) return remembered;
    const ids = workflows.filter(isUuid).map((id) => id.toLowerCase());
    const rows = await sql.query<{ id: string; slug: string }>(resolveWorkflows, [tenantId, ids, workflows]);
    for (const name of workflows) {
      if (!rows.some((row) => row.id === name.toLowerCase() || row.slug === name)) throw notFound("workflow", name);
    }
    const resolved = [...new Set(rows.map((row) => row.id))];
    known.set(key, resolved);
    return resolved;
  };
}
