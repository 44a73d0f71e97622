/**
 * Connections whose peer goes away: by closing (FIN, as a killed process's kernel does),
 * by resetting, by half-closing, or by going silent with the socket left open (a frozen
 * process, a partition). The server must close its side, end the calls on it (their
 * handlers' `ctx.signal` fires) and give back every fd, and a silent peer must not hold
 * a shutdown open. Observed from the server's side: the TCP states of its port, this
 * process's fds (the server runs in-process), and `runline_active_streams`.
 */
import { once } from "node:events";
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import { beforeAll, describe, expect, it } from "vitest";
import { eventually, sleep } from "../support/expectations.js";
import { connectRawH2, FrameType, grpcCall } from "../support/h2-frames.js";
import { startPeer, type PeerProcess } from "../support/peer-processes.js";
import { connectionsGone, establishedTimers, fdsBackTo, fdTargets, serverConnections, socketStates } from "../support/socket-census.js";
import { activeStreams, streamsReach } from "../support/stream-gauge.js";
import { startTestServer } from "../support/test-server.js";

const watch = "/grpc.health.v1.Health/Watch";
const reflection = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo";

/** A Node HTTP/2 client whose TCP socket the test can reach (to destroy or reset it). */
function http2Client(port: number): { session: http2.ClientHttp2Session; socket: () => net.Socket } {
  let socket: net.Socket | undefined;
  const session = http2.connect(`http://127.0.0.1:${port}`, {
    createConnection: () => (socket = net.connect({ port, host: "127.0.0.1" })),
  });
  session.on("error", () => {});
  return { session, socket: () => socket! };
}

/** Opens a Health.Watch call on `session`; resolves with the stream once its first message arrived. */
function openWatch(session: http2.ClientHttp2Session): Promise<http2.ClientHttp2Stream> {
  const stream = session.request({ ":method": "POST", ":path": watch, "content-type": "application/grpc", te: "trailers" });
  stream.on("error", () => {});
  stream.end(Buffer.alloc(5)); // one empty HealthCheckRequest: the whole server
  return new Promise((resolve, reject) => {
    stream.once("data", () => resolve(stream));
    stream.once("close", () => reject(new Error("Watch closed before its first message")));
  });
}

