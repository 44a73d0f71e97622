/**
 * Reading the authenticated caller in a handler. The auth interceptor has already
 * refused calls without a valid key, so a missing caller here is a wiring bug.
 */
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { callerKey, type Caller } from "../auth/caller.js";

/** The caller of this request. */
export function callerOf(context: HandlerContext): Caller {
  const caller = context.values.get(callerKey);
  if (caller === undefined) throw new ConnectError("no authenticated caller", Code.Internal);
  return caller;
}

/** The caller's tenant id; the root key has none and may not touch tenant data. */
export function tenantOf(context: HandlerContext): string {
  const caller = callerOf(context);
  if (caller.isRoot) throw new ConnectError("the root key manages tenants and keys only; use a tenant API key", Code.PermissionDenied);
  return caller.tenantId;
}
