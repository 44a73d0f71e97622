/**
 * The listener against HTTP/2 peers that never answer a PING (a hand-written client that
 * ignores them, standing in for a frozen process or a partition), in cleartext and over
 * TLS: keepalive ends their connections and the calls on them, and a drain does not wait
 * for them, while peers that answer keep their calls.
 */
import { once } from "node:events";
import * as http2 from "node:http2";
import { afterEach, describe, expect, it } from "vitest";
import {
  defaultConnectionLimits,
  startListener,
  type ConnectionLimits,
  type Listener,
  type RequestHandler,
} from "../../src/http/listener.js";
import type { PeerLostReason } from "../../src/http/session-liveness.js";
import { eventually } from "../support/expectations.js";
import { connectRawH2, FrameType, frame, FrameFlag, type RawH2 } from "../support/h2-frames.js";
import { createSelfSignedCertificate } from "../support/tls-certificate.js";

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const certificate = createSelfSignedCertificate();

interface Started extends Listener {
  /** Requests the handler holds open now. */
  readonly open: () => number;
  readonly lost: PeerLostReason[];
}

/** A listener whose handler holds every request open until the client goes away. */
async function start(secure: boolean, limits: Partial<ConnectionLimits>): Promise<Started> {
  let open = 0;
  const lost: PeerLostReason[] = [];
  const handler: RequestHandler = (_request, response) => {
    open += 1;
    // Headers and a first chunk, then nothing. (Two response types: write() on their union does not typecheck.)
    if (response instanceof http2.Http2ServerResponse) response.write("held");
    else response.write("held");
    response.once("close", () => (open -= 1));
  };
  const listener = await startListener({
    host: "127.0.0.1",
    port: 0,
    handler,
    tls: secure ? certificate : undefined,
    limits: { ...defaultConnectionLimits, ...limits },
    onPeerLost: (reason) => lost.push(reason),
  });
  cleanups.push(() => listener.close({ graceMs: 100 }));
  return Object.assign(listener, { open: () => open, lost });
}

/** A raw client (answers no PING) with one held request; resolves once the server answered it. */
async function holdRequest(port: number, secure: boolean): Promise<RawH2> {
  const peer = await connectRawH2(port, { tls: secure });
  cleanups.push(() => peer.socket.destroy());
  const literal = (name: string, value: string) =>
    Buffer.concat([Buffer.from([0x00, name.length]), Buffer.from(name), Buffer.from([value.length]), Buffer.from(value)]);
  const block = Buffer.concat([Buffer.from([0x82, secure ? 0x87 : 0x86]), literal(":path", "/held"), literal(":authority", "localhost")]);
  peer.socket.write(frame(FrameType.headers, FrameFlag.endHeaders | FrameFlag.endStream, 1, block));
  await peer.next((received) => received.type === FrameType.data && received.streamId === 1);
  return peer;
}

async function connected(url: string): Promise<http2.ClientHttp2Session> {
  const session = http2.connect(url, { rejectUnauthorized: false });
  session.on("error", () => {});
  cleanups.push(() => session.destroy());
  await once(session, "connect");
  return session;
}

describe.each([
  ["cleartext", false],
  ["TLS", true],
] as const)("HTTP/2 peers that answer no PING (%s)", (_name, secure) => {
  it("are disconnected after keepalive interval + timeout, their calls ended; answering peers are kept", async () => {
    const listener = await start(secure, { keepaliveIntervalMs: 300, keepaliveTimeoutMs: 300 });
    const answering = await connected(listener.url);
    const kept = answering.request({ ":path": "/kept" });
    kept.on("error", () => {});
    const silent = await holdRequest(listener.port, secure);
    expect(silent.frames.some((received) => received.type === FrameType.ping)).toBe(false);
    const started = performance.now();
    await eventually(
      3_000,
      "silent peer disconnected",
      async () => (silent.socket.destroyed || silent.socket.readableEnded ? true : undefined),
      10,
    );
    const endedMs = performance.now() - started;
    expect(silent.frames.some((received) => received.type === FrameType.ping)).toBe(true);
    await eventually(1_000, "its call ended", async () => (listener.open() === 1 ? true : undefined));
    expect(listener.lost).toEqual(["keepalive-timeout"]);
    expect(kept.closed).toBe(false);
    expect(endedMs).toBeGreaterThanOrEqual(250);
    expect(endedMs).toBeLessThan(2_000);
  });

  it("do not hold a drain: close() ends them after the drain PING timeout", async () => {
    const listener = await start(secure, { keepaliveIntervalMs: 600_000, keepaliveTimeoutMs: 300 });
    await holdRequest(listener.port, secure);
    await holdRequest(listener.port, secure);
    const started = performance.now();
    await listener.close({ graceMs: 5_000 });
    const closeMs = performance.now() - started;
    expect(closeMs).toBeLessThan(1_500);
    expect(listener.lost).toEqual(["drain-ping-timeout", "drain-ping-timeout"]);
    expect(listener.open()).toBe(0);
  });
});
