/**
 * Writes REST responses on Node's HTTP/1.1 and HTTP/2 response objects: JSON bodies with
 * an exact Content-Length, empty bodies for 204/304, and errors as google.rpc.Status JSON
 * with the status from the gRPC→HTTP table, the error's metadata as headers and a
 * `Retry-After` taken from a google.rpc.RetryInfo detail; and streamed writes that honour
 * the client's pace (writeWithBackpressure).
 */
import http2 from "node:http2";
import type { JsonValue, Registry } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
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

/** True once the response can no longer reach the client (it left, or the stream was reset). */
export function isResponseClosed(response: NodeResponse): boolean {
  return "stream" in response ? response.stream.destroyed : (response as unknown as { destroyed: boolean }).destroyed;
}

/**
 * Writes `chunk` and, when the transport's buffer is over its mark, waits until the
 * client has read enough ('drain'). The wait also ends when the response closes (a
 * client that leaves never causes 'drain': waiting for it alone parks the writer, and
 * whatever feeds it, for the life of the process) and when the client has taken no byte
 * for `stallTimeoutMs` (0: never); a stalled response is then reset, so its buffers are
 * freed, and the promise rejects with RESOURCE_EXHAUSTED. A client that reads slowly
 * but steadily is not stalled: each interval that frees some of the buffer restarts it.
 */
export async function writeWithBackpressure(response: NodeResponse, chunk: Uint8Array | string, stallTimeoutMs: number): Promise<void> {
  if (isResponseClosed(response)) throw clientGone();
  if (response.write(chunk)) return;
  await waitForDrain(response, stallTimeoutMs);
}

/**
 * After a write that returned false: resolves on 'drain'; rejects when the response
 * closes first, or when the client took no byte for `stallTimeoutMs` (0: never), after
 * resetting it, as writeWithBackpressure does.
 */
export function waitForDrain(response: NodeResponse, stallTimeoutMs: number): Promise<void> {
  if (isResponseClosed(response)) return Promise.reject(clientGone());
  return new Promise<void>((resolve, reject) => {
    let buffered = response.writableLength;
    let timer: NodeJS.Timeout | undefined;
    const settle = (error?: ConnectError) => {
      clearTimeout(timer);
      response.off("drain", onDrain);
      response.off("close", onClose);
      if (error === undefined) resolve();
      else reject(error);
    };
    const onDrain = () => settle();
    const onClose = () => settle(clientGone());
    const onInterval = () => {
      if (response.writableLength < buffered) {
        buffered = response.writableLength;
        timer = setTimeout(onInterval, stallTimeoutMs);
        return;
      }
      resetStalled(response);
      settle(
        new ConnectError(
          `the client read nothing for ${stallTimeoutMs} ms; the stream was ended: resume from the last sequence received`,
          Code.ResourceExhausted,
        ),
      );
    };
    response.on("drain", onDrain);
    response.on("close", onClose);
    if (stallTimeoutMs > 0) timer = setTimeout(onInterval, stallTimeoutMs);
  });
}

function clientGone(): ConnectError {
  return new ConnectError("the client closed the connection", Code.Canceled);
}

/**
 * Frees what a stalled client holds. HTTP/2: RST_STREAM ENHANCE_YOUR_CALM (gRPC clients
 * read it as RESOURCE_EXHAUSTED; the connection's other streams go on). HTTP/1.1: the
 * connection is the stream's own, so it is destroyed.
 */
function resetStalled(response: NodeResponse): void {
  if ("stream" in response) response.stream.close(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
  else (response as unknown as { destroy(): void }).destroy();
}
