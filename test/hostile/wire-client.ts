/**
 * A client that sends exactly the bytes and headers it is given, over HTTP/1.1 or h2c,
 * and reports exactly what came back: status, headers, trailers, the start of the body,
 * or how the transport failed. The Connect and gRPC clients cannot be used to attack:
 * they validate and encode what they send. Server streams are read for a moment and
 * then cancelled, so a stream that is working correctly does not hold the suite.
 */
import * as http from "node:http";
import * as http2 from "node:http2";

/** One request as it goes on the wire. */
export interface WireRequest {
  readonly transport: "h1" | "h2";
  readonly method: string;
  /** Path and query, already percent-encoded. */
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: Uint8Array | undefined;
  /** A server or bidi stream: read its answer briefly, then cancel it. */
  readonly streaming: boolean;
  /** Give up after this long without a complete answer (a stream: without its headers). */
  readonly timeoutMs: number;
}

/** What came back. `status` 0: no response at all. */
export interface WireResponse {
  status: number;
  headers: Record<string, string>;
  trailers: Record<string, string>;
  /** The body's first 256 KiB. */
  body: Buffer;
  /** How the transport failed before a complete answer, if it did. */
  transportError?: string;
  /** The suite cut a stream that was still open. */
  cancelled: boolean;
}

/** Sends wire requests to one server. */
export interface WireClient {
  send(request: WireRequest): Promise<WireResponse>;
  close(): void;
}

const maxBodyBytes = 256 * 1024;
/** How long a server stream is read after its first bytes before the suite cancels it. */
const streamGlanceMs = 300;
/** How long a stream with headers but no data is waited on. */
const streamIdleMs = 1000;

function flatten(headers: http.IncomingHttpHeaders | http2.IncomingHttpHeaders): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers))
    if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(", ") : String(value);
  return flat;
}

function emptyResponse(): WireResponse {
  return { status: 0, headers: {}, trailers: {}, body: Buffer.alloc(0), cancelled: false };
}

function collector(response: WireResponse, request: WireRequest, cancel: () => void) {
  const chunks: Buffer[] = [];
  let size = 0;
  let glance: NodeJS.Timeout | undefined;
  return {
    onData(chunk: Buffer) {
      if (size < maxBodyBytes) chunks.push(chunk);
      size += chunk.length;
      response.body = Buffer.concat(chunks);
      if (request.streaming) {
        clearTimeout(glance);
        glance = setTimeout(cancel, streamGlanceMs);
      }
    },
    onHeaders() {
      if (request.streaming) glance = setTimeout(cancel, streamIdleMs);
    },
    stop: () => clearTimeout(glance),
  };
}