describe("HTTP/2 peers that close their connection (keepalive PINGs off)", () => {
  let url: string;
  let port: number;
  beforeAll(async () => {
    const server = await startTestServer(undefined, { RUNLINE_KEEPALIVE_INTERVAL_MS: "0" });
    ({ url, port } = server);
    await activeStreams(url, watch); // warms the pool the metrics read from, so fds stay put
  });

  it("closes connections whose peer half-closes after the preface (no CLOSE-WAIT left)", async () => {
    const fdsBefore = fdTargets();
    const peers = await Promise.all(Array.from({ length: 20 }, () => connectRawH2(port)));
    await Promise.all(peers.map((peer) => peer.next((frame) => frame.type === FrameType.settings)));
    expect(serverConnections(port)).toBe(20);
    for (const peer of peers) peer.socket.end(); // shutdown(SHUT_WR)
    const closedInMs = await connectionsGone(port, 2_000);
    expect(socketStates(port).CLOSE_WAIT ?? 0).toBe(0);
    // The server's FIN reaches each peer, which can still read.
    await Promise.all(peers.map((peer) => eventually(2_000, "server FIN", async () => (peer.socket.readableEnded ? true : undefined))));
    for (const peer of peers) peer.socket.destroy();
    const fdsAfter = await fdsBackTo(fdsBefore, port, 5_000);
    console.log(`20 half-closed h2 connections: server side closed in ${closedInMs.toFixed(0)} ms; fds ${fdsBefore.size} → ${fdsAfter}`);
  });

  it("ends the calls of a peer that half-closes mid-call", async () => {
    const peers = await Promise.all(Array.from({ length: 10 }, () => connectRawH2(port)));
    for (const peer of peers) peer.socket.write(grpcCall(1, watch));
    await Promise.all(peers.map((peer) => peer.next((frame) => frame.type === FrameType.data && frame.streamId === 1)));
    expect(await activeStreams(url, watch)).toBe(10);
    for (const peer of peers) peer.socket.end();
    const endedInMs = await streamsReach(url, watch, 0, 2_000);
    await connectionsGone(port, 2_000);
    for (const peer of peers) peer.socket.destroy();
    console.log(`10 Health.Watch calls on half-closed connections ended on the server in ${endedInMs.toFixed(0)} ms`);
  });

  it("gives back every socket and fd of 100 clients killed mid-call (grpc-js, Node h2 sockets destroyed or reset, kill -9)", async () => {
    const fdsBefore = fdTargets();
    const grpcJs = startPeer("stream-peer.ts", [url, "grpc-js-watch", "40"]);
    const children = ["h2-watch", "h2-watch", "h2-reflection"].map((kind) => startPeer("stream-peer.ts", [url, kind, "10"]));
    const inProcess = Array.from({ length: 30 }, () => http2Client(port));
    await Promise.all(inProcess.map((client) => openWatch(client.session)));
    const peers: PeerProcess[] = await Promise.all([grpcJs, ...children]);
    expect(await activeStreams(url, watch)).toBe(90);
    expect(await activeStreams(url, reflection)).toBe(10);
    expect(serverConnections(port)).toBe(100);

    const killedAt = performance.now();
    inProcess.forEach((client, index) => (index % 2 === 0 ? client.socket().destroy() : client.socket().resetAndDestroy()));
    await Promise.all(peers.map((peer) => peer.kill()));
    const closedInMs = await connectionsGone(port, 2_000);
    await streamsReach(url, watch, 0, 2_000);
    await streamsReach(url, reflection, 0, 2_000);
    const fdsAfter = await fdsBackTo(fdsBefore, port, 5_000);
    const allDoneMs = performance.now() - killedAt;
    expect(socketStates(port).CLOSE_WAIT ?? 0).toBe(0);
    console.log(
      `100 clients killed mid-call: server sockets closed in ${closedInMs.toFixed(0)} ms, streams and fds back within ${allDoneMs.toFixed(0)} ms of the kill; fds ${fdsBefore.size} → ${fdsAfter}; CLOSE-WAIT 0`,
    );
  });

  it("ends Health.Watch and reflection streams that the client resets (RST_STREAM, as Ctrl-C in buf curl)", async () => {
    const peer = await connectRawH2(port);
    peer.socket.write(grpcCall(1, watch));
    peer.socket.write(grpcCall(3, reflection, false)); // a bidi stream left open, as a tool leaves it
    await peer.next((frame) => frame.type === FrameType.data && frame.streamId === 1);
    await streamsReach(url, reflection, 1, 2_000);
    expect(await activeStreams(url, watch)).toBe(1);
    const cancel = Buffer.alloc(4);
    cancel.writeUInt32BE(http2.constants.NGHTTP2_CANCEL);
    peer.socket.write(Buffer.concat([rstStream(1, cancel), rstStream(3, cancel)]));
    await streamsReach(url, watch, 0, 2_000);
    await streamsReach(url, reflection, 0, 2_000);
    // The connection itself stays usable.
    peer.socket.write(grpcCall(5, watch));
    await peer.next((frame) => frame.type === FrameType.data && frame.streamId === 5);
    peer.socket.destroy();
  });
});

describe("HTTP/1.1 peers that close their connection (keepalive off)", () => {
  let url: string;
  let port: number;
  beforeAll(async () => {
    const server = await startTestServer(undefined, { RUNLINE_KEEPALIVE_INTERVAL_MS: "0" });
    ({ url, port } = server);
  });

  /** A gRPC-web Health.Watch over HTTP/1.1 on a raw socket, open once its headers arrived. */
  async function openWatchOverHttp1(): Promise<net.Socket> {
    const socket = net.connect({ port, host: "127.0.0.1", allowHalfOpen: true });
    socket.on("error", () => {});
    await once(socket, "connect");
    socket.write(`POST ${watch} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/grpc-web+proto\r\nContent-Length: 5\r\n\r\n`);
    socket.write(Buffer.alloc(5));
    await once(socket, "data");
    return socket;
  }

  it("ends a server stream when its client closes or half-closes the connection", async () => {
    const closing = await Promise.all(Array.from({ length: 5 }, openWatchOverHttp1));
    const halfClosing = await Promise.all(Array.from({ length: 5 }, openWatchOverHttp1));
    expect(await activeStreams(url, watch)).toBe(10);
    for (const socket of closing) socket.destroy();
    // Node's HTTP/1.1 takes a FIN as the end of the exchange: the call is aborted.
    for (const socket of halfClosing) socket.end();
    const endedInMs = await streamsReach(url, watch, 0, 2_000);
    await connectionsGone(port, 2_000);
    for (const socket of halfClosing) socket.destroy();
    console.log(
      `10 gRPC-web Health.Watch calls over HTTP/1.1 (5 closed, 5 half-closed): ended on the server in ${endedInMs.toFixed(0)} ms`,
    );
  });

  it("sets no TCP keepalive when keepalive is off", async () => {
    const agent = new http.Agent({ keepAlive: true });
    await new Promise<void>((resolve, reject) =>
      http.get(`${url}/healthz`, { agent }, (response) => response.resume().on("end", resolve)).on("error", reject),
    );
    expect(establishedTimers(port).map(({ timer }) => timer)).toEqual([0]);
    agent.destroy();
  });
});

