/**
 * Interceptors that run on every protocol: authentication and scope checks, then error
 * mapping (so handlers and domain code throw in their own words), then call logging.
 */
import { Code, ConnectError, type Interceptor, type StreamResponse } from "@connectrpc/connect";
import type { KeyResolver } from "../auth/api-keys.js";
import { callerKey } from "../auth/caller.js";
import type { Logger } from "../logger.js";
import { toConnectError } from "./error-mapping.js";
import { accessFor } from "./method-scopes.js";

function bearerSecret(header: string | null): string | undefined {
  if (header === null) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/** Resolves `Authorization: Bearer <key>` and enforces the method's access rule. */
export function authInterceptor(keys: KeyResolver): Interceptor {
  return (next) => async (request) => {
    const access = accessFor(request.service.typeName, request.method.name);
    if (access.kind === "public") return next(request);
    const secret = bearerSecret(request.header.get("authorization"));
    if (secret === undefined) throw new ConnectError("missing API key: send Authorization: Bearer <key>", Code.Unauthenticated);
    const caller = await keys.resolve(secret);
    if (caller === undefined) throw new ConnectError("unknown or revoked API key", Code.Unauthenticated);
    if (access.kind === "root" && !caller.isRoot) throw new ConnectError("this method needs the root key", Code.PermissionDenied);
    if (access.kind === "scopes" && !caller.isRoot && !access.anyOf.some((scope) => caller.scopes.has(scope))) {
      throw new ConnectError(`this method needs one of the scopes: ${access.anyOf.join(", ")}`, Code.PermissionDenied);
    }
    request.contextValues.set(callerKey, caller);
    return next(request);
  };
}

async function* mapStreamErrors<T>(messages: AsyncIterable<T>, onError: (error: ConnectError) => void): AsyncIterable<T> {
  try {
    yield* messages;
  } catch (error) {
    const mapped = toConnectError(error);
    onError(mapped);
    throw mapped;
  }
}

/** gRPC, gRPC-web or Connect, from the request's content type. */
function protocolOf(contentType: string | null): string {
  if (contentType?.startsWith("application/grpc-web") === true) return "grpc-web";
  if (contentType?.startsWith("application/grpc") === true) return "grpc";
  return "connect";
}

/** Maps every failure to a ConnectError (see error-mapping.ts) and logs each call. */
export function errorAndLogInterceptor(logger: Logger): Interceptor {
  return (next) => async (request) => {
    const started = performance.now();
    const procedure = `/${request.service.typeName}/${request.method.name}`;
    const tenant = () => request.contextValues.get(callerKey)?.tenantId;
    const report = (error: ConnectError | undefined) => {
      const fields = { procedure, protocol: protocolOf(request.header.get("content-type")), tenant: tenant(), code: error === undefined ? "ok" : Code[error.code], durationMs: Math.round(performance.now() - started) };
      if (error?.code === Code.Internal || error?.code === Code.Unknown) logger.error({ ...fields, err: error.cause ?? error }, "call failed");
      else logger.debug(fields, "call");
    };
    try {
      const response = await next(request);
      if (!response.stream) {
        report(undefined);
        return response;
      }
      const streamed: StreamResponse = { ...response, message: mapStreamErrors(response.message, report) };
      return streamed as typeof response;
    } catch (error) {
      const mapped = toConnectError(error);
      report(mapped);
      throw mapped;
    }
  };
}