/** A client of `baseUrl` (http://host:port): one h2c session and a keep-alive HTTP/1.1 agent, reopened as needed. */
export function createWireClient(baseUrl: string): WireClient {
  const url = new URL(baseUrl);
  // Idle sockets are dropped after 30 s, well before the server's keep-alive timeout
  // (65 s): the agent reuses sockets last-in first-out, so a spare one could idle past it
  // and be picked just as the server closed it, the keep-alive race every HTTP/1.1 client
  // must avoid (seen once per 10,000 inputs as ECONNRESET on a 1–2 MB POST).
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8, timeout: 30_000 });
  let session: http2.ClientHttp2Session | undefined;
  const h2 = () => {
    if (session === undefined || session.closed || session.destroyed) {
      // The client's own session memory (Node's default 10 MB) counts the request bodies it
      // has queued: past it, Node resets the client's new streams with ENHANCE_YOUR_CALM
      // before they leave (20 concurrent 1 MB bodies: 10 reset, against this server and
      // the one before issue 11 alike). Those are not the server's answers.
      const opened = http2.connect(baseUrl, { maxSessionMemory: 512 });
      opened.on("error", () => undefined);
      opened.on("close", () => {
        if (session === opened) session = undefined;
      });
      session = opened;
    }
    return session;
  };

  // REFUSED_STREAM means the server did not process the stream (RFC 9113 §8.7): sent as a
  // session ends (GOAWAY) or past its stream limit. Clients resend it, as gRPC libraries
  // and the SDK do, once, on a fresh session; only a second refusal is reported.
  async function sendH2(request: WireRequest): Promise<WireResponse> {
    const first = await sendH2Once(request);
    if (first.status !== 0 || first.transportError?.includes("REFUSED_STREAM") !== true) return first;
    session = undefined;
    return sendH2Once(request);
  }

  function sendH2Once(request: WireRequest): Promise<WireResponse> {
    return new Promise((resolve) => {
      const response = emptyResponse();
      let ended = false;
      let stream: http2.ClientHttp2Stream;
      try {
        stream = h2().request({ ":method": request.method, ":path": request.path, ...request.headers });
      } catch (error) {
        resolve({ ...response, transportError: `client refused: ${(error as Error).message}` });
        return;
      }
      const cancel = () => {
        response.cancelled = true;
        stream.close(http2.constants.NGHTTP2_CANCEL);
      };
      const collect = collector(response, request, cancel);
      const timer = setTimeout(() => {
        if (!request.streaming || response.status === 0) response.transportError = `no answer within ${request.timeoutMs} ms`;
        cancel();
        // A stream that does not close even when cancelled must not hold the suite.
        setTimeout(() => resolve(response), 2000).unref();
      }, request.timeoutMs);
      stream.on("response", (headers) => {
        response.status = Number(headers[":status"]);
        response.headers = flatten(headers);
        collect.onHeaders();
      });
      stream.on("trailers", (trailers) => (response.trailers = flatten(trailers)));
      stream.on("data", collect.onData);
      stream.on("end", () => (ended = true));
      stream.on("error", (error: Error) => {
        if (!response.cancelled && !ended && response.status < 400) response.transportError ??= `stream error: ${error.message}`;
      });
      stream.on("close", () => {
        clearTimeout(timer);
        collect.stop();
        if (!response.cancelled && !ended && response.status < 400 && response.transportError === undefined)
          response.transportError = `stream closed without an end (RST_STREAM ${stream.rstCode})`;
        resolve(response);
      });
      stream.end(request.body);
    });
  }

  function sendH1(request: WireRequest): Promise<WireResponse> {
    return new Promise((resolve) => {
      const response = emptyResponse();
      let outgoing: http.ClientRequest;
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        collect.stop();
        resolve(response);
      };
      const cancel = () => {
        response.cancelled = true;
        outgoing.destroy();
        finish();
      };
      const collect = collector(response, request, cancel);
      const timer = setTimeout(() => {
        if (!request.streaming || response.status === 0) response.transportError = `no answer within ${request.timeoutMs} ms`;
        cancel();
      }, request.timeoutMs);
      try {
        outgoing = http.request({
          agent,
          host: url.hostname,
          port: url.port,
          method: request.method,
          path: request.path,
          headers: request.headers,
        });
      } catch (error) {
        response.transportError = `client refused: ${(error as Error).message}`;
        finish();
        return;
      }
      outgoing.on("response", (incoming) => {
        response.status = incoming.statusCode ?? 0;
        response.headers = flatten(incoming.headers);
        collect.onHeaders();
        incoming.on("data", collect.onData);
        incoming.on("end", () => {
          response.trailers = flatten(incoming.trailers);
          finish();
        });
        incoming.on("error", () => undefined);
        incoming.on("aborted", () => {
          if (!response.cancelled) response.transportError ??= "response aborted by the server";
          finish();
        });
      });
      outgoing.on("error", (error: NodeJS.ErrnoException) => {
        // A refusal the client could read (e.g. 431, 413) may be followed by a reset: HTTP/1.1 servers close at once.
        if (!response.cancelled && response.status < 400) response.transportError ??= `request error: ${error.code ?? error.message}`;
        finish();
      });
      outgoing.end(request.body === undefined ? undefined : Buffer.from(request.body));
    });
  }

  return {
    send: (request) => (request.transport === "h2" ? sendH2(request) : sendH1(request)),
    close() {
      session?.destroy();
      agent.destroy();
    },
  };
}
