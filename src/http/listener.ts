/**
 * The one TCP port every client reaches us on: HTTP/1.1 (browsers, curl, REST, Connect,
 * gRPC-web) and HTTP/2 (gRPC, Connect). It knows nothing about runs; the caller passes a
 * single request handler, typically the one `connectNodeAdapter()` returns.
 *
 * Cleartext needs our own dispatch. `http2.createServer({ allowHTTP1: true })` only falls
 * back to HTTP/1.1 when TLS ALPN asks for it, and without TLS there is no ALPN. So each
 * cleartext connection is read until it can be told apart from the HTTP/2 client preface
 * (sent first by "prior knowledge" h2c clients such as gRPC), its bytes are put back, and
 * it is handed to an HTTP/2 or an HTTP/1.1 server that never listens on its own.
 * With TLS, ALPN does the dispatch inside one `http2.createSecureServer`.
 */
import { once } from "node:events";
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import { createConnectionTracker, type ConnectionTracker } from "./connection-tracker.js";
import type { PeerLostListener } from "./session-liveness.js";

/** The handler shape `connectNodeAdapter()` returns, so it can be passed in unchanged. */
export type RequestHandler = (
  request: http.IncomingMessage | http2.Http2ServerRequest,
  response: http.ServerResponse | http2.Http2ServerResponse,
) => void;

/** Per-connection limits and liveness checks; the defaults are `defaultConnectionLimits`. */
export interface ConnectionLimits {
  /**
   * Each HTTP/2 session is PINGed this long after it started and after each answer, and
   * an idle TCP socket gets kernel keepalive probes after this long. 0 turns both off.
   */
  readonly keepaliveIntervalMs: number;
  /** An HTTP/2 PING unanswered for this long ends the session and its streams. */
  readonly keepaliveTimeoutMs: number;
  /** Streams one HTTP/2 connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS). */
  readonly maxConcurrentStreams: number;
  /** Largest request header block, in bytes, on HTTP/1.1 (431) and HTTP/2 (stream reset). */
  readonly maxHeaderBytes: number;
  /** What one HTTP/2 session may hold in nghttp2 (header tables, queued frames), in MB. */
  readonly maxSessionMemoryMb: number;
}

/**
 * 20 s between PINGs finds a dead peer within half a minute and costs a session 17 bytes
 * each way; 100 streams per connection is the least RFC 9113 advises (nginx allows 128,
 * Go's net/http 250); 16 KiB of headers is Node's HTTP/1.1 default; 10 MB is Node's
 * default session memory.
 */
export const defaultConnectionLimits: ConnectionLimits = {
  keepaliveIntervalMs: 20_000,
  keepaliveTimeoutMs: 10_000,
  maxConcurrentStreams: 100,
  maxHeaderBytes: 16_384,
  maxSessionMemoryMb: 10,
};

/** Everything needed to open the port; the server's own tuning stays inside this module. */
export interface ListenerOptions {
  /** Interface to bind, e.g. "127.0.0.1", "0.0.0.0" or "::". */
  host: string;
  /** TCP port; 0 picks a free one (tests), readable afterwards from `Listener.port`. */
  port: number;
  /** PEM certificate and key. When set the port speaks TLS only. Default: cleartext. */
  tls?: { cert: string | Buffer; key: string | Buffer } | undefined;
  /** Called for every request, whichever protocol carried it. */
  handler: RequestHandler;
  /** Default: `defaultConnectionLimits`. */
  limits?: ConnectionLimits | undefined;
  /** Told of each HTTP/2 session ended because its peer stopped answering PINGs (default: nobody). */
  onPeerLost?: PeerLostListener | undefined;
}

/** A port that already accepts connections, so `port` and `url` are usable at once. */
export interface Listener {
  /** The bound port (the chosen one when the options asked for 0). */
  readonly port: number;
  /** `http://host:port`, or `https://` with TLS. */
  readonly url: string;
  /**
   * Graceful shutdown, so deploys don't cut requests short: refuses new connections,
   * lets in-flight requests and streams finish, destroys what is left after `graceMs`
   * (default 10000). HTTP/2 sessions that do not answer a PING within the keepalive
   * timeout (2 s at most) are destroyed at once. Resolves once every connection is
   * closed; calling it again returns the same promise.
   */
  close(options?: { graceMs?: number }): Promise<void>;
}

