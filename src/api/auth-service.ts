/**
 * AuthService: access tokens. Translation only; the rules are in auth/token-requests.ts,
 * signing in auth/access-tokens.ts.
 */
import type { ServiceImpl } from "@connectrpc/connect";
import type { Scope as ProtoScope } from "../../gen/runline/v1/admin_service_pb.js";
import type { AuthService } from "../../gen/runline/v1/auth_service_pb.js";
import type { AppContext } from "../app-context.js";
import { scopes as allScopes, type Scope } from "../auth/caller.js";
import { grantFor } from "../auth/token-requests.js";
import { invalidArgument } from "../errors.js";
import { callerOf, tenantOf } from "./caller-context.js";
import { millisFrom, timestamp } from "./proto-convert.js";

function domainScopes(values: readonly ProtoScope[]): Scope[] {
  return values.map((value, index) => {
    const scope = allScopes[value - 1];
    if (scope === undefined) throw invalidArgument(`scopes[${index}]`, `unknown scope ${value}`);
    return scope;
  });
}

/** The AuthService implementation. */
export function authService(app: AppContext): ServiceImpl<typeof AuthService> {
  return {
    async createAccessToken(request, context) {
      // The root key belongs to no tenant and mints nothing: tenantOf refuses it.
      tenantOf(context);
      const grant = await grantFor(app.database.entityManager(), callerOf(context), {
        scopes: domainScopes(request.scopes),
        runIds: request.runIds,
        workflows: request.workflows,
        labels: request.labels,
        maxRuns: request.maxRuns,
        ttlMs: millisFrom(request.ttl, "ttl"),
      });
      const minted = await app.tokens.mint(grant);
      return { token: minted.token, expireTime: timestamp(minted.expireTime) };
    },
  };
}
