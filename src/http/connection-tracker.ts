/**
 * Every connection the listener accepted, so that it can watch their liveness and close
 * them each its own way: HTTP/2 sessions get GOAWAY; HTTP/1.1 responses in flight get
 * `Connection: close` (or their socket ended after them), idle keep-alive sockets go
 * through `closeIdleHttp1`, and sockets that never sent a byte are dropped. A request
 * still arriving is served, not cut.
 */
import * as http from "node:http";
import type * as http2 from "node:http2";
import type * as net from "node:net";
import {
  endUnlessAnswering,
  keepSessionAlive,
  type KeepaliveOptions,
  type PeerLostListener,
  type PeerLostReason,
} from "./session-liveness.js";

/** What the tracker needs besides the connections themselves. */
export interface TrackerOptions {
  /** Drops idle HTTP/1.1 keep-alive sockets (the HTTP/1.1 server's close()). */
  readonly closeIdleHttp1: () => void;
  readonly keepalive: KeepaliveOptions;
  readonly onPeerLost: PeerLostListener;
}

/**
 * At drain, how long a session's PING answer may take at most (less when the keepalive
 * timeout is shorter). A live peer answers in a round trip; one that does not answer in
 * 2 s is not going to close its streams before the grace period either.
 */
const DRAIN_PING_TIMEOUT_MS = 2_000;

/** The listener's book of connections; see the module comment. */
export type ConnectionTracker = ReturnType<typeof createConnectionTracker>;

/** Starts an empty book; the listener feeds it every socket, session and HTTP/1.1 response. */
export function createConnectionTracker(options: TrackerOptions) {
  const sockets = new Set<net.Socket>();
  // The TCP socket under each session, found by the peer's address when the session starts.
  const socketsByPeer = new Map<string, net.Socket>();
  const tcpSocketOf = new WeakMap<http2.ServerHttp2Session, net.Socket>();
  const sessions = new Set<http2.ServerHttp2Session>();
  const responses = new Set<http.ServerResponse>();
  const drainPingTimeoutMs = Math.min(options.keepalive.timeoutMs, DRAIN_PING_TIMEOUT_MS);
  let draining = false;
  const dropIfQuiet = (socket: net.Socket): void => {
    if (socket.bytesRead === 0) socket.destroy();
  };
  /**
   * Ends a silent peer's session by destroying its TCP socket, which frees the fd at once
   * and closes the session and its streams. session.destroy() alone is not enough: after
   * a GOAWAY (drain) it waits for the peer to close, and it always waits for unsent data
   * to leave, which a frozen peer that stopped reading never lets happen.
   */
  const endSilentSession = (session: http2.ServerHttp2Session, reason: PeerLostReason): void => {
    options.onPeerLost(reason, tcpSocketOf.get(session)?.remoteAddress);
    session.destroy();
    tcpSocketOf.get(session)?.destroy();
  };
  const closeSession = (session: http2.ServerHttp2Session): void => {
    endUnlessAnswering(session, drainPingTimeoutMs, endSilentSession);
    // close() sends GOAWAY and closes the session once its open streams end.
    session.close();
  };
  const adoptSocket = (socket: net.Socket): void => {
    sockets.add(socket);
    const peer = peerKey(socket);
    if (peer !== undefined) socketsByPeer.set(peer, socket);
    socket.once("close", () => {
      sockets.delete(socket);
      if (peer !== undefined && socketsByPeer.get(peer) === socket) socketsByPeer.delete(peer);
    });
    // TCP keepalive: the kernel probes an idle socket after the keepalive interval (then
    // every second, 10 times, as libuv sets it), which catches a silent peer on either
    // protocol while nothing is being sent. The kernel counts whole seconds, and below
    // one Node would leave its default of two hours.
    if (options.keepalive.intervalMs > 0) socket.setKeepAlive(true, Math.max(1000, options.keepalive.intervalMs));
    if (draining) dropIfQuiet(socket); // a TLS handshake that finished after close() began
  };
  const adoptSession = (session: http2.ServerHttp2Session): void => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    const peer = peerKey(session.socket);
    const tcpSocket = peer === undefined ? undefined : socketsByPeer.get(peer);
    if (tcpSocket !== undefined) tcpSocketOf.set(session, tcpSocket);
    keepSessionAlive(session, options.keepalive, endSilentSession);
    if (draining) closeSession(session);
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
    sessions.forEach(closeSession);
    for (const response of responses) markLastResponse(response);
    options.closeIdleHttp1();
  };
  // Destroying the TCP socket also ends the TLS socket, session or HTTP/1.1 parser above it.
  const destroyAll = (): void => sockets.forEach((socket) => socket.destroy());
  return { adoptSocket, adoptSession, trackResponse, drain, destroyAll };
}

/** The peer's address and port: what a TCP socket and the TLS socket or session above it share. */
function peerKey(socket: net.Socket): string | undefined {
  // Undefined once the connection is gone: nothing left to find.
  return socket.remotePort === undefined ? undefined : `${socket.remoteAddress}|${socket.remotePort}`;
}

/** Tells the client not to reuse the connection, where headers can still say so. */
function markLastResponse(response: http.ServerResponse): void {
  if (!response.headersSent) response.setHeader("connection", "close");
}

/** Ends after pending writes flush, so a just-finished response is not cut off. */
function endSocket(socket: net.Socket): void {
  socket.end(() => socket.destroy());
}
