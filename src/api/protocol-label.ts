/**
 * The protocol a call came over, as logs and metrics name it: `grpc`, `grpc-web`,
 * `connect`, or `rest`. REST calls reach the handlers as in-process Connect calls
 * (http/in-process-transport.ts), so their content type says `connect`; the REST path
 * marks them with `restCallKey` instead, which no network caller can set.
 */
import { createContextKey, createContextValues, type ContextValues } from "@connectrpc/connect";

/** What logs and metrics call the protocol of a call. */
export type ProtocolLabel = "grpc" | "grpc-web" | "connect" | "rest";

/** Set on the calls the REST transcoder makes; false on every other call. */
const restCallKey = createContextKey(false, { description: "whether the REST transcoder made the call" });

/** The context values a REST call starts with (the in-process transport's `contextValues`). */
export function restCallContext(): ContextValues {
  return createContextValues().set(restCallKey, true);
}

/** `rest` for the REST transcoder's calls, otherwise gRPC, gRPC-web or Connect from the content type. */
export function protocolLabel(contextValues: ContextValues, contentType: string | null): ProtocolLabel {
  if (contextValues.get(restCallKey)) return "rest";
  if (contentType?.startsWith("application/grpc-web") === true) return "grpc-web";
  if (contentType?.startsWith("application/grpc") === true) return "grpc";
  return "connect";
}
