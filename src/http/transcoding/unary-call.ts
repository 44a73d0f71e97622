/**
 * Unary RPCs for REST callers: call, copy the response metadata (headers and trailers,
 * since the whole body is buffered anyway) onto the HTTP headers, let the method's
 * afterCall hook adjust headers or choose another status, and answer with JSON.
 */
import type { DescMethodUnary } from "@bufbuild/protobuf";
import { copyResponseMetadata } from "./metadata-headers.js";
import type { CallEnvironment, PreparedCall } from "./prepared-call.js";
import { responseJson } from "./response-json.js";
import { watchClientDisconnect, writeJsonResponse } from "./response-writer.js";

/** Calls a unary RPC and writes its response; RPC failures are thrown for the caller to answer. */
export async function serveUnary(call: PreparedCall, environment: CallEnvironment): Promise<void> {
  const disconnect = watchClientDisconnect(call.response);
  try {
    const method = call.binding.method as DescMethodUnary;
    const result = await environment.transport.unary(method, disconnect.signal, call.timeoutMs, call.metadata, call.message);
    const headers = call.responseHeaders;
    copyResponseMetadata(result.header, headers);
    copyResponseMetadata(result.trailer, headers);
    const override = await call.hooks?.afterCall?.({
      method,
      httpRequest: call.request,
      request: call.message,
      message: result.message,
      responseHeaders: headers,
    });
    const body = override?.body === "empty" ? undefined : responseJson(call.binding, result.message, environment.registry);
    writeJsonResponse(call.response, override?.status ?? 200, headers, body);
  } finally {
    disconnect.dispose();
  }
}
