/**
 * MikroORM entity mappings of the tables that cold paths (tenants, API keys,
 * workflows) read and write through the EntityManager. The schema itself is owned by
 * the SQL migrations in ./migrations; these mappings must follow it. Hot paths (runs,
 * events) use parameterised SQL in their own modules instead of the unit of work.
 */
import { defineEntity, p } from "@mikro-orm/postgresql";

/** A tenant: an isolated space of workflows, runs and keys. */
export const TenantEntity = defineEntity({
  name: "Tenant",
  tableName: "tenants",
  properties: {
    id: p.uuid().primary(),
    slug: p.text(),
    createTime: p.datetime().defaultRaw("now()"),
    /** Seconds a finished run is kept after it ends; 0 keeps runs forever (migration 0009). */
    retentionSeconds: p.integer(),
  },
});

/** An API key; only the SHA-256 of its secret is stored. */
export const ApiKeyEntity = defineEntity({
  name: "ApiKey",
  tableName: "api_keys",
  properties: {
    tenantId: p.uuid().primary(),
    id: p.uuid().primary(),
    secretHash: p.type("blob"),
    scopes: p.array(),
    displayName: p.text(),
    createTime: p.datetime().defaultRaw("now()"),
    revokeTime: p.datetime().nullable(),
  },
});

/** A workflow; its versions are WorkflowVersionEntity rows. */
export const WorkflowEntity = defineEntity({
  name: "Workflow",
  tableName: "workflows",
  properties: {
    tenantId: p.uuid().primary(),
    id: p.uuid().primary(),
    slug: p.text(),
    latestVersion: p.integer(),
    /** The latest version's concurrency limit (0 = none), kept here for claims. */
    concurrencyLimit: p.integer().default(0),
    createTime: p.datetime().defaultRaw("now()"),
  },
});

/** An immutable, content-hashed version of a workflow. */
export const WorkflowVersionEntity = defineEntity({
  name: "WorkflowVersion",
  tableName: "workflow_versions",
  properties: {
    tenantId: p.uuid().primary(),
    workflowId: p.uuid().primary(),
    version: p.integer().primary(),
    definition: p.json<unknown>(),
    inputSchema: p.json<unknown>().nullable(),
    defaults: p.json<Record<string, unknown>>(),
    contentHash: p.text(),
    createTime: p.datetime().defaultRaw("now()"),
  },
});

/** Every mapped entity, for the ORM's configuration. */
export const entities = [TenantEntity, ApiKeyEntity, WorkflowEntity, WorkflowVersionEntity];
