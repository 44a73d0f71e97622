/**
 * Issue 11, point 6, the peers no client library imitates, against a server running as
 * its own process: HTTP/2 preface then half-close, client processes killed with kill -9
 * mid-call, readers that open a large stream and never read, and rapid reset (HEADERS
 * then RST_STREAM, thousands of times on one connection: CVE-2023-44487). After each the
 * server must answer, hold no socket in CLOSE-WAIT on its port, and be back near its
 * baseline of descriptors (and, for slow readers, of memory).
 */
import * as http from "node:http";
import * as net from "node:net";
import { create, toBinary } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Scope } from "../../gen/runline/v1/admin_service_pb.js";
import { StreamRunEventsRequestSchema } from "../../gen/runline/v1/runs_service_pb.js";
import { createTenant, json } from "../support/clients.js";
import { eventually, sleep, within } from "../support/expectations.js";
import { clientPreface, connectRawH2, frame, FrameFlag, FrameType, grpcCall } from "../support/h2-frames.js";
import { socketStates } from "../support/socket-census.js";
import { startPeer } from "../support/peer-processes.js";
import { startServerProcess, type ServerProcess } from "../support/server-process.js";

const megabytes = (bytes: number) => Math.round(bytes / 2 ** 20);

/** GET /healthz on a connection of its own, closed after, so the check leaves no fd behind. */
function healthz(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get(`${url}/healthz`, { agent: false, headers: { connection: "close" } }, (response) => {
        response.resume().on("end", () => resolve(response.statusCode ?? 0));
      })
      .on("error", reject);
  });
}

/** GET /metrics on a connection of its own: the open server streams of `procedure`. */
function activeStreams(url: string, procedure: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get(`${url}/metrics`, { agent: false, headers: { connection: "close" } }, (response) => {
        let text = "";
        response.setEncoding("utf8").on("data", (chunk: string) => (text += chunk));
        response.on("end", () =>
          resolve(Number(new RegExp(`^runline_active_streams\\{procedure="${procedure}"\\} (\\d+)`, "m").exec(text)?.[1] ?? 0)),
        );
      })
      .on("error", reject);
  });
}

/** The HEADERS frame of a gRPC call on stream 1 to `path`, with a bearer token (an HPACK literal appended to the block). */
function grpcHeadersWithKey(path: string, key: string): Buffer {
  const call = grpcCall(1, path, false);
  const block = call.subarray(9, 9 + call.readUIntBE(0, 3));
  const value = `Bearer ${key}`;
  const authorization = Buffer.concat([
    Buffer.from([0x00, 13]),
    Buffer.from("authorization"),
    Buffer.from([value.length]),
    Buffer.from(value),
  ]);
  return frame(FrameType.headers, FrameFlag.endHeaders, 1, Buffer.concat([block, authorization]));
}

