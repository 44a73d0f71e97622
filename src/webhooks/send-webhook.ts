/**
 * One webhook attempt: the HTTP POST behind the SSRF guard (issue 13). The host is
 * resolved once, every address it resolves to is judged by target-policy.ts, and the
 * connection goes to those checked addresses only: Node's own resolver is replaced for
 * this request by one that answers with them, so a DNS answer that changes between the
 * check and the connect (rebinding) cannot lead elsewhere. The Host header and the TLS
 * server name stay the URL's host.
 *
 * The outcome is a value, never a throw: `answered` (any status; redirects are answers,
 * never followed), `refused` (the policy said no: retrying cannot help) or `failed`
 * (DNS, connect, reset, timeout: worth a retry). Each call uses a fresh agent without
 * keep-alive, so no socket outlives its attempt and none is shared between targets;
 * the cost is a TCP (and TLS) handshake per attempt.
 */
import type { ClientRequest, IncomingMessage } from "node:http";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { lookup as systemLookup, type LookupAddress } from "node:dns";
import { isIP, type LookupFunction } from "node:net";
import { performance } from "node:perf_hooks";
import { checkAddress, checkTargetUrl, targetHost, type TargetPolicy } from "./target-policy.js";

/** What is sent: the signed headers and the rendered body. */
export interface WebhookRequest {
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** How an attempt is made. */
export interface SendOptions {
  /** The allow-list; everything else must be public unicast over https://. */
  readonly policy: TargetPolicy;
  /** Covers resolving, connecting and reading the whole answer (config.webhooks.timeoutMs, default 10 s). */
  readonly timeoutMs: number;
  /** The resolver (default: the system's, dns.lookup); tests inject one to play DNS. */
  readonly lookup?: LookupFunction;
}

/** How an attempt ended; the dispatcher retries `failed` only. */
export type SendResult =
  | { kind: "answered"; status: number; body: string; durationMs: number }
  | { kind: "refused"; reason: string; durationMs: number }
  | { kind: "failed"; reason: string; durationMs: number };

/** Bytes of the answer's body kept (and read at all): enough to show why a receiver said no. */
export const keptResponseBytes = 1024;

type Outcome =
  { kind: "answered"; status: number; body: string } | { kind: "refused"; reason: string } | { kind: "failed"; reason: string };

/**
 * POSTs `request.body` to `request.url` with `request.headers`, under the SSRF guard and
 * within `timeoutMs`. Never throws; see SendResult.
 */
export function sendWebhook(request: WebhookRequest, options: SendOptions): Promise<SendResult> {
  const started = performance.now();
  const measured = (outcome: Outcome): SendResult => ({ ...outcome, durationMs: Math.round(performance.now() - started) });
  const problem = checkTargetUrl(request.url, options.policy);
  if (problem !== undefined) return Promise.resolve(measured({ kind: "refused", reason: `URL ${problem}` }));
  const url = new URL(request.url);
  const host = targetHost(url);

  return new Promise((resolve) => {
    let post: ClientRequest | undefined;
    let settled = false;
    const finish = (outcome: Outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // Also stops reading a body past the kept bytes: the rest is never buffered.
      post?.destroy();
      resolve(measured(outcome));
    };
    const timer = setTimeout(() => finish({ kind: "failed", reason: `timed out after ${options.timeoutMs} ms` }), options.timeoutMs);

    resolveAll(host, options.lookup ?? (systemLookup as LookupFunction)).then(
      (addresses) => {
        if (settled) return;
        if (addresses.length === 0) return finish({ kind: "failed", reason: `${host} resolved to no address` });
        for (const { address } of addresses) {
          const refusal = checkAddress(address, host, options.policy);
          if (refusal !== undefined) return finish({ kind: "refused", reason: refusal });
        }
        try {
          post = postTo(url, request, addresses, finish);
        } catch (error) {
          // http.request throws at once for a header it cannot send (e.g. a newline in a value).
          finish({ kind: "failed", reason: describe(error) });
        }
      },
      (error: unknown) => finish({ kind: "failed", reason: `cannot resolve ${host}: ${describe(error)}` }),
    );
  });
}

/** Every address of the host (a literal IP is its own), asking the resolver once. */
function resolveAll(host: string, lookup: LookupFunction): Promise<LookupAddress[]> {
  const version = isIP(host);
  if (version !== 0) return Promise.resolve([{ address: host, family: version }]);
  return new Promise((resolve, reject) => {
    lookup(host, { all: true }, (error, result, family) => {
      if (error !== null) reject(error);
      else resolve(typeof result === "string" ? [{ address: result, family: family ?? isIP(result) }] : result);
    });
  });
}

/**
 * The resolver handed to http(s).request: it answers with the checked addresses and
 * never asks DNS again. Node asks with `all: true` when it races IPv4 and IPv6
 * (autoSelectFamily), and may ask for one family only.
 */
function checkedLookup(addresses: readonly LookupAddress[]): LookupFunction {
  return (hostname, options, callback) => {
    const family = options.family === "IPv4" ? 4 : options.family === "IPv6" ? 6 : options.family;
    const usable = family === 4 || family === 6 ? addresses.filter((entry) => entry.family === family) : addresses;
    const [first] = usable;
    if (first === undefined) {
      callback(Object.assign(new Error(`${hostname} has no checked IPv${family} address`), { code: "ENOTFOUND" }), "");
    } else if (options.all === true) {
      callback(null, [...usable]);
    } else {
      callback(null, first.address, first.family);
    }
  };
}

/** Starts the POST; every way it can end reaches `finish`. */
function postTo(url: URL, request: WebhookRequest, addresses: readonly LookupAddress[], finish: (outcome: Outcome) => void) {
  const body = Buffer.from(request.body, "utf8");
  const send = url.protocol === "https:" ? httpsRequest : httpRequest;
  const post = send(
    url,
    {
      method: "POST",
      headers: { ...request.headers, "content-length": String(body.length) },
      agent: false,
      lookup: checkedLookup(addresses),
    },
    (response) => readAnswer(response, finish),
  );
  post.on("error", (error) => finish({ kind: "failed", reason: describe(error) }));
  post.end(body);
  return post;
}

/** Keeps the first keptResponseBytes of the body; the answer counts once those are in or the body ended. */
function readAnswer(response: IncomingMessage, finish: (outcome: Outcome) => void): void {
  const kept: Buffer[] = [];
  let size = 0;
  const answered = () => finish({ kind: "answered", status: response.statusCode ?? 0, body: decodeStart(Buffer.concat(kept, size)) });
  response.on("data", (chunk: Buffer) => {
    const room = keptResponseBytes - size;
    if (room > 0) {
      // A copy, so that a large chunk is not retained for its first bytes.
      const part = Buffer.from(chunk.subarray(0, room));
      kept.push(part);
      size += part.length;
    }
    if (size >= keptResponseBytes) answered();
  });
  response.on("end", answered);
  response.on("error", (error) => finish({ kind: "failed", reason: describe(error) }));
  response.on("close", () => {
    if (!response.complete) finish({ kind: "failed", reason: "connection closed before the answer ended" });
  });
}

/**
 * The kept bytes as text: a character cut at the end is dropped, not garbled, and NUL
 * (which Postgres text cannot hold) becomes U+FFFD so the attempt can be recorded.
 */
function decodeStart(bytes: Buffer): string {
  return new TextDecoder("utf-8").decode(bytes, { stream: true }).replaceAll("\u0000", "\uFFFD");
}

/** An error as a short reason: its code (ECONNRESET, ENOTFOUND …) and message. */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as NodeJS.ErrnoException).code;
  return code === undefined || error.message.includes(code) ? error.message : `${code}: ${error.message}`;
}