const DEFAULT_GRACE_MS = 10_000;

const HTTP2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/** A cleartext client must say which protocol it speaks within this time, or is dropped. */
const SNIFF_TIMEOUT_MS = 30_000;

/** Header fields per HTTP/2 request (Node's default, stated here; HTTP/1.1 keeps its own 2000). */
const MAX_HEADER_PAIRS = 128;

/**
 * HTTP/1.1 limits. Headers must arrive within 30 s (slow-loris guard) and a request body
 * within 5 min (Node's default, stated here). Idle keep-alive sockets live 65 s, longer
 * than the 60 s idle timeout of common load balancers, so the proxy closes them first and
 * never reuses a socket we are closing. Responses have no limit: streams may last hours.
 */
function http1Options(limits: ConnectionLimits): http.ServerOptions {
  return { headersTimeout: 30_000, requestTimeout: 300_000, keepAliveTimeout: 65_000, maxHeaderSize: limits.maxHeaderBytes };
}

/**
 * HTTP/2 limits. A stream beyond `maxConcurrentStreams` is refused (REFUSED_STREAM) while
 * the client has not yet acknowledged our SETTINGS; after that nghttp2 treats it as the
 * protocol error it is and ends that one connection (GOAWAY PROTOCOL_ERROR). Conforming
 * clients (grpc-js, Node, Go, buf) queue their streams instead. No `timeout` option:
 * Node's default of 0 never ends a session for being quiet, and a quiet session may carry
 * a server stream that lasts hours; liveness is the keepalive PINGs' job.
 */
function http2Options(limits: ConnectionLimits): http2.ServerOptions {
  return {
    settings: { maxConcurrentStreams: limits.maxConcurrentStreams, maxHeaderListSize: limits.maxHeaderBytes },
    maxHeaderListPairs: MAX_HEADER_PAIRS,
    maxSessionMemory: limits.maxSessionMemoryMb,
  };
}

/** Opens the port and resolves once it accepts connections. */
export async function startListener(options: ListenerOptions): Promise<Listener> {
  const limits = options.limits ?? defaultConnectionLimits;
  const tracker = { limits, onPeerLost: options.onPeerLost ?? (() => {}) };
  const { server, connections } =
    options.tls === undefined ? createCleartextServer(options.handler, tracker) : createTlsServer(options.tls, options.handler, tracker);
  server.listen(options.port, options.host);
  await once(server, "listening"); // rejects on 'error', e.g. EADDRINUSE
  const { port } = server.address() as AddressInfo;
  const host = net.isIPv6(options.host) ? `[${options.host}]` : options.host;
  let closing: Promise<void> | undefined;
  return {
    port,
    url: `${options.tls === undefined ? "http" : "https"}://${host}:${port}`,
    close: (closeOptions) => (closing ??= shutdown(server, connections, closeOptions?.graceMs ?? DEFAULT_GRACE_MS)),
  };
}

interface ServerAndConnections {
  server: net.Server;
  connections: ConnectionTracker;
}

interface TrackerSettings {
  limits: ConnectionLimits;
  onPeerLost: PeerLostListener;
}

function keepaliveOf(limits: ConnectionLimits) {
  return { intervalMs: limits.keepaliveIntervalMs, timeoutMs: limits.keepaliveTimeoutMs };
}

function createCleartextServer(handler: RequestHandler, { limits, onPeerLost }: TrackerSettings): ServerAndConnections {
  const http1Server = http.createServer(http1Options(limits));
  // http1Server.close() only drops idle keep-alive sockets here: it never listened itself.
  const connections = createConnectionTracker({ closeIdleHttp1: () => http1Server.close(), keepalive: keepaliveOf(limits), onPeerLost });
  http1Server.on("request", connections.trackResponse).on("request", handler);
  const http2Server = http2.createServer(http2Options(limits), handler);
  http2Server.on("session", connections.adoptSession);
  // allowHalfOpen like http.Server's own socket, so HTTP/1.1 decides what a FIN means: Node
  // aborts the request in flight and ends the socket (its httpAllowHalfOpen is false), so
  // a client that half-closes gets no response and an SSE stream ends with its client.
  // noDelay like http.Server: small frames (a stream message, an ack) go out at once
  // instead of waiting, under Nagle's algorithm, for the peer to acknowledge earlier ones.
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    connections.adoptSocket(socket);
    sniffPreface(socket, (isHttp2) => {
      // HTTP/2 has no use for a half-closed connection, and nothing in Node's HTTP/2 ends
      // a session on a bare FIN: the socket would sit in CLOSE-WAIT for good with its
      // streams open. Without allowHalfOpen the socket ends on FIN, which closes the
      // session and aborts its streams, as a session of http2.createServer's own does.
      if (isHttp2) socket.allowHalfOpen = false;
      (isHttp2 ? http2Server : http1Server).emit("connection", socket);
    });
  });
  // http.Server starts the bookkeeping behind headersTimeout, requestTimeout and
  // closeIdleConnections() on 'listening', which a server fed by hand never emits.
  server.once("listening", () => http1Server.emit("listening"));
  return { server, connections };
}

