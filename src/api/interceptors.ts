/**
 * Interceptors that run on every protocol: observation (request id, error mapping,
 * logs, metrics) outermost, then authentication and scope checks.
 */
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type Interceptor, type StreamResponse } from "@connectrpc/connect";
import type { KeyResolver } from "../auth/api-keys.js";
import { looksLikeAccessToken, type AccessTokenIssuer } from "../auth/access-tokens.js";
import { callerKey, type Caller } from "../auth/caller.js";
import { randomUUID } from "node:crypto";
import type { Logger } from "../logger.js";
import { codeLabel, type Metrics } from "../metrics/metrics.js";
import { adminServiceDisabled, missingKey, refusedToken, unknownKey, unverifiableToken } from "./auth-refusals.js";
import { fromAbortedCall, logLevelFor, toConnectError } from "./error-mapping.js";
import { accessFor } from "./method-scopes.js";
import { protocolLabel } from "./protocol-label.js";
import { markInvoked } from "./request-gate.js";
import { requestRefusal } from "./request-validation.js";
import { whileTokenLives } from "./token-streams.js";

function bearerSecret(header: string | null): string | undefined {
  if (header === null) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/**
 * Resolves `Authorization: Bearer <key or access token>` and enforces the method's access
 * rule. Without a root key, AdminService is refused as disabled whatever the credential
 * (auth-refusals.ts). An access token's restrictions are enforced after this
 * (access-restrictions.ts); a stream it opened ends when it expires or is revoked (token-streams.ts).
 */
export function authInterceptor(keys: KeyResolver, tokens: AccessTokenIssuer): Interceptor {
  return (next) => async (request) => {
    const caller = await authenticate(request.service.typeName, request.method.name, request.header.get("authorization"), keys, tokens);
    if (caller === undefined) return next(request);
    request.contextValues.set(callerKey, caller);
    const response = await next(request);
    if (!response.stream || caller.token === undefined) return response;
    const streamed: StreamResponse = { ...response, message: whileTokenLives(response.message, caller, tokens) };
    return streamed as typeof response;
  };
}

/**
 * The caller of `service`/`method` from its `Authorization` header, held to the method's
 * access rule (method-scopes.ts); undefined for public methods. Throws the refusal.
 * The auth interceptor's check, callable by paths that serve a method without connect-es
 * (api/run-event-push.ts).
 */
export async function authenticate(
  service: string,
  method: string,
  authorization: string | null,
  keys: KeyResolver,
  tokens: AccessTokenIssuer,
): Promise<Caller | undefined> {
  const access = accessFor(service, method);
  if (access.kind === "public") return undefined;
  if (access.kind === "root" && !keys.hasRootKey) throw adminServiceDisabled();
  const secret = bearerSecret(authorization);
  if (secret === undefined) throw missingKey();
  const caller = await resolveCredential(secret, keys, tokens);
  if (access.kind === "root" && !caller.isRoot) throw new ConnectError("this method needs the root key", Code.PermissionDenied);
  if (access.kind === "scopes" && !caller.isRoot && !access.anyOf.some((scope) => caller.scopes.has(scope))) {
    throw new ConnectError(`this method needs one of the scopes: ${access.anyOf.join(", ")}`, Code.PermissionDenied);
  }
  return caller;
}

/** The caller a credential stands for; UNAUTHENTICATED (or UNAVAILABLE) when it stands for none. */
async function resolveCredential(secret: string, keys: KeyResolver, tokens: AccessTokenIssuer): Promise<Caller> {
  if (!looksLikeAccessToken(secret)) {
    const caller = await keys.resolve(secret);
    if (caller === undefined) throw unknownKey();
    return caller;
  }
  const check = await tokens.verify(secret);
  if (check.kind === "valid") return check.caller;
  throw check.why === "unverifiable" ? unverifiableToken() : refusedToken(check.why);
}

// The same rule as the REST layer: 1 to 200 visible ASCII characters (JSON logs escape them).
const requestIdPattern = /^[\x21-\x7e]{1,200}$/;

/** Wraps a stream's messages: maps a failure, and reports the end either way. */
async function* observeStream<T>(
  messages: AsyncIterable<T>,
  signal: AbortSignal,
  end: (error: ConnectError | undefined) => void,
): AsyncIterable<T> {
  let failure: ConnectError | undefined;
  let completed = false;
  try {
    yield* messages;
    // A handler that honours its signal returns normally when the client leaves.
    completed = !signal.aborted;
  } catch (error) {
    failure = toConnectError(error, signal);
    throw failure;
  } finally {
    // Stopped early, or ended because the call's signal fired, without a failure: the
    // client left (or the deadline or shutdown came), which is not an OK call.
    end(failure ?? (completed ? undefined : fromAbortedCall(signal)));
  }
}

/**
 * The outermost interceptor: gives each call a request id (the caller's `X-Request-Id`
 * when it is sane, else a new one, echoed back), maps every failure to a ConnectError
 * (see error-mapping.ts), and logs and measures each call when it ends (server streams
 * when the stream ends). Logs carry ids, procedure, protocol, tenant, code and duration,
 * never headers or payloads, so secrets cannot reach them.
 */
export function observeInterceptor(logger: Logger, metrics: Metrics): Interceptor {
  return (next) => async (request) => {
    const call: ObservedCall = {
      started: performance.now(),
      procedure: `/${request.service.typeName}/${request.method.name}`,
      requestId: requestIdFrom(request.header.get("x-request-id")),
      protocol: protocolLabel(request.contextValues, request.header.get("content-type")),
      tenant: () => request.contextValues.get(callerKey)?.tenantId,
    };
    const { procedure, requestId } = call;
    const report = (error: ConnectError | undefined) => reportCall(logger, metrics, call, error);
    try {
      const response = await next(request);
      response.header.set("x-request-id", requestId);
      if (!response.stream) {
        report(undeliveredAnswer(request.signal));
        return response;
      }
      metrics.trackStream(procedure, 1);
      const streamed: StreamResponse = {
        ...response,
        message: observeStream(response.message, request.signal, (error) => {
          metrics.trackStream(procedure, -1);
          report(error);
        }),
      };
      return streamed as typeof response;
    } catch (error) {
      const mapped = toConnectError(error, request.signal);
      mapped.metadata.set("x-request-id", requestId);
      report(mapped);
      throw mapped;
    }
  };
}

/** What the call log and metrics record of a call, gathered when it starts. */
export interface ObservedCall {
  /** performance.now() at the start. */
  readonly started: number;
  /** `/package.Service/Method`. */
  readonly procedure: string;
  readonly requestId: string;
  readonly protocol: string;
  /** The caller's tenant, once authenticated. */
  readonly tenant: () => string | undefined;
}

/** The caller's `X-Request-Id` when it is sane, else a new one. */
export function requestIdFrom(given: string | null): string {
  return given !== null && requestIdPattern.test(given) ? given : randomUUID();
}

/**
 * Logs and measures a call that ended with `error` (undefined: OK), as the observe
 * interceptor does for every call; exported for paths that serve a method without
 * connect-es (api/run-event-push.ts), so their calls are recorded alike.
 */
export function reportCall(logger: Logger, metrics: Metrics, call: ObservedCall, error: ConnectError | undefined): void {
  const seconds = (performance.now() - call.started) / 1000;
  metrics.recordCall(call.procedure, call.protocol, error?.code, seconds);
  const fields = {
    requestId: call.requestId,
    procedure: call.procedure,
    protocol: call.protocol,
    tenant: call.tenant(),
    code: codeLabel(error?.code),
    durationMs: Math.round(seconds * 1000),
  };
  const level = logLevelFor(error?.code);
  if (level === "error") logger.error({ ...fields, err: error?.cause ?? error }, "call failed");
  else if (level === "warn") logger.warn({ ...fields, err: describeCause(error) }, "call failed");
  // Health checks arrive every few seconds from orchestrators: debug, not info.
  else if (level === "debug" || call.procedure.startsWith("/grpc.health.v1.Health/")) logger.debug(fields, "call");
  else logger.info(fields, "call");
}

/**
 * Why a unary handler's answer reaches no one, or undefined when it is delivered. A
 * handler that honours its signal (RunAndWait, a long GetRunOutput) returns normally when
 * the client leaves or the deadline passes: that call was CANCELED (or DEADLINE_EXCEEDED),
 * not OK. At shutdown the answer is still written to a client that waits, so it is OK.
 */
function undeliveredAnswer(signal: AbortSignal): ConnectError | undefined {
  if (!signal.aborted) return undefined;
  const ended = fromAbortedCall(signal);
  return ended.code === Code.Unavailable ? undefined : ended;
}

/** The message of what lies behind an expected failure (no stack: these are not bugs). */
function describeCause(error: ConnectError | undefined): string | undefined {
  const cause: unknown = error?.cause;
  return cause instanceof Error ? cause.message : error?.message;
}

/**
 * Refuses request messages no field of ours may hold (request-validation.ts): unary
 * requests before the handler runs, streamed ones as each message arrives, so a bad
 * message in the middle of a Work session ends it with INVALID_ARGUMENT. A message the
 * transport could not decode (INTERNAL in connect-es) is the client's fault too.
 * Innermost, so only authenticated callers learn what was wrong with their request.
 */
export function validationInterceptor(): Interceptor {
  return (next) => async (request) => {
    markInvoked(request.contextValues);
    if (!request.stream) {
      const refusal = requestRefusal(request.method.input, request.message);
      if (refusal !== undefined) throw refusal;
      return next(request);
    }
    return next({ ...request, message: validatedStream(request.method.input, request.message) });
  };
}

async function* validatedStream<Desc extends DescMessage>(
  schema: Desc,
  messages: AsyncIterable<MessageShape<Desc>>,
): AsyncIterable<MessageShape<Desc>> {
  let index = 0;
  try {
    for await (const message of messages) {
      const refusal = requestRefusal(schema, message, "");
      if (refusal !== undefined) throw refusal;
      index++;
      yield message;
    }
  } catch (error) {
    if (error instanceof ConnectError && error.code === Code.Internal) {
      throw new ConnectError(
        `request message ${index + 1} could not be read: ${error.rawMessage}`,
        Code.InvalidArgument,
        undefined,
        undefined,
        error,
      );
    }
    throw error;
  }
}
