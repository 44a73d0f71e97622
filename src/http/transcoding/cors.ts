/**
 * CORS for every protocol on the port (REST, Connect, gRPC-web) as one wrapper around
 * the Node request handler, so browsers on allowed origins can call any of them.
 * Preflights (OPTIONS with Origin and Access-Control-Request-Method) are answered here
 * with 204 and the allowed methods and headers; from an origin that is not allowed they
 * get 403 and no CORS headers. Other requests from an allowed origin get
 * Access-Control-Allow-Origin and the exposed headers, then go to the wrapped handler;
 * from any other origin they pass through untouched, so the browser withholds the
 * response (CORS protects browser users' data, it is not an authorisation check).
 * Requests without Origin (servers, curl, gRPC) are not affected.
 */
import { cors as connectCors } from "@connectrpc/connect";
import type * as http from "node:http";
import type * as http2 from "node:http2";
import { headerValue } from "./request-body.js";
import type { NodeResponse } from "./response-writer.js";

/** A Node request handler as `connectNodeAdapter()` returns it and a listener takes it. */
export type NodeHandler = (
  request: http.IncomingMessage | http2.Http2ServerRequest,
  response: http.ServerResponse | http2.Http2ServerResponse,
) => void;

/** Who may call from a browser, and with what. */
export interface CorsOptions {
  /** Origins as browsers send them (`https://app.example.com`), or "*" for any. */
  readonly allowedOrigins: readonly string[] | "*";
  /** HTTP methods beyond GET, POST, PUT, PATCH and DELETE, e.g. a custom binding's. */
  readonly allowedMethods?: readonly string[] | undefined;
  /** Request headers a browser may send, beyond the defaults (Connect's list, Authorization, X-Request-Id, Idempotency-Key, If-None-Match, Last-Event-ID …). */
  readonly allowedHeaders?: readonly string[] | undefined;
  /** Response headers a browser may read, beyond the defaults (grpc-status/-message/-status-details-bin, Connect's, ETag, X-Request-Id, Idempotent-Replayed, Retry-After). */
  readonly exposedHeaders?: readonly string[] | undefined;
  /**
   * Send `Access-Control-Allow-Credentials: true`, so pages may call with credentials
   * (cookies, `credentials: "include"`). Only with named origins: with "*" it would hand
   * any site the user's credentials, so `withCors` refuses the combination. Default: false.
   */
  readonly allowCredentials?: boolean | undefined;
  /** How long a browser may cache a preflight answer. Default: 7200 s (Chromium's cap). */
  readonly maxAgeSeconds?: number | undefined;
}

/** GET and POST for Connect and gRPC-web; the rest for REST bindings. */
const defaultAllowedMethods = ["GET", "POST", "PUT", "PATCH", "DELETE"];

const defaultAllowedHeaders = [
  ...connectCors.allowedHeaders,
  "Authorization",
  "X-Request-Id",
  "Idempotency-Key",
  "If-None-Match",
  "If-Match",
  "Last-Event-ID",
  "X-Server-Timeout",
];

const defaultExposedHeaders = [...connectCors.exposedHeaders, "ETag", "X-Request-Id", "Idempotent-Replayed", "Retry-After"];

/** `handler` behind CORS: preflights answered here, allowed origins marked on every response. */
export function withCors(options: CorsOptions, handler: NodeHandler): NodeHandler {
  if (options.allowCredentials === true && options.allowedOrigins === "*")
    throw new Error('CORS credentials need named origins, never "*": any site could then call with its visitors\' credentials');
  const allowedMethods = [...defaultAllowedMethods, ...(options.allowedMethods ?? [])].join(", ");
  const allowedHeaders = [...defaultAllowedHeaders, ...(options.allowedHeaders ?? [])].join(", ");
  const exposedHeaders = [...defaultExposedHeaders, ...(options.exposedHeaders ?? [])].join(", ");
  const origins = options.allowedOrigins === "*" ? "*" : new Set(options.allowedOrigins.map((origin) => origin.toLowerCase()));
  const credentials = options.allowCredentials ?? false;
  const maxAge = String(options.maxAgeSeconds ?? 7200);
  return (request, response) => {
    const origin = headerValue(request, "origin");
    if (origin === undefined) return handler(request, response);
    const allowed = origins === "*" || origins.has(origin.toLowerCase());
    const isPreflight = request.method === "OPTIONS" && headerValue(request, "access-control-request-method") !== undefined;
    if (!isPreflight) {
      if (allowed) {
        markAllowedOrigin(response, origins === "*" ? "*" : origin, credentials);
        response.setHeader("access-control-expose-headers", exposedHeaders);
      }
      return handler(request, response);
    }
    answerPreflight(
      response,
      allowed ? { origin: origins === "*" ? "*" : origin, credentials, allowedMethods, allowedHeaders, maxAge } : undefined,
    );
  };
}

function markAllowedOrigin(response: NodeResponse, allowOrigin: string, credentials: boolean): void {
  response.setHeader("access-control-allow-origin", allowOrigin);
  // Answers differ per origin (unless "*"), so caches must keep them apart.
  if (allowOrigin !== "*") response.setHeader("vary", "Origin");
  if (credentials) response.setHeader("access-control-allow-credentials", "true");
}

interface PreflightAnswer {
  readonly origin: string;
  readonly credentials: boolean;
  readonly allowedMethods: string;
  readonly allowedHeaders: string;
  readonly maxAge: string;
}

function answerPreflight(response: NodeResponse, allowed: PreflightAnswer | undefined): void {
  if (allowed === undefined) {
    response.statusCode = 403;
    response.end();
    return;
  }
  markAllowedOrigin(response, allowed.origin, allowed.credentials);
  response.setHeader("vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers");
  response.setHeader("access-control-allow-methods", allowed.allowedMethods);
  response.setHeader("access-control-allow-headers", allowed.allowedHeaders);
  response.setHeader("access-control-max-age", allowed.maxAge);
  response.statusCode = 204;
  response.end();
}
