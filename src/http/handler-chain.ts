/**
 * Plain HTTP endpoints beside the RPC routes (/metrics, /healthz, REST …): connect's
 * adapter hands every non-RPC request to one fallback, which asks each endpoint in turn
 * and answers 404 with a JSON error body when none takes it.
 */
import type http from "node:http";
import type { ConnectNodeAdapterOptions } from "@connectrpc/connect-node";

type Fallback = NonNullable<ConnectNodeAdapterOptions["fallback"]>;
/** A request as connect's fallback delivers it (HTTP/1.1 or HTTP/2). */
export type HttpRequest = Parameters<Fallback>[0];
/** A response as connect's fallback delivers it (HTTP/1.1 or HTTP/2). */
export type HttpResponse = Parameters<Fallback>[1];
/** Answers the request and returns true, or returns false to let the next one try. */
export type Endpoint = (request: HttpRequest, response: HttpResponse) => boolean | Promise<boolean>;

/**
 * Writes a whole response. HTTP/1.1 and HTTP/2 compatibility responses share this API
 * at run time, but TypeScript cannot unify their overloads, hence the one cast here.
 */
export function sendResponse(response: HttpResponse, status: number, headers: Record<string, string>, body?: string | Uint8Array): void {
  const plain = response as unknown as http.ServerResponse;
  if (!plain.headersSent) plain.writeHead(status, headers);
  plain.end(body);
}

/** One fallback that tries `endpoints` in order. */
export function chainEndpoints(endpoints: readonly Endpoint[]): (request: HttpRequest, response: HttpResponse) => void {
  return (request, response) => {
    void (async () => {
      for (const endpoint of endpoints) if (await endpoint(request, response)) return;
      const body = JSON.stringify({ code: 5, message: `no route for ${request.method ?? "GET"} ${request.url ?? "/"}`, details: [] });
      sendResponse(response, 404, { "content-type": "application/json" }, body);
    })().catch(() =>
      sendResponse(
        response,
        500,
        { "content-type": "application/json" },
        JSON.stringify({ code: 13, message: "internal error", details: [] }),
      ),
    );
  };
}

/** `GET /metrics`: the Prometheus text exposition from `render`. */
export function metricsEndpoint(render: () => Promise<string>, contentType: string): Endpoint {
  return async (request, response) => {
    if ((request.url ?? "").split("?")[0] !== "/metrics" || (request.method !== "GET" && request.method !== "HEAD")) return false;
    const text = await render();
    sendResponse(response, 200, { "content-type": contentType }, request.method === "HEAD" ? undefined : text);
    return true;
  };
}
