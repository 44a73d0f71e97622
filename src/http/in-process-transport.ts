/**
 * The transport REST calls take to the RPC handlers of the same process: the handlers of
 * the one router the RPC adapter serves too (rpc-adapter.ts), so REST, gRPC, gRPC-web and
 * Connect callers share the same service objects and their in-memory state. It is what
 * connect's createRouterTransport builds, over an existing router's handlers, with its
 * own handler client, for server streams. Neither connect's streaming client nor its
 * in-memory handler client ever passes a return() on to the handler's response body (the
 * client leaves it out on purpose: over a network, the aborted request is what ends the
 * server's side; the handler client wraps the body in a pipe that does not forward it).
 * In process there is no request to end: a handler whose last message was not taken (a
 * REST client that left, or was reset as stalled, while the stream waited for it to
 * read) stayed parked at its `yield` for the life of the process, with its event-hub
 * subscription. Here the handler's body is returned when the call's signal aborts;
 * connect's server pipeline forwards that to the handler.
 */
import { Code, ConnectError, createContextValues, type ContextValues, type Transport } from "@connectrpc/connect";
import { createAsyncIterable, getAbortSignalReason, type UniversalClientFn, type UniversalHandler } from "@connectrpc/connect/protocol";
import { createTransport } from "@connectrpc/connect/protocol-connect";

/** Options of the in-process transport. */
export interface InProcessTransportOptions {
  /**
   * The context values each call starts with, made afresh per call: how the handlers'
   * interceptors tell these calls from network ones. Default: empty values.
   */
  readonly contextValues?: (() => ContextValues) | undefined;
}

/**
 * Connect binary over `handlers` (a router's), without compression and without encoding
 * limits on the client's side (as createRouterTransport); the handlers keep their own.
 */
export function createInProcessTransport(handlers: readonly UniversalHandler[], options: InProcessTransportOptions = {}): Transport {
  return createTransport({
    httpClient: handlerClient(handlers, options.contextValues ?? createContextValues),
    baseUrl: "https://in-memory",
    useBinaryFormat: true,
    interceptors: [],
    acceptCompression: [],
    sendCompression: null,
    compressMinBytes: Number.MAX_SAFE_INTEGER,
    readMaxBytes: Number.MAX_SAFE_INTEGER,
    writeMaxBytes: Number.MAX_SAFE_INTEGER,
  });
}

/** Calls the handler for the request's path; its body is returned (ended) when the request's signal aborts. */
function handlerClient(handlers: readonly UniversalHandler[], contextValues: () => ContextValues): UniversalClientFn {
  const byPath = new Map(handlers.map((handler) => [handler.requestPath, handler]));
  return async (request) => {
    const path = new URL(request.url).pathname;
    const handler = byPath.get(path);
    if (handler === undefined) throw new ConnectError(`no handler for ${path}`, Code.Unimplemented);
    const signal = request.signal ?? new AbortController().signal;
    // Raced against the signal, as connect's handler client does: a handler that returns
    // normally after its deadline fired (a long poll answering with what it has) must
    // still be the caller's DEADLINE_EXCEEDED, not a late success.
    const response = await raceSignal(
      signal,
      handler({
        body: request.body ?? createAsyncIterable([]),
        httpVersion: "2.0",
        method: request.method,
        url: request.url,
        header: request.header,
        signal,
        contextValues: contextValues(),
      }),
    );
    const body = response.body ?? createAsyncIterable([]);
    const messages = body[Symbol.asyncIterator]();
    signal.addEventListener("abort", () => void messages.return?.().catch(() => undefined), { once: true });
    const raced: AsyncIterator<Uint8Array> = {
      next: () => raceSignal(signal, messages.next()),
      throw: (error?: unknown) => messages.throw?.(error) ?? Promise.reject(error),
      return: (value?: unknown) => messages.return?.(value) ?? Promise.resolve({ done: true, value: undefined }),
    };
    return {
      status: response.status,
      header: new Headers(response.header),
      trailer: new Headers(response.trailer),
      body: { [Symbol.asyncIterator]: () => raced },
    };
  };
}

/** `promise`, or a rejection with the signal's reason if it aborts first. */
function raceSignal<T>(signal: AbortSignal, promise: Promise<T>): Promise<T> {
  if (signal.aborted) return Promise.reject(getAbortSignalReason(signal));
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(getAbortSignalReason(signal));
    signal.addEventListener("abort", onAbort, { once: true });
  });
  return Promise.race([aborted, promise]).finally(() => signal.removeEventListener("abort", onAbort!));
}