type TlsFiles = NonNullable<ListenerOptions["tls"]>;

function createTlsServer(tls: TlsFiles, handler: RequestHandler, { limits, onPeerLost }: TrackerSettings): ServerAndConnections {
  // allowHTTP1 makes Node offer ['h2', 'http/1.1'] over ALPN (it overwrites any
  // ALPNProtocols passed in) and serve http/1.1 and ALPN-less clients with HTTP/1.1.
  // Its close() also drops idle keep-alive sockets, so draining needs nothing extra.
  // tls.Server is not allowHalfOpen, so a FIN ends HTTP/2 sessions here already.
  const server = http2.createSecureServer({ ...tls, ...http1Options(limits), ...http2Options(limits), allowHTTP1: true });
  const connections = createConnectionTracker({ closeIdleHttp1: () => {}, keepalive: keepaliveOf(limits), onPeerLost });
  server.on("connection", connections.adoptSocket);
  // A TLS socket counts only decrypted bytes, so it shows whether a request ever started.
  server.on("secureConnection", (socket: TLSSocket) => {
    if (socket.alpnProtocol !== "h2") connections.adoptSocket(socket);
  });
  server.on("session", connections.adoptSession);
  server.on("request", connections.trackResponse).on("request", handler);
  return { server, connections };
}

/**
 * Reads a cleartext socket until its first bytes match the whole HTTP/2 preface or differ
 * from it, then puts them back. Reading in paused mode ('readable' + read()) leaves no
 * 'data' listener to swallow bytes. HTTP/1.1 gets the unshifted bytes through its own
 * 'data' listener, which resumes the socket once ours is gone; an HTTP/2 session reads
 * whatever the socket has buffered when it starts (Node >= 15), so unlike httpolyglot no
 * stream-handle workaround is needed.
 */
function sniffPreface(socket: net.Socket, onDecided: (isHttp2: boolean) => void): void {
  let received = Buffer.alloc(0);
  const dropSocket = (): void => {
    stopSniffing();
    socket.destroy();
  };
  const onReadable = (): void => {
    for (let chunk: Buffer | null; (chunk = socket.read() as Buffer | null) !== null;) {
      received = Buffer.concat([received, chunk]);
    }
    const isHttp2 = matchPreface(received);
    if (isHttp2 === undefined) return;
    stopSniffing();
    socket.unshift(received);
    onDecided(isHttp2);
  };
  const stopSniffing = (): void => {
    socket.off("readable", onReadable).off("end", dropSocket).off("timeout", dropSocket);
    socket.off("error", ignoreEarlyError).setTimeout(0);
  };
  socket.on("error", ignoreEarlyError).on("end", dropSocket).on("timeout", dropSocket);
  socket.setTimeout(SNIFF_TIMEOUT_MS).on("readable", onReadable);
}

/** true: the full preface arrived; false: a byte differs; undefined: too few bytes yet. */
function matchPreface(received: Buffer): boolean | undefined {
  const length = Math.min(received.length, HTTP2_PREFACE.length);
  if (!received.subarray(0, length).equals(HTTP2_PREFACE.subarray(0, length))) return false;
  return length === HTTP2_PREFACE.length ? true : undefined;
}

/** A client that resets before sending a request is nobody's problem; 'close' follows. */
function ignoreEarlyError(): void {}

/** Drains, and after `graceMs` destroys the rest; resolves when the last connection closed. */
async function shutdown(server: net.Server, connections: ConnectionTracker, graceMs: number): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  connections.drain();
  const deadline = setTimeout(connections.destroyAll, graceMs);
  await closed.finally(() => clearTimeout(deadline));
}
