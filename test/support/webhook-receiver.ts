/**
 * A real webhook receiver for tests and the bench: an HTTP server on 127.0.0.1 that
 * records every request it gets (headers, raw body, arrival time), checks each against
 * the signing secrets it was given with standardwebhooks' own `verify` (so a test proves
 * what any Standard Webhooks consumer would accept), and answers as a script says: a
 * status, after a delay, or a destroyed socket. It can start "down" on a reserved port
 * (connection refused) and come up later on the same one. No vitest import, so the bench
 * can use it; a test file closes it in its `afterAll`.
 */
import { once } from "node:events";
import http from "node:http";
import type net from "node:net";
import { Webhook } from "standardwebhooks";
import { freePort } from "./free-port.js";

/** One request as the receiver saw it. */
export interface ReceivedWebhook {
  /** Its place among all requests received, from 0. */
  readonly index: number;
  readonly method: string;
  readonly path: string;
  /** Lower-case names; repeated headers joined with ", " as Node does. */
  readonly headers: Readonly<Record<string, string>>;
  /** The body exactly as sent (UTF-8). */
  readonly body: string;
  /** When the last byte of the body arrived: Unix epoch milliseconds, sub-millisecond. */
  readonly arrivalTime: number;
  /** The `webhook-id` header ("" when absent). */
  readonly webhookId: string;
  /** The body's `type` (e.g. `run.succeeded`), or undefined when the body is not such JSON. */
  readonly type: string | undefined;
  /** The body's `data.run.id`, or undefined. */
  readonly runId: string | undefined;
  /** Of the secrets the receiver held, those that verify this request (in their order). */
  readonly verifiedBy: readonly string[];
}

/** How to answer one request; every field optional (default: 204 at once). */
export interface ScriptedAnswer {
  readonly status?: number;
  readonly body?: string;
  /** Wait this long before answering (or before destroying the socket). */
  readonly delayMs?: number;
  /** Drop the connection instead of answering: the sender sees a reset. */
  readonly destroy?: boolean;
}

/** Picks the answer to a request; undefined means the default. */
export type AnswerScript = (request: ReceivedWebhook) => ScriptedAnswer | undefined;

/** What startWebhookReceiver accepts. */
export interface WebhookReceiverOptions {
  /** Secrets (`whsec_…`) to verify with; default none (verifiedBy stays empty). */
  readonly secrets?: readonly string[];
  readonly script?: AnswerScript;
  /** Start accepting connections at once (default true); false reserves the port only. */
  readonly listening?: boolean;
  /** Keep every request (default true); the bench turns this off and counts through `onRequest`. */
  readonly keepRequests?: boolean;
  /** Called for each request as it arrives, before the answer. */
  readonly onRequest?: (request: ReceivedWebhook) => void;
}

/** A running (or reserved) receiver. */
export interface WebhookReceiver {
  readonly port: number;
  /** `http://127.0.0.1:<port><path>`. */
  url(path?: string): string;
  /** Every request so far, in arrival order. */
  received(): readonly ReceivedWebhook[];
  /** Replaces the secrets checked from the next request on (e.g. after a rotation). */
  setSecrets(secrets: readonly string[]): void;
  /** Replaces the answer script from the next request on. */
  answerWith(script: AnswerScript): void;
  /** Resolves with the requests once `predicate` holds for them; rejects after `timeoutMs`, saying `what`. */
  waitFor(
    what: string,
    predicate: (received: readonly ReceivedWebhook[]) => boolean,
    timeoutMs?: number,
  ): Promise<readonly ReceivedWebhook[]>;
  /** Starts accepting connections (after `listening: false` or `stop()`). */
  listen(): Promise<void>;
  /** Stops accepting and drops every open connection: senders now get connection refused. */
  stop(): Promise<void>;
  /** Same as stop; for afterAll. */
  close(): Promise<void>;
}

function headerRecord(request: http.IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(", ") : value;
  }
  return headers;
}

function describeBody(body: string): { type: string | undefined; runId: string | undefined } {
  try {
    const parsed = JSON.parse(body) as { type?: unknown; data?: { run?: { id?: unknown } } };
    return {
      type: typeof parsed.type === "string" ? parsed.type : undefined,
      runId: typeof parsed.data?.run?.id === "string" ? parsed.data.run.id : undefined,
    };
  } catch {
    return { type: undefined, runId: undefined };
  }
}

function verifyingSecrets(secrets: readonly string[], body: string, headers: Record<string, string>): string[] {
  return secrets.filter((secret) => {
    try {
      new Webhook(secret).verify(body, headers, { jsonParse: false });
      return true;
    } catch {
      return false;
    }
  });
}

const waitPollMs = 25;

/** Starts a receiver on 127.0.0.1 (a free port), listening unless told otherwise. */
export async function startWebhookReceiver(options: WebhookReceiverOptions = {}): Promise<WebhookReceiver> {
  let secrets = options.secrets ?? [];
  let script: AnswerScript = options.script ?? (() => undefined);
  const keep = options.keepRequests ?? true;
  const requests: ReceivedWebhook[] = [];
  let count = 0;
  const sockets = new Set<net.Socket>();
  const server = http.createServer({ keepAliveTimeout: 5_000 }, (request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const arrivalTime = performance.timeOrigin + performance.now();
      const body = Buffer.concat(chunks).toString("utf8");
      const headers = headerRecord(request);
      const received: ReceivedWebhook = {
        index: count++,
        method: request.method ?? "",
        path: request.url ?? "",
        headers,
        body,
        arrivalTime,
        webhookId: headers["webhook-id"] ?? "",
        ...describeBody(body),
        verifiedBy: verifyingSecrets(secrets, body, headers),
      };
      if (keep) requests.push(received);
      options.onRequest?.(received);
      const answer = script(received) ?? {};
      const reply = () => {
        if (answer.destroy === true) request.socket.destroy();
        else response.writeHead(answer.status ?? 204).end(answer.body ?? "");
      };
      if ((answer.delayMs ?? 0) > 0) setTimeout(reply, answer.delayMs);
      else reply();
    });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  const port = await freePort();
  let listening = false;
  const receiver: WebhookReceiver = {
    port,
    url: (path = "/hooks") => `http://127.0.0.1:${port}${path}`,
    received: () => requests,
    setSecrets(next) {
      secrets = next;
    },
    answerWith(next) {
      script = next;
    },
    async waitFor(what, predicate, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (!predicate(requests)) {
        if (Date.now() > deadline)
          throw new Error(`webhook receiver: timed out after ${timeoutMs} ms waiting for ${what} (${requests.length} received)`);
        await new Promise((resolve) => setTimeout(resolve, waitPollMs));
      }
      return requests;
    },
    async listen() {
      if (listening) return;
      server.listen(port, "127.0.0.1");
      await once(server, "listening");
      listening = true;
    },
    async stop() {
      if (!listening) return;
      listening = false;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
    close: () => receiver.stop(),
  };
  if (options.listening ?? true) await receiver.listen();
  return receiver;
}
