/**
 * The demo executor that `npm start` runs in-process (RUNLINE_DEMO_WORKER=0 turns it
 * off), so a newcomer can start a run and watch it finish. It serves the tenant
 * `demo`: at start it makes sure the tenant and the demo workflows exist, mints a worker
 * key of its own (the secret never leaves memory; the key is revoked at stop), and runs
 * the SDK worker against the server's own port. Several replicas each run one.
 */
import type { Database } from "../db/database.js";
import { ApiKeyEntity, TenantEntity } from "../db/entities.js";
import type { Logger } from "../logger.js";
import { createWorker, type Worker } from "../sdk/create-worker.js";
import { createApiKey, createTenant } from "../tenants/tenant-admin.js";
import { createWorkflow, createWorkflowVersion, getWorkflow } from "../workflows/workflows.js";
import { RunlineError } from "../errors.js";
import { demoWorkflows } from "./demo-workflows.js";

/** The demo tenant's slug. */
export const demoTenantSlug = "demo";
const keyName = "demo-executor";

async function ensureDemoTenant(database: Database): Promise<string> {
  const em = database.entityManager();
  const existing = await em.findOne(TenantEntity, { slug: demoTenantSlug });
  if (existing !== null) return existing.id;
  try {
    return (await createTenant(em, demoTenantSlug)).id;
  } catch (error) {
    // Another replica created it first.
    if (error instanceof RunlineError && error.kind === "already_exists")
      return (await em.findOneOrFail(TenantEntity, { slug: demoTenantSlug })).id;
    throw error;
  }
}

async function ensureWorkflows(database: Database, tenantId: string): Promise<void> {
  for (const workflow of demoWorkflows) {
    const em = database.entityManager();
    try {
      await getWorkflow(em, tenantId, workflow.slug);
      // A new version only when the demo's content changed (equal content is a no-op).
      await createWorkflowVersion(em, tenantId, workflow.slug, workflow.content);
    } catch (error) {
      if (!(error instanceof RunlineError && error.kind === "not_found")) throw error;
      await createWorkflow(em, tenantId, workflow.slug, workflow.content).catch((raced: unknown) => {
        if (!(raced instanceof RunlineError && raced.kind === "already_exists")) throw raced;
      });
    }
  }
}

/** Starts the demo executor against `serverUrl`; returns the worker to stop at shutdown. */
export async function startDemoExecutor(database: Database, serverUrl: string, logger: Logger): Promise<Worker> {
  const tenantId = await ensureDemoTenant(database);
  await ensureWorkflows(database, tenantId);
  const em = database.entityManager();
  // Every replica runs its own executor with its own key, revoked when it stops. Keys
  // left by replicas that crashed are revoked once they are a week old.
  const weekAgo = new Date(Date.now() - 7 * 24 * 3600 * 1000);
  await em.nativeUpdate(
    ApiKeyEntity,
    { tenantId, displayName: keyName, revokeTime: null, createTime: { $lt: weekAgo } },
    { revokeTime: new Date() },
  );
  const { secret, apiKey } = await createApiKey(em, tenantId, ["worker"], keyName);
  const handlers = new Map(demoWorkflows.map((workflow) => [workflow.slug, workflow.handler]));
  const log = logger.child({ component: "demo-executor" });
  const worker = createWorker({
    server: serverUrl,
    apiKey: secret,
    workflows: demoWorkflows.map((workflow) => workflow.slug),
    concurrency: 8,
    workerId: `demo-executor-${process.pid}`,
    // Short leases: heartbeats every 2 s, so a cancel reaches a demo run within 2 s.
    leaseMs: 6000,
    handler: async (job) => {
      const handler = handlers.get(job.run.workflowSlug);
      if (handler === undefined) throw new Error(`no demo handler for workflow ${job.run.workflowSlug}`);
      return handler(job);
    },
    onError: (error) => log.warn({ err: error }, "demo executor error"),
  });
  log.info({ tenant: demoTenantSlug, workflows: demoWorkflows.map((workflow) => workflow.slug) }, "demo executor started");
  return {
    get active() {
      return worker.active;
    },
    async stop(options) {
      await worker.stop(options);
      await database.entityManager().nativeUpdate(ApiKeyEntity, { tenantId, id: apiKey.id }, { revokeTime: new Date() });
    },
  };
}
