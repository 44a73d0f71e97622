/**
 * The Node request handler for RPCs (gRPC, gRPC-web, Connect): connect-node's adapter,
 * rebuilt on its public pieces (createConnectRouter, universalRequestFromNodeRequest,
 * and, for the response, universal-response-writer.ts) for four things it does not do:
 * - A call whose response cannot be written (the client left) is reported to `onFailure`,
 *   never printed with console.error, so nothing reaches stderr outside the log.
 * - Deadlines longer than a Node timer can hold (2³¹−1 ms, 24.8 days) are capped there.
 *   The gRPC spec allows up to 8 digits of hours ("99999999H"); connect-es would set a
 *   timer Node cannot (TimeoutOverflowWarning, then a 1 ms deadline) or, with
 *   `maxTimeoutMs`, refuse a deadline the spec calls valid. A cap keeps the client's
 *   meaning: no practical limit.
 * - A request answered before its body was read (over `readMaxBytes`, refused by the
 *   request gate) has the rest of its body discarded before the answer and the
 *   connection closed after it, so an HTTP/1.1 client reads the error instead of a reset
 *   (transcoding/request-discard.ts). The body is read with `requestChunks`, which does not destroy
 *   the request when connect-es stops early.
 * - A response waiting for a slow client ('drain') also ends when the client leaves or
 *   stalls (universal-response-writer.ts); connect-node's waits for ever then.
 * - The body of a unary Connect JSON request is kept (recorded-body.ts) until it decoded,
 *   so that one that does not can be explained field by field (api/request-gate.ts).
 * - Calls the push path takes (`push`, http/push-stream.ts) are served before the router:
 *   an idle server stream there holds no generator chain.
 * Paths outside the router go to `fallback`, as in connect-node. The router is built
 * apart (`createRpcRouter`) so that the REST transcoder's in-process transport reaches
 * the same handlers, and with them the same service objects.
 */
import {
  Code,
  ConnectError,
  createConnectRouter,
  createContextValues,
  type ConnectRouter,
  type ConnectRouterOptions,
} from "@connectrpc/connect";
import type { UniversalHandler } from "@connectrpc/connect/protocol";
import { universalRequestFromNodeRequest } from "@connectrpc/connect-node";
import type { HttpRequest, HttpResponse } from "./handler-chain.js";
import { isUncompressedUnaryJson, recordBody, recordedBodyKey } from "./recorded-body.js";
import { writeUniversalResponse } from "./universal-response-writer.js";
import { lingerBeforeAnswer, maxTimerMs, releaseUnreadRequest, requestChunks } from "./transcoding/index.js";

/** The adapter's options. */
export interface RpcAdapterOptions {
  /** The handlers of the router `createRpcRouter` built, once every service is registered on it. */
  readonly handlers: readonly UniversalHandler[];
  /** Answers every path that is not an RPC. */
  readonly fallback: (request: HttpRequest, response: HttpResponse) => void;
  /**
   * Told when a response could not be written; `clientGone` is true when the client
   * reset or left (expected, log quietly). Default: ignored.
   */
  readonly onFailure?: ((failure: { procedure: string; clientGone: boolean; error: unknown }) => void) | undefined;
  /**
   * Tried first for every RPC: returns true when it took the request (the push path of a
   * server stream), false to leave it to the router. Default: none.
   */
  readonly push?: ((request: HttpRequest, response: HttpResponse) => boolean) | undefined;
  /** A streamed response whose client took no byte for this long is reset (universal-response-writer.ts). Default: 0, never. */
  readonly stallTimeoutMs?: number | undefined;
}

/**
 * The router the adapter serves, with deadlines capped as `capDeadlines` caps them;
 * connect's compression defaults (gzip, br) apply when `acceptCompression` is unset.
 */
export function createRpcRouter(options: ConnectRouterOptions): ConnectRouter {
  return createConnectRouter({ ...options, maxTimeoutMs: maxTimerMs });
}

/** Builds the Node request handler over the router's handlers. */
export function createRpcAdapter(options: RpcAdapterOptions): (request: HttpRequest, response: HttpResponse) => void {
  const handlers = new Map<string, UniversalHandler>(options.handlers.map((handler) => [handler.requestPath, handler]));
  const onFailure = options.onFailure ?? (() => {});
  return (request, response) => {
    const handler = handlers.get((request.url ?? "").split("?", 1)[0] ?? "");
    if (handler === undefined) return options.fallback(request, response);
    if (options.push?.(request, response) === true) return;
    capDeadlines(request);
    const contextValues = createContextValues();
    let body: AsyncIterable<Uint8Array> = requestChunks(request);
    if (isUncompressedUnaryJson(request)) {
      const recorded = recordBody(body);
      contextValues.set(recordedBodyKey, recorded.body);
      body = recorded.chunks;
    }
    const universal = { ...universalRequestFromNodeRequest(request, response, undefined, contextValues), body };
    const procedure = handler.requestPath;
    void handler(universal)
      .then(async (answer) => {
        await lingerBeforeAnswer(request, response);
        await writeUniversalResponse(answer, response, options.stallTimeoutMs ?? 0);
        releaseUnreadRequest(request, response);
      })
      .catch((error: unknown) => {
        const clientGone = ConnectError.from(error).code === Code.Aborted || request.destroyed || universal.signal.aborted;
        onFailure({ procedure, clientGone, error });
      });
  };
}

/** Rewrites `grpc-timeout` and `connect-timeout-ms` above the cap to the cap. */
function capDeadlines(request: HttpRequest): void {
  const grpc = request.headers["grpc-timeout"];
  if (typeof grpc === "string") {
    const match = /^(\d{1,8})([HMSmun])$/.exec(grpc);
    const unitMs: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };
    if (match !== null && Number(match[1]) * unitMs[match[2]!]! > maxTimerMs)
      request.headers["grpc-timeout"] = `${Math.floor(maxTimerMs / 1000)}S`;
  }
  const connect = request.headers["connect-timeout-ms"];
  if (typeof connect === "string" && /^\d{1,10}$/.test(connect) && Number(connect) > maxTimerMs)
    request.headers["connect-timeout-ms"] = String(maxTimerMs);
}