function rstStream(streamId: number, code: Buffer): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(4, 0, 3);
  header[3] = FrameType.rstStream;
  header.writeUInt32BE(streamId, 5);
  return Buffer.concat([header, code]);
}

describe("HTTP/2 peers that stop answering without a FIN (keepalive 500 ms + 500 ms)", () => {
  let url: string;
  let port: number;
  beforeAll(async () => {
    const server = await startTestServer(undefined, { RUNLINE_KEEPALIVE_INTERVAL_MS: "500", RUNLINE_KEEPALIVE_TIMEOUT_MS: "500" });
    ({ url, port } = server);
  });

  it("ends the session of a frozen peer (SIGSTOP) within interval + timeout", async () => {
    const peer = await startPeer("stream-peer.ts", [url, "h2-watch", "3"]);
    expect(await activeStreams(url, watch)).toBe(3);
    const frozenAt = performance.now();
    process.kill(peer.pid, "SIGSTOP");
    try {
      await streamsReach(url, watch, 0, 4_000);
      const endedInMs = performance.now() - frozenAt;
      await connectionsGone(port, 2_000);
      // Quiet for up to one interval before the PING, then one timeout: about 0.5–1.0 s, plus timer slack.
      expect(endedInMs).toBeGreaterThanOrEqual(400);
      expect(endedInMs).toBeLessThan(3_000);
      console.log(
        `frozen peer (SIGSTOP, 3 Watch calls): session ended ${endedInMs.toFixed(0)} ms after the freeze (keepalive 500 + 500 ms)`,
      );
    } finally {
      process.kill(peer.pid, "SIGCONT");
      await peer.kill();
    }
  });

  it("sets TCP keepalive on every connection, HTTP/1.1 and HTTP/2 (kernel probes after the interval, 1 s at least)", async () => {
    const agent = new http.Agent({ keepAlive: true });
    await new Promise<void>((resolve, reject) =>
      http.get(`${url}/healthz`, { agent }, (response) => response.resume().on("end", resolve)).on("error", reject),
    );
    const client = http2Client(port);
    await openWatch(client.session);
    const timers = establishedTimers(port);
    expect(timers).toHaveLength(2);
    for (const { timer, seconds } of timers) {
      expect(timer).toBe(2);
      expect(seconds).toBeLessThanOrEqual(1);
    }
    agent.destroy();
    client.session.destroy();
    await streamsReach(url, watch, 0, 2_000);
  });

  it("keeps a quiet session whose peer answers PINGs", async () => {
    const client = http2Client(port);
    const stream = await openWatch(client.session);
    await sleep(2_500); // five keepalive intervals without a byte from the client's code
    expect(stream.closed).toBe(false);
    expect(await activeStreams(url, watch)).toBe(1);
    client.session.destroy();
    await streamsReach(url, watch, 0, 2_000);
  });
});

describe("shutdown with a frozen peer", () => {
  it("does not wait out the grace period for a peer that answers nothing", async () => {
    // PINGs only at drain (the interval is longer than the test), a 10 s grace period.
    const server = await startTestServer(undefined, {
      RUNLINE_KEEPALIVE_INTERVAL_MS: "600000",
      RUNLINE_KEEPALIVE_TIMEOUT_MS: "500",
      RUNLINE_SHUTDOWN_GRACE_MS: "10000",
    });
    // A bidi stream the client never ends: after the server ends its side, only the
    // client's END_STREAM or RST_STREAM (which a frozen client never sends) closes it.
    const peer = await startPeer("stream-peer.ts", [server.url, "h2-reflection", "2"]);
    expect(await activeStreams(server.url, reflection)).toBe(2);
    process.kill(peer.pid, "SIGSTOP");
    try {
      const started = performance.now();
      await server.close();
      const closeMs = performance.now() - started;
      expect(closeMs).toBeLessThan(3_000);
      expect(serverConnections(server.port)).toBe(0);
      console.log(
        `close() with a frozen peer holding 2 reflection streams: ${closeMs.toFixed(0)} ms (grace 10000 ms, drain PING timeout 500 ms)`,
      );
    } finally {
      process.kill(peer.pid, "SIGCONT");
      await peer.kill();
    }
  });
});
