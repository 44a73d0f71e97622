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
 * (DNS, connect, reset, timeout: worth a retry).
 *
 * With `agents` (target-agents.ts, as the dispatcher sends), sockets are kept alive and
 * reused by attempts to the same target with the same checked addresses. A request on a
 * reused socket that the receiver closed at that moment fails like any dropped
 * connection (and is retried on the schedule): it is not sent again at once, because
 * from here it cannot be told from a receiver that dropped the request on purpose, and
 * each attempt must be in the log. Idle sockets close before the receiver's own idle
 * timeout where it announces one, which keeps that race rare. Without `agents`, each
 * attempt has its own connection.
 */
import type { Agent, ClientRequest, IncomingMessage } from "node:http";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { lookup as systemLookup, type LookupAddress } from "node:dns";
import { isIP, type LookupFunction } from "node:net";
import { performance } from "node:perf_hooks";
import { checkedLookup, type TargetAgents } from "./target-agents.js";
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
  /** Keep-alive agents per target and checked addresses; without, a connection per attempt. */
  readonly agents?: TargetAgents;
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
    /** `ended`: the answer was read to its end, and its socket may serve the next attempt. */
    const finish = (outcome: Outcome, ended = false) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // Also stops reading a body past the kept bytes: the rest is never buffered.
      if (!ended) post?.destroy();
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
          post = postTo(url, request, addresses, options.agents?.agentFor(url, addresses), finish);
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
 * Starts the POST (through `agent`, or on a connection of its own); every way it can end
 * reaches `finish`, with `ended` true when the answer was read to its end.
 */
function postTo(
  url: URL,
  request: WebhookRequest,
  addresses: readonly LookupAddress[],
  agent: Agent | undefined,
  finish: (outcome: Outcome, ended?: boolean) => void,
) {
  const body = Buffer.from(request.body, "utf8");
  const send = url.protocol === "https:" ? httpsRequest : httpRequest;
  const post = send(
    url,
    {
      method: "POST",
      headers: { ...request.headers, "content-length": String(body.length) },
      agent: agent ?? false,
      lookup: checkedLookup(addresses),
    },
    (response) => readAnswer(response, finish),
  );
  post.on("error", (error) => finish({ kind: "failed", reason: describe(error) }));
  post.end(body);
  return post;
}

/**
 * Keeps the first keptResponseBytes of the body; the answer counts once those are in or
 * the body ended (`ended` true: the socket is free for another request).
 */
function readAnswer(response: IncomingMessage, finish: (outcome: Outcome, ended?: boolean) => void): void {
  const kept: Buffer[] = [];
  let size = 0;
  const answered = (ended: boolean) =>
    finish({ kind: "answered", status: response.statusCode ?? 0, body: decodeStart(Buffer.concat(kept, size)) }, ended);
  response.on("data", (chunk: Buffer) => {
    const room = keptResponseBytes - size;
    if (room > 0) {
      // A copy, so that a large chunk is not retained for its first bytes.
      const part = Buffer.from(chunk.subarray(0, room));
      kept.push(part);
      size += part.length;
    }
    if (size >= keptResponseBytes) answered(false);
  });
  response.on("end", () => answered(true));
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
