/**
 * Malformed requests that connect-es reports as INTERNAL, mapped to INVALID_ARGUMENT
 * where they happen: below our interceptors, which never see them.
 *
 * connect-es (2.x) reads, decompresses and parses a request before it calls the
 * interceptors of a unary method, and raises INTERNAL for a message that does not
 * decode ("parse binary: …", protocol/serialization.js) or an envelope flagged as
 * compressed without a grpc-encoding ("received compressed envelope …",
 * protocol/envelope.js); a Connect GET whose `message` is not base64 fails in
 * base64Decode with a plain Error, which becomes "internal error". All three are the
 * client's fault and would be retried or paged on as ours. The request gate
 * (UniversalHandlerOptions.requestGate) runs on every protocol before the body is read:
 * it checks the GET query itself, and listens on the call's signal, which connect-es
 * aborts with the failure before writing it out (protocol-*\/handler-factory.js: every
 * catch calls context.abort(e) first). A failure there before any interceptor ran can
 * only come from reading the request, so its code is changed on the spot. Streamed
 * requests fail the same way mid-call, after the interceptors ran: validationInterceptor
 * maps those. test/validation/malformed-requests.test.ts pins all of it per protocol.
 */
import { base64Decode } from "@bufbuild/protobuf/wire";
import { Code, ConnectError, createContextKey, type ContextValues, type HandlerContext } from "@connectrpc/connect";

/** Whether the call reached the interceptors; set by validationInterceptor. */
const invocationKey = createContextKey<{ invoked: boolean }>({ invoked: true }, { description: "whether the interceptors ran" });

/** Marks the call as having reached the interceptors: failures from here on are not decoding failures. */
export function markInvoked(values: ContextValues): void {
  values.get(invocationKey).invoked = true;
}

/** The gate for connectNodeAdapter / createConnectRouter (`requestGate`). */
export function requestGate(context: HandlerContext): void {
  const state = { invoked: false };
  context.values.set(invocationKey, state);
  context.signal.addEventListener(
    "abort",
    () => {
      const reason: unknown = context.signal.reason;
      // ConnectError's code is readonly in its type only; the instance is the one
      // connect-es is about to serialize, so changing it is the only way to change the answer.
      if (!state.invoked && reason instanceof ConnectError && reason.code === Code.Internal)
        (reason as { code: Code }).code = Code.InvalidArgument;
    },
    { once: true },
  );
  // A deadline of a millisecond or less has passed before the body is read. Answered
  // here, because once the deadline has aborted the signal, a decoding failure that
  // follows can no longer be told apart above and would go out as INTERNAL.
  const timeoutMs = context.timeoutMs();
  if (timeoutMs !== undefined && timeoutMs <= 1)
    throw new ConnectError("the deadline passed before the request was read", Code.DeadlineExceeded);
  if (context.requestMethod === "GET") checkGetMessage(context.url);
}

/** Connect GET: `message` must be valid base64 when `base64=1` says it is. */
function checkGetMessage(url: string): void {
  const query = new URL(url).searchParams;
  if (query.get("base64") !== "1") return;
  try {
    base64Decode(query.get("message") ?? "");
  } catch {
    throw new ConnectError('query parameter "message" is not valid base64', Code.InvalidArgument);
  }
}
