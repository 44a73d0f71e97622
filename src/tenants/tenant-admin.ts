/**
 * Tenants, their retention period, and their API keys (AdminService). Cold paths
 * through MikroORM. Secrets are generated here, returned once, and stored only as their
 * SHA-256. Retention is applied by retention/retention-sweeper.ts.
 */
import type { EntityManager, InferEntity } from "@mikro-orm/postgresql";
import { ApiKeyEntity, TenantEntity } from "../db/entities.js";
import { invalidArgument, notFound, RunlineError } from "../errors.js";
import { isUuid, newId } from "../ids.js";
import { generateSecret, hashSecret } from "../auth/api-keys.js";
import type { Scope } from "../auth/caller.js";

/** A tenant as stored. */
export interface Tenant {
  readonly id: string;
  readonly slug: string;
  readonly createTime: Date;
  /** How long finished runs are kept after they end, in seconds; 0 keeps them forever. */
  readonly retentionSeconds: number;
}

/** New tenants keep finished runs 30 days (the column's default says the same: migration 0009). */
export const defaultRetentionSeconds = 30 * 86_400;
/** Shortest finite retention: 1 day, since idempotency keys are promised for 24 h and go with their run. */
export const minRetentionSeconds = 86_400;
/** Longest finite retention: 3660 days (the database checks the same bounds). */
export const maxRetentionSeconds = 3_660 * 86_400;

/** An API key without its secret. */
export interface ApiKey {
  readonly id: string;
  readonly tenantId: string;
  readonly scopes: readonly Scope[];
  readonly displayName: string;
  readonly createTime: Date;
  readonly revokeTime: Date | undefined;
}

const slugPattern = /^[a-z][a-z0-9-]{0,62}$/;

/** Creates a tenant; a taken slug is ALREADY_EXISTS. */
export async function createTenant(em: EntityManager, slug: string): Promise<Tenant> {
  if (!slugPattern.test(slug)) throw invalidArgument("slug", "must be 1-63 lowercase letters, digits or dashes, starting with a letter");
  const tenant = { id: newId(), slug, createTime: new Date(), retentionSeconds: defaultRetentionSeconds };
  try {
    await em.insert(TenantEntity, tenant);
  } catch (error) {
    if ((error as { code?: string }).code === "23505")
      throw new RunlineError("already_exists", `tenant slug "${slug}" is already used`, "TENANT_SLUG_TAKEN");
    throw error;
  }
  return tenant;
}

/** A tenant by id or slug (`field` names the request field in errors); unknown: NOT_FOUND. */
export async function findTenant(em: EntityManager, tenant: string, field = "tenant"): Promise<Tenant> {
  if (tenant === "") throw invalidArgument(field, "is required");
  const row = await em.findOne(TenantEntity, isUuid(tenant) ? { id: tenant.toLowerCase() } : { slug: tenant });
  if (row === null) throw notFound("tenant", tenant);
  return { id: row.id, slug: row.slug, createTime: row.createTime, retentionSeconds: row.retentionSeconds };
}

/**
 * Sets a tenant's retention (`tenant` by id or slug, as `tenant.id` in UpdateTenant).
 * Bounds: 0, or minRetentionSeconds to maxRetentionSeconds.
 */
export async function setTenantRetention(em: EntityManager, tenant: string, retentionSeconds: number): Promise<Tenant> {
  const finite = retentionSeconds >= minRetentionSeconds && retentionSeconds <= maxRetentionSeconds;
  if (retentionSeconds !== 0 && !finite) {
    throw invalidArgument("tenant.retention", "must be 0 (keep finished runs forever) or from 1 day (86400s) to 3660 days (316224000s)");
  }
  const owner = await findTenant(em, tenant, "tenant.id");
  await em.nativeUpdate(TenantEntity, { id: owner.id }, { retentionSeconds });
  return { ...owner, retentionSeconds };
}

type KeyRow = InferEntity<typeof ApiKeyEntity>;

function toApiKey(row: KeyRow): ApiKey {
  return {
    id: row.id,
    tenantId: row.tenantId,
    scopes: row.scopes as Scope[],
    displayName: row.displayName,
    createTime: row.createTime,
    revokeTime: row.revokeTime ?? undefined,
  };
}

/** Creates a key; returns it with its secret, which is never available again. */
export async function createApiKey(
  em: EntityManager,
  tenant: string,
  scopes: readonly Scope[],
  displayName: string,
): Promise<{ apiKey: ApiKey; secret: string }> {
  if (scopes.length === 0) throw invalidArgument("scopes", "at least one scope is required");
  if (displayName.length > 200) throw invalidArgument("displayName", "must be at most 200 characters");
  const owner = await findTenant(em, tenant);
  const secret = generateSecret();
  const row = {
    tenantId: owner.id,
    id: newId(),
    secretHash: hashSecret(secret),
    scopes: [...new Set(scopes)],
    displayName,
    createTime: new Date(),
    revokeTime: null,
  };
  await em.insert(ApiKeyEntity, row);
  return { apiKey: toApiKey(row), secret };
}

/** Revokes a key (revoking twice changes nothing). */
export async function revokeApiKey(em: EntityManager, tenant: string, keyId: string): Promise<ApiKey> {
  const owner = await findTenant(em, tenant);
  if (!isUuid(keyId)) throw notFound("api key", keyId);
  // The guard in the WHERE keeps the first revocation time.
  await em.nativeUpdate(ApiKeyEntity, { tenantId: owner.id, id: keyId, revokeTime: null }, { revokeTime: new Date() });
  const row = await em.findOne(ApiKeyEntity, { tenantId: owner.id, id: keyId });
  if (row === null) throw notFound("api key", keyId);
  return toApiKey(row);
}

/** A tenant's keys, newest first. */
export async function listApiKeys(em: EntityManager, tenant: string): Promise<ApiKey[]> {
  const owner = await findTenant(em, tenant);
  const rows = await em.find(ApiKeyEntity, { tenantId: owner.id }, { orderBy: { createTime: "desc" } });
  return rows.map(toApiKey);
}
