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

/** The handler shape `connectNodeAdapter()` returns, so it can be passed in unchanged. */
export type RequestHandler = (
  request: http.IncomingMessage | http2.Http2ServerRequest,
  response: http.ServerResponse | http2.Http2ServerResponse,
) => void;

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
   * (default 10000). Resolves once every connection is closed; calling it again returns
   * the same promise.
   */
  close(options?: { graceMs?: number }): Promise<void>;
}

const DEFAULT_GRACE_MS = 10_000;

const HTTP2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/** A cleartext client must say which protocol it speaks within this time, or is dropped. */
const SNIFF_TIMEOUT_MS = 30_000;

/**
 * HTTP/1.1 limits. Headers must arrive within 30 s (slow-loris guard) and a request body
 * within 5 min (Node's default, stated here). Idle keep-alive sockets live 65 s, longer
 * than the 60 s idle timeout of common load balancers, so the proxy closes them first and
 * never reuses a socket we are closing. Responses have no limit: streams may last hours.
 */
const HTTP1_OPTIONS = { headersTimeout: 30_000, requestTimeout: 300_000, keepAliveTimeout: 65_000 } satisfies http.ServerOptions;

/** Opens the port and resolves once it accepts connections. */
export async function startListener(options: ListenerOptions): Promise<Listener> {
  const { server, connections } =
    options.tls === undefined
      ? createCleartextServer(options.handler)
      : createTlsServer(options.tls, options.handler);
  server.listen(options.port, options.host);
  await once(server, "listening"); // rejects on 'error', e.g. EADDRINUSE
  const { port } = server.address() as AddressInfo;
  const host = net.isIPv6(options.host) ? `[${options.host}]` : options.host;
  let closing: Promise<void> | undefined;
  return {
    port,
    url: `${options.tls === undefined ? "http" : "https"}://${host}:${port}`,
    close: (closeOptions) =>
      (closing ??= shutdown(server, connections, closeOptions?.graceMs ?? DEFAULT_GRACE_MS)),
  };
}

interface ServerAndConnections {
  server: net.Server;
  connections: ConnectionTracker;
}

function createCleartextServer(handler: RequestHandler): ServerAndConnections {
  const http1Server = http.createServer(HTTP1_OPTIONS);
  // http1Server.close() only drops idle keep-alive sockets here: it never listened itself.
  const connections = createConnectionTracker(() => http1Server.close());
  http1Server.on("request", connections.trackResponse).on("request", handler);
  // No `timeout` option: Node's default of 0 never ends a session for being quiet, and a
  // quiet session may carry a server stream that lasts hours.
  const http2Server = http2.createServer({}, handler);
  http2Server.on("session", connections.adoptSession);
  // allowHalfOpen like http.Server: a client that half-closes after its request still gets the response.
  // noDelay like http.Server: small frames (a stream message, an ack) go out at once
  // instead of waiting, under Nagle's algorithm, for the peer to acknowledge earlier ones.
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    connections.adoptSocket(socket);
    sniffPreface(socket, (isHttp2) => (isHttp2 ? http2Server : http1Server).emit("connection", socket));
  });
  // http.Server starts the bookkeeping behind headersTimeout, requestTimeout and
  // closeIdleConnections() on 'listening', which a server fed by hand never emits.
  server.once("listening", () => http1Server.emit("listening"));
  return { server, connections };
}

type TlsFiles = NonNullable<ListenerOptions["tls"]>;

function createTlsServer(tls: TlsFiles, handler: RequestHandler): ServerAndConnections {
  // allowHTTP1 makes Node offer ['h2', 'http/1.1'] over ALPN (it overwrites any
  // ALPNProtocols passed in) and serve http/1.1 and ALPN-less clients with HTTP/1.1.
  // Its close() also drops idle keep-alive sockets, so draining needs nothing extra.
  const server = http2.createSecureServer({ ...tls, ...HTTP1_OPTIONS, allowHTTP1: true });
  const connections = createConnectionTracker(() => {});
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
    for (let chunk: Buffer | null; (chunk = socket.read() as Buffer | null) !== null; ) {
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

type ConnectionTracker = ReturnType<typeof createConnectionTracker>;

/**
 * What close() drains, each protocol its own way: HTTP/2 sessions get GOAWAY; HTTP/1.1
 * responses in flight get `Connection: close` (or their socket ended after them), idle
 * keep-alive sockets go through `closeIdleHttp1`, and sockets that never sent a byte are
 * dropped. A request still arriving is served, not cut.
 */
function createConnectionTracker(closeIdleHttp1: () => void) {
  const sockets = new Set<net.Socket>();
  const sessions = new Set<http2.ServerHttp2Session>();
  const responses = new Set<http.ServerResponse>();
  let draining = false;
  const dropIfQuiet = (socket: net.Socket): void => {
    if (socket.bytesRead === 0) socket.destroy();
  };
  const adoptSocket = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    if (draining) dropIfQuiet(socket); // a TLS handshake that finished after close() began
  };
  const adoptSession = (session: http2.ServerHttp2Session): void => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    if (draining) session.close();
  };
  const trackResponse = (_request: unknown, response: http.ServerResponse | http2.Http2ServerResponse): void => {
    if (!(response instanceof http.ServerResponse)) return;
    const socket = response.socket;
    responses.add(response);
    if (draining) markLastResponse(response);
    response.once("close", () => {
      responses.delete(response);
      // Covers responses whose headers left before draining began, so could not say "close".
      if (draining && socket !== null) endSocket(socket);
    });
  };
  const drain = (): void => {
    draining = true;
    sockets.forEach(dropIfQuiet);
    // session.close() sends GOAWAY and closes the session once its open streams end.
    for (const session of sessions) session.close();
    for (const response of responses) markLastResponse(response);
    closeIdleHttp1();
  };
  // Destroying the TCP socket also ends the TLS socket, session or HTTP/1.1 parser above it.
  const destroyAll = (): void => sockets.forEach((socket) => socket.destroy());
  return { adoptSocket, adoptSession, trackResponse, drain, destroyAll };
}

/** Tells the client not to reuse the connection, where headers can still say so. */
function markLastResponse(response: http.ServerResponse): void {
  if (!response.headersSent) response.setHeader("connection", "close");
}

/** Ends after pending writes flush, so a just-finished response is not cut off. */
function endSocket(socket: net.Socket): void {
  socket.end(() => socket.destroy());
}

/** Drains, and after `graceMs` destroys the rest; resolves when the last connection closed. */
async function shutdown(server: net.Server, connections: ConnectionTracker, graceMs: number): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  connections.drain();
  const deadline = setTimeout(connections.destroyAll, graceMs);
  await closed.finally(() => clearTimeout(deadline));
}