describe("raw-socket peers against a server process", () => {
  let server: ServerProcess;
  let key: string;
  let bigRunId: string;
  let baselineFds: number;

  /** Waits until no CLOSE-WAIT is left and descriptors are back near baseline; returns the wait in ms. */
  async function backToBaseline(what: string, ms: number): Promise<number> {
    const started = performance.now();
    await eventually(
      ms,
      `${what}: CLOSE-WAIT 0 and fds near ${baselineFds}`,
      async () => (server.closeWaitCount() === 0 && server.fdCount() <= baselineFds + 2 ? true : undefined),
      20,
    ).catch((error: Error) => {
      throw new Error(`${error.message} (CLOSE-WAIT ${server.closeWaitCount()}, fds ${server.fdCount()})`);
    });
    return Math.round(performance.now() - started);
  }

  beforeAll(async () => {
    server = await startServerProcess();
    const tenant = await createTenant(server.url, [Scope.READ, Scope.WRITE, Scope.ADMIN]);
    key = tenant.key;
    await tenant.workflows().createWorkflow({ slug: "raw", definition: json({ kind: "raw" }), inputSchema: json({ type: "object" }) });
    const { run } = await tenant.runs().createRun({ workflow: "raw", input: json({}) });
    bigRunId = run!.id;
    // About 16 MB of events: what a stream replays to a reader that never reads.
    const padding = "x".repeat(16 * 1024);
    for (let call = 0; call < 20; call += 1) {
      await tenant.runs().ingestRunEvents({
        runId: bigRunId,
        events: Array.from({ length: 50 }, (_, index) => ({ type: "chunk", data: json({ index, padding }) })),
      });
    }
    await sleep(500);
    baselineFds = server.fdCount();
  }, 120_000);
  afterAll(() => server.stop());

  it("ends HTTP/2 connections whose peer sends the preface, then half-closes", async () => {
    const peers = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const raw = await connectRawH2(server.port);
        await raw.next((received) => received.type === FrameType.settings);
        raw.socket.end();
        return raw;
      }),
    );
    const waited = await backToBaseline("after 20 half-closes", 10_000);
    console.log(`20 half-closed h2c peers: CLOSE-WAIT 0 and fds back to ${server.fdCount()} (baseline ${baselineFds}) within ${waited} ms`);
    peers.forEach((peer) => peer.socket.destroy());
    expect(await healthz(server.url)).toBe(200);
  });

  it.each(["h2-watch", "grpc-js-watch", "h2-reflection"])(
    "ends the calls of a client process killed with kill -9 mid-call (%s)",
    async (kind) => {
      const peer = await startPeer("stream-peer.ts", [server.url, kind, "10"]);
      const during = server.fdCount();
      await peer.kill();
      const waited = await backToBaseline(`after kill -9 of ${kind}`, 10_000);
      console.log(
        `${kind}: 10 calls open (fds ${during}), kill -9, CLOSE-WAIT 0 and fds ${server.fdCount()} (baseline ${baselineFds}) within ${waited} ms`,
      );
      expect(await healthz(server.url)).toBe(200);
    },
  );

  it("bounds what readers that never read cost, and gives it back when they go", async () => {
    const rssBefore = server.rssBytes();
    const message = toBinary(StreamRunEventsRequestSchema, create(StreamRunEventsRequestSchema, { runId: bigRunId }));
    const envelope = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), message]);
    envelope.writeUInt32BE(message.length, 1);
    const procedure = "/runline.v1.RunsService/StreamRunEvents";
    const headers = grpcHeadersWithKey(procedure, key);
    const readers: net.Socket[] = [];
    for (let index = 0; index < 20; index += 1) {
      // gRPC over h2c and SSE over HTTP/1.1: the request goes out, nothing is ever read.
      const socket = net.connect({ port: server.port, host: "127.0.0.1" });
      socket.on("error", () => undefined);
      socket.pause();
      if (index % 2 === 0) socket.write(Buffer.concat([clientPreface, headers, frame(FrameType.data, FrameFlag.endStream, 1, envelope)]));
      else
        socket.write(
          `GET /api/v1/runs/${bigRunId}/events:stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nAccept: text/event-stream\r\n\r\n`,
        );
      readers.push(socket);
    }
    await eventually(
      10_000,
      "20 streams open on the server",
      async () => ((await activeStreams(server.url, procedure)) === 20 ? true : undefined),
      100,
    );
    let peak = rssBefore;
    for (let second = 0; second < 8; second += 1) {
      await sleep(1000);
      peak = Math.max(peak, server.rssBytes());
    }
    readers.forEach((socket) => socket.destroy());
    const waited = await backToBaseline("after the slow readers left", 10_000);
    await sleep(2000);
    const rssAfter = server.rssBytes();
    console.log(
      `20 readers of a 16 MB stream that never read: RSS ${megabytes(rssBefore)} → peak ${megabytes(peak)} → ${megabytes(rssAfter)} MB; sockets gone within ${waited} ms`,
    );
    expect(peak - rssBefore).toBeLessThan(200 * 2 ** 20);
    expect(rssAfter - rssBefore).toBeLessThan(100 * 2 ** 20);
    expect(await healthz(server.url)).toBe(200);
  }, 60_000);

  it("survives rapid reset: HEADERS then RST_STREAM, 10,000 times on one connection", async () => {
    const raw = await connectRawH2(server.port);
    // Seen twice on a loaded machine: no SETTINGS for 60 s on this new connection. Fail
    // early, with what the kernel and the server say, so the cause can be found.
    let diagnosis = "";
    const settings = raw.next((received) => received.type === FrameType.settings);
    const timer = setTimeout(
      () =>
        (diagnosis = `sockets on the server port ${JSON.stringify(socketStates(server.port))}, server alive ${server.alive()}, frames ${raw.frames.length}, client socket destroyed ${raw.socket.destroyed}, bytes written ${raw.socket.bytesWritten}`),
      14_000,
    );
    await within(15_000, "the server's SETTINGS on a new connection", settings)
      .catch((error: Error) => {
        throw new Error(`${error.message}: ${diagnosis}`);
      })
      .finally(() => clearTimeout(timer));
    const cpuBefore = server.cpuSeconds();
    const started = performance.now();
    const cancel = Buffer.alloc(4);
    cancel.writeUInt32BE(8); // CANCEL
    let sent = 0;
    for (let batch = 0; batch < 100 && !raw.socket.destroyed && !raw.socket.writableEnded; batch += 1) {
      const frames: Buffer[] = [];
      for (let index = 0; index < 100; index += 1, sent += 1) {
        const streamId = 2 * sent + 1;
        frames.push(grpcCall(streamId, "/grpc.health.v1.Health/Check", false), frame(FrameType.rstStream, 0, streamId, cancel));
      }
      if (!raw.socket.write(Buffer.concat(frames))) await new Promise((resolve) => raw.socket.once("drain", resolve));
    }
    await sleep(1000);
    const goaway = raw.frames.find((received) => received.type === FrameType.goaway);
    const cpu = server.cpuSeconds() - cpuBefore;
    raw.socket.destroy();
    const status = await healthz(server.url);
    const waited = await backToBaseline("after rapid reset", 10_000);
    console.log(
      `rapid reset: ${sent} HEADERS+RST_STREAM in ${Math.round(performance.now() - started)} ms; GOAWAY ${goaway === undefined ? "none" : `error code ${goaway.payload.readUInt32BE(4)} after stream ${goaway.payload.readUInt32BE(0)}`}; server CPU ${cpu.toFixed(2)} s; healthz ${status}; fds back within ${waited} ms`,
    );
    expect(status).toBe(200);
    expect(cpu).toBeLessThan(20);
  }, 60_000);

  it("wrote nothing to stderr and only JSON log lines to stdout", () => {
    expect(server.alive()).toBe(true);
    expect(server.stderr()).toBe("");
    expect(server.strayStdout()).toEqual([]);
    const errors = server.logLines().filter((line) => line.level >= 50);
    console.log(
      `log: ${server.logLines().length} lines, ${errors.length} at error level: ${[...new Set(errors.map((line) => line.msg))].join("; ")}`,
    );
  });
});
