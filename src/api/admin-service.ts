/**
 * AdminService: tenants, their retention, and API keys, for the root key only (the auth
 * interceptor enforces that). Translation only; rules live in tenants/.
 */
import type { ServiceImpl } from "@connectrpc/connect";
import type { AdminService, Tenant as TenantMessage } from "../../gen/runline/v1/admin_service_pb.js";
import type { AppContext } from "../app-context.js";
import { scopes as allScopes, type Scope } from "../auth/caller.js";
import { invalidArgument } from "../errors.js";
import {
  createApiKey,
  createTenant,
  findTenant,
  listApiKeys,
  revokeApiKey,
  setTenantRetention,
  type ApiKey,
  type Tenant,
} from "../tenants/tenant-admin.js";
import { durationFrom, millisFrom, timestamp } from "./proto-convert.js";

function tenantMessage(tenant: Tenant) {
  return {
    id: tenant.id,
    slug: tenant.slug,
    createTime: timestamp(tenant.createTime),
    retention: durationFrom(tenant.retentionSeconds * 1000),
  };
}

/** UpdateTenant's retention in seconds; the mask must name it (the only field that changes). */
function retentionUpdate(tenant: TenantMessage | undefined, paths: readonly string[]): number {
  if (paths.length === 0) throw invalidArgument("updateMask", "must name the fields to change");
  for (const path of paths) {
    if (path !== "retention") throw invalidArgument("updateMask", `"${path}" is not a field that can be changed`);
  }
  const ms = millisFrom(tenant?.retention, "tenant.retention") ?? 0;
  if (ms % 1000 !== 0) throw invalidArgument("tenant.retention", "must be whole seconds");
  return ms / 1000;
}

function keyMessage(key: ApiKey) {
  return {
    id: key.id,
    tenantId: key.tenantId,
    scopes: key.scopes.map((scope) => allScopes.indexOf(scope) + 1),
    displayName: key.displayName,
    createTime: timestamp(key.createTime),
    revokeTime: timestamp(key.revokeTime),
  };
}

function domainScopes(values: readonly number[]): Scope[] {
  return values.map((value, index) => {
    const scope = allScopes[value - 1];
    if (scope === undefined) throw invalidArgument(`scopes[${index}]`, `unknown scope ${value}`);
    return scope;
  });
}

/** The AdminService implementation. */
export function adminService(app: AppContext): ServiceImpl<typeof AdminService> {
  return {
    async createTenant(request) {
      const tenant = await createTenant(app.database.entityManager(), request.slug);
      return { tenant: tenantMessage(tenant) };
    },
    async getTenant(request) {
      return { tenant: tenantMessage(await findTenant(app.database.entityManager(), request.tenant)) };
    },
    async updateTenant(request) {
      const retentionSeconds = retentionUpdate(request.tenant, request.updateMask?.paths ?? []);
      const tenant = await setTenantRetention(app.database.entityManager(), request.tenant?.id ?? "", retentionSeconds);
      return { tenant: tenantMessage(tenant) };
    },
    async createApiKey(request) {
      const created = await createApiKey(app.database.entityManager(), request.tenant, domainScopes(request.scopes), request.displayName);
      return { apiKey: keyMessage(created.apiKey), secret: created.secret };
    },
    async revokeApiKey(request) {
      const key = await revokeApiKey(app.database.entityManager(), request.tenant, request.apiKeyId);
      app.keys.forgetAll();
      // This replica refuses the key's access tokens at once; others within their refresh period.
      app.tokens.keyRevoked(key.id);
      return { apiKey: keyMessage(key) };
    },
    async listApiKeys(request) {
      const keys = await listApiKeys(app.database.entityManager(), request.tenant);
      return { apiKeys: keys.map(keyMessage) };
    },
  };
}
