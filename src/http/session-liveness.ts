/**
 * Tells live HTTP/2 peers from dead ones. A peer that vanished without a FIN (a network
 * partition, a frozen or suspended process) leaves its session looking idle for ever:
 * its kernel may even go on acknowledging TCP segments, so only an HTTP/2 PING that the
 * peer's own code must answer proves it is there. A session whose PING is not answered
 * in time is handed to `onSilent`, which ends it (see connection-tracker.ts).
 *
 * Cost: one timer per session and a 17-byte PING (and its answer) per interval. Every
 * session is PINGed, busy or not, so a silent peer is found within interval + timeout,
 * as README promises (skipping sessions that sent bytes lately would stretch it by up
 * to one interval).
 */
import type * as http2 from "node:http2";

/** How often sessions are PINGed and how long an answer may take. */
export interface KeepaliveOptions {
  /** Time from a session's start, or a PING's answer, to the next PING; 0 turns PINGs off. */
  readonly intervalMs: number;
  /** A PING unanswered for this long ends the session. */
  readonly timeoutMs: number;
}

/** Why a session was ended for its peer's silence. */
export type PeerLostReason = "keepalive-timeout" | "drain-ping-timeout";

/** Called once for each session ended because its peer stopped answering. */
export type PeerLostListener = (reason: PeerLostReason, remoteAddress: string | undefined) => void;

/** Ends a session whose peer did not answer a PING in time. */
export type SilentPeerHandler = (session: http2.ServerHttp2Session, reason: PeerLostReason) => void;

/**
 * PINGs `session` `intervalMs` after it started and after each answer, and hands it to
 * `onSilent` when a PING is not answered within `timeoutMs`. Stops when the session closes.
 */
export function keepSessionAlive(session: http2.ServerHttp2Session, options: KeepaliveOptions, onSilent: SilentPeerHandler): void {
  if (options.intervalMs === 0) return;
  let timer: NodeJS.Timeout | undefined;
  const schedule = (ms: number, then: () => void): void => {
    timer = setTimeout(then, ms);
    timer.unref();
  };
  const ping = (): void => {
    const sent = sendPing(session, () => {
      clearTimeout(timer);
      schedule(options.intervalMs, ping);
    });
    if (sent) schedule(options.timeoutMs, () => onSilent(session, "keepalive-timeout"));
    else if (!session.destroyed) schedule(options.intervalMs, ping);
  };
  schedule(options.intervalMs, ping);
  session.once("close", () => clearTimeout(timer));
}

/**
 * For shutdown: PINGs `session` once and hands it to `onSilent` unless the answer comes
 * within `timeoutMs`, so a frozen peer cannot hold the drain open for the grace period.
 */
export function endUnlessAnswering(session: http2.ServerHttp2Session, timeoutMs: number, onSilent: SilentPeerHandler): void {
  const timer = setTimeout(() => onSilent(session, "drain-ping-timeout"), timeoutMs);
  timer.unref();
  session.once("close", () => clearTimeout(timer));
  // Unsent (no handshake yet): the timer still ends the session if it does not close by itself.
  sendPing(session, () => clearTimeout(timer));
}

/**
 * Sends a PING; `onAnswer` runs when the peer acknowledges it. Returns false when no
 * PING could be sent (the session is gone, or its handshake has not finished).
 */
function sendPing(session: http2.ServerHttp2Session, onAnswer: () => void): boolean {
  if (session.destroyed) return false;
  try {
    // The callback also runs, with an error, when the session is destroyed first.
    return session.ping((error) => {
      if (error === null) onAnswer();
    });
  } catch {
    // ERR_HTTP2_PING_CANCEL / ERR_HTTP2_INVALID_SESSION: the session is ending anyway.
    return false;
  }
}
