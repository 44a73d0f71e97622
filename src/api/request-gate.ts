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
 *
 * A unary Connect JSON request that does not decode is INVALID_ARGUMENT already, but with
 * protobuf-es's first complaint only; here it gets the field violation REST gives for the
 * same JSON (test/validation/json-field-violations.test.ts).
 */
import { create, fromJsonString } from "@bufbuild/protobuf";
import { base64Decode } from "@bufbuild/protobuf/wire";
import { Code, ConnectError, createContextKey, type ContextValues, type HandlerContext } from "@connectrpc/connect";
import { BadRequestSchema } from "../../gen/google/rpc/error_details_pb.js";
import { recordedBodyKey } from "../http/recorded-body.js";
import { findJsonFault, jsonFaultMessage } from "../http/transcoding/index.js";

/** Whether the call reached the interceptors; set by validationInterceptor. */
const invocationKey = createContextKey<{ invoked: boolean }>({ invoked: true }, { description: "whether the interceptors ran" });

/** Marks the call as having reached the interceptors: failures from here on are not decoding failures. */
export function markInvoked(values: ContextValues): void {
  values.get(invocationKey).invoked = true;
  // The request decoded: its recorded JSON body will not need explaining.
  values.get(recordedBodyKey)?.release();
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
      if (state.invoked || !(reason instanceof ConnectError)) return;
      if (reason.code === Code.Internal) (reason as { code: Code }).code = Code.InvalidArgument;
      if (reason.code !== Code.InvalidArgument) return;
      try {
        explainJsonFault(context, reason);
      } catch {
        // A throw in an abort listener is an uncaught exception, the process's end: the
        // error goes out as connect-es made it instead.
      }
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

/**
 * A Connect JSON request that did not decode: connect-es's error gets the google.rpc.BadRequest
 * violation REST gives for the same body (the field's JSON path and what was expected),
 * and the same message. Only when the JSON in hand (the recorded POST body, or a GET's
 * `message`) really fails to decode: other refusals before the interceptors (a bad
 * deadline header) are left as they are.
 */
function explainJsonFault(context: HandlerContext, error: ConnectError): void {
  const text = context.requestMethod === "GET" ? getMessageJson(context.url) : context.values.get(recordedBodyKey)?.text();
  if (text === undefined) return;
  const schema = context.method.input;
  let decodeError: unknown;
  try {
    fromJsonString(schema, text);
    return;
  } catch (caught) {
    decodeError = caught;
  }
  const fault = findJsonFault(schema, text, decodeError);
  const message = jsonFaultMessage(fault);
  // As for the code above: this instance is the one connect-es is about to serialize.
  Object.assign(error, { rawMessage: message, message: new ConnectError(message, error.code).message });
  error.details.push({ desc: BadRequestSchema, value: create(BadRequestSchema, { fieldViolations: [fault] }) });
}

/** The JSON text of a Connect GET's `message` (`encoding=json`, not compressed), or undefined. */
function getMessageJson(url: string): string | undefined {
  const query = new URL(url).searchParams;
  if (query.get("encoding") !== "json" || (query.get("compression") ?? "identity") !== "identity") return undefined;
  const message = query.get("message") ?? "";
  if (query.get("base64") !== "1") return message;
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(base64Decode(message));
  } catch {
    return undefined;
  }
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
