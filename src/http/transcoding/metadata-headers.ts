/**
 * HTTP headers to call metadata and back. Request headers are forwarded to the RPC as
 * request metadata (Authorization, cookies and custom headers included) except those
 * that describe the HTTP hop rather than the call: hop-by-hop headers (RFC 9110 §7.6.1),
 * HTTP/2 pseudo-headers, the body's framing (Content-Type/-Length/-Encoding, Accept*,
 * Host, Expect), and `connect-*` / `grpc-*`, which belong to the in-process Connect call
 * and must not be spoofed from outside. The RPC's response metadata comes back as
 * response headers under the same rules, unprefixed (grpc-gateway adds `Grpc-Metadata-`;
 * we follow vanguard-go, so an `Idempotent-Replayed` header a handler sets arrives as is).
 */
import { randomUUID } from "node:crypto";
import type { OutgoingHttpHeaders } from "node:http";
import { headerValue, type NodeRequest } from "./request-body.js";
import { malformedField } from "./rest-errors.js";

/** Accepted from the caller or generated, forwarded to the RPC and echoed on every response. */
export const requestIdHeader = "x-request-id";

/** vanguard-go's REST deadline header: seconds, decimals allowed. */
const timeoutHeader = "x-server-timeout";
/** The longest delay a Node timer holds (2³¹−1 ms, 24.8 days): the cap of every deadline. */
export const maxTimerMs = 2 ** 31 - 1;

const notForwarded = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "http2-settings",
  "host",
  "content-length",
  "content-type",
  "content-encoding",
  "accept",
  "accept-encoding",
  "expect",
  "date",
  timeoutHeader,
]);

function isForwardable(name: string): boolean {
  return !notForwarded.has(name) && !name.startsWith(":") && !name.startsWith("connect-") && !name.startsWith("grpc-");
}

/** A caller's id if it looks like one (1–200 visible ASCII characters), else a fresh UUID. */
export function requestIdOf(request: NodeRequest): string {
  const given = headerValue(request, requestIdHeader);
  return given !== undefined && /^[\x21-\x7e]{1,200}$/.test(given) ? given : randomUUID();
}

/** The metadata the RPC is called with. */
export function requestMetadata(request: NodeRequest, requestId: string): Headers {
  const metadata = new Headers();
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined || !isForwardable(name)) continue;
    for (const item of Array.isArray(value) ? value : [value]) metadata.append(name, item);
  }
  metadata.set(requestIdHeader, requestId);
  return metadata;
}

/** Copies the RPC's response metadata (headers or trailers) onto the HTTP response headers. */
export function copyResponseMetadata(metadata: Headers, responseHeaders: Headers): void {
  for (const [name, value] of metadata) {
    if (name === "set-cookie" || !isForwardable(name)) continue;
    responseHeaders.set(name, value);
  }
  for (const cookie of metadata.getSetCookie()) responseHeaders.append("set-cookie", cookie);
}

/** Headers as Node's writeHead() takes them, with every Set-Cookie kept apart. */
export function toNodeHeaders(headers: Headers): OutgoingHttpHeaders {
  const result: OutgoingHttpHeaders = {};
  for (const [name, value] of headers) if (name !== "set-cookie") result[name] = value;
  const cookies = headers.getSetCookie();
  if (cookies.length > 0) result["set-cookie"] = cookies;
  return result;
}

/** The call's deadline from `X-Server-Timeout`, in milliseconds; undefined when absent. */
export function callTimeoutMs(request: NodeRequest): number | undefined {
  const value = headerValue(request, timeoutHeader);
  if (value === undefined) return undefined;
  if (!/^\d+(\.\d+)?$/.test(value))
    throw malformedField("X-Server-Timeout", `X-Server-Timeout must be a number of seconds, got "${value}"`);
  // Capped at the longest delay a Node timer holds (2³¹−1 ms, 24.8 days): a longer one
  // fires at once, with a TimeoutOverflowWarning on stderr.
  return Math.min(maxTimerMs, Math.max(1, Math.round(Number(value) * 1000)));
}
