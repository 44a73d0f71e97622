/**
 * Writes REST responses on Node's HTTP/1.1 and HTTP/2 response objects: JSON bodies with
 * an exact Content-Length, empty bodies for 204/304, and errors as google.rpc.Status JSON
 * with the status from the gRPC→HTTP table, the error's metadata as headers and a
 * `Retry-After` taken from a google.rpc.RetryInfo detail.
 */
import type { JsonValue, Registry } from "@bufbuild/protobuf";
import type { ConnectError } from "@connectrpc/connect";
import type { ConnectNodeAdapterOptions } from "@connectrpc/connect-node";
import { copyResponseMetadata, toNodeHeaders } from "./metadata-headers.js";
import { httpStatusFor } from "./rest-errors.js";
import { retryAfterSeconds, statusJson } from "./status-json.js";

/**
 * Node's HTTP/1.1 or HTTP/2 response as connect-node's `fallback` receives it (its types
 * unify the two classes' write() overloads); plain Node responses are assignable to it.
 */
export type NodeResponse = Parameters<NonNullable<ConnectNodeAdapterOptions["fallback"]>>[1];

/** A complete response: `body` as JSON, or no body at all when undefined. */
export function writeJsonResponse(response: NodeResponse, status: number, headers: Headers, body: JsonValue | undefined): void {
  if (body === undefined) {
    headers.delete("content-type");
    response.writeHead(status, toNodeHeaders(headers));
    response.end();
    return;
  }
  const text = JSON.stringify(body);
  headers.set("content-type", "application/json");
  headers.set("content-length", String(Buffer.byteLength(text)));
  response.writeHead(status, toNodeHeaders(headers));
  response.end(text);
}

/** An error response; `headers` holds what every response gets (request id, CORS …). */
export function writeErrorResponse(response: NodeResponse, error: ConnectError, headers: Headers, registry: Registry): void {
  copyResponseMetadata(error.metadata, headers);
  const retryAfter = retryAfterSeconds(error);
  if (retryAfter !== undefined && !headers.has("retry-after")) headers.set("retry-after", String(retryAfter));
  const status = httpStatusFor(error);
  // After a 413 the rest of the body is unread: over HTTP/1.1 Node would read and discard
  // all of it to reuse the connection, so close it instead.
  if (status === 413 && response.req.httpVersionMajor === 1) headers.set("connection", "close");
  writeJsonResponse(response, status, headers, statusJson(error, registry));
}

/** An AbortSignal that fires when the client goes away before the response is complete. */
export interface ClientDisconnect {
  readonly signal: AbortSignal;
  /** Stops watching; call when the response is done. */
  dispose(): void;
}

/**
 * Watches the response's 'close': it fires on completion too, so only a close before
 * end() means the client left. The signal goes to the RPC, whose handler sees ctx.signal
 * abort at once, so a long poll or a stream stops working for nobody.
 */
export function watchClientDisconnect(response: NodeResponse): ClientDisconnect {
  const controller = new AbortController();
  const onClose = (): void => {
    if (!response.writableEnded) controller.abort(new Error("the client closed the connection"));
  };
  response.once("close", onClose);
  return { signal: controller.signal, dispose: () => void response.off("close", onClose) };
}
