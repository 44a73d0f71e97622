/**
 * The listener's per-connection limits: concurrent HTTP/2 streams, header size and
 * header count. A client that keeps to them (Node's, like grpc-js, Go's or buf's) queues
 * its extra calls; one that ignores them is refused without harm to anybody else.
 */
import { once } from "node:events";
import * as http from "node:http";
import * as http2 from "node:http2";
import { afterEach, describe, expect, it } from "vitest";
import {
  defaultConnectionLimits,
  startListener,
  type ConnectionLimits,
  type Listener,
  type RequestHandler,
} from "../../src/http/listener.js";
import { eventually, sleep } from "../support/expectations.js";
import { connectRawH2, FrameType, frame, FrameFlag, type RawH2 } from "../support/h2-frames.js";

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Requests a listener's handler holds open now, and the most it ever held at once. */
interface Load {
  open: number;
  most: number;
}

/** `/hang` is held until the client goes away; anything else is answered at once. */
function loadCountingHandler(load: Load): RequestHandler {
  return (request, response) => {
    if (request.url !== "/hang") {
      response.end("ok");
      return;
    }
    load.open += 1;
    load.most = Math.max(load.most, load.open);
    response.once("close", () => (load.open -= 1));
  };
}

async function start(limits: Partial<ConnectionLimits>): Promise<Listener & { load: Load }> {
  const load = { open: 0, most: 0 };
  const listener = await startListener({
    host: "127.0.0.1",
    port: 0,
    handler: loadCountingHandler(load),
    limits: { ...defaultConnectionLimits, ...limits },
  });
  cleanups.push(() => listener.close({ graceMs: 100 }));
  return Object.assign(listener, { load });
}

async function connect(url: string): Promise<http2.ClientHttp2Session> {
  const session = http2.connect(url);
  session.on("error", () => {});
  cleanups.push(() => session.destroy());
  await once(session, "connect");
  return session;
}

/** A GET of `path` on `session`: its status, or the RST_STREAM code that ended it. */
function get(
  session: http2.ClientHttp2Session,
  path: string,
  headers: http2.OutgoingHttpHeaders = {},
): Promise<{ status?: number; rstCode?: number }> {
  return new Promise((resolve) => {
    const stream = session.request({ ":path": path, ...headers });
    let status: number | undefined;
    stream.on("response", (received) => (status = Number(received[":status"])));
    stream.on("error", () => {});
    stream.resume().on("close", () => resolve(status === undefined ? { rstCode: stream.rstCode } : { status }));
  });
}

/** HEADERS opening GET `path` on `streamId`, request ended (HPACK: static GET, http, new-name literals). */
function openStream(streamId: number, path: string): Buffer {
  const literal = (name: string, value: string) =>
    Buffer.concat([Buffer.from([0x00, name.length]), Buffer.from(name), Buffer.from([value.length]), Buffer.from(value)]);
  const block = Buffer.concat([Buffer.from([0x82, 0x86]), literal(":path", path), literal(":authority", "localhost")]);
  return frame(FrameType.headers, FrameFlag.endHeaders | FrameFlag.endStream, streamId, block);
}

function settingsOf(peer: RawH2): Map<number, number> {
  const settings = peer.frames.find((received) => received.type === FrameType.settings && (received.flags & FrameFlag.ack) === 0)!;
  const values = new Map<number, number>();
  for (let offset = 0; offset < settings.payload.length; offset += 6)
    values.set(settings.payload.readUInt16BE(offset), settings.payload.readUInt32BE(offset + 2));
  return values;
}

describe("concurrent HTTP/2 streams", () => {
  it("advertises the stream and header-list limits in its SETTINGS", async () => {
    const listener = await start({ maxConcurrentStreams: 10, maxHeaderBytes: 4096 });
    const peer = await connectRawH2(listener.port);
    cleanups.push(() => peer.socket.destroy());
    await peer.next((received) => received.type === FrameType.settings);
    const settings = settingsOf(peer);
    expect(settings.get(http2.constants.NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS)).toBe(10);
    expect(settings.get(http2.constants.NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE)).toBe(4096);
  });

  it("a conforming client queues streams beyond the default limit of 100: never more open on the server", async () => {
    const listener = await start({});
    const session = await connect(listener.url);
    const streams = Array.from({ length: 150 }, () => session.request({ ":path": "/hang" }).on("error", () => {}));
    const { load } = listener;
    await eventually(2_000, "100 streams held", async () => (load.open === 100 ? true : undefined));
    await sleep(200);
    expect(load.most).toBe(100);
    // Ending 20 lets 20 queued ones start, still never more than 100.
    for (const stream of streams.slice(0, 20)) stream.close(http2.constants.NGHTTP2_CANCEL);
    await eventually(2_000, "queued streams started", async () =>
      load.open === 100 && streams.slice(100, 120).every((stream) => stream.id !== undefined) ? true : undefined,
    );
    expect(load.most).toBe(100);
  });

  it("refuses the excess of a client that opens too many before acknowledging SETTINGS (REFUSED_STREAM), serving the rest", async () => {
    const listener = await start({ maxConcurrentStreams: 10 });
    const peer = await connectRawH2(listener.port, { ackSettings: false });
    cleanups.push(() => peer.socket.destroy());
    peer.socket.write(Buffer.concat(Array.from({ length: 15 }, (_, index) => openStream(1 + 2 * index, "/hang"))));
    await eventually(2_000, "5 refusals", async () =>
      peer.frames.filter((received) => received.type === FrameType.rstStream).length === 5 ? true : undefined,
    );
    const refusals = peer.frames.filter((received) => received.type === FrameType.rstStream);
    expect(refusals.map((received) => received.payload.readUInt32BE(0))).toEqual(Array(5).fill(http2.constants.NGHTTP2_REFUSED_STREAM));
    expect(refusals.map((received) => received.streamId)).toEqual([21, 23, 25, 27, 29]);
    await eventually(2_000, "10 streams held", async () => (listener.load.open === 10 ? true : undefined));
    expect(peer.frames.some((received) => received.type === FrameType.goaway)).toBe(false);
  });

  it("ends only that connection when a client that acknowledged the limit exceeds it (GOAWAY PROTOCOL_ERROR)", async () => {
    const listener = await start({ maxConcurrentStreams: 10 });
    const bystander = await connect(listener.url);
    const peer = await connectRawH2(listener.port);
    cleanups.push(() => peer.socket.destroy());
    await peer.next((received) => received.type === FrameType.settings && (received.flags & FrameFlag.ack) !== 0);
    await sleep(50); // our ACK of the server's SETTINGS has arrived
    peer.socket.write(Buffer.concat(Array.from({ length: 15 }, (_, index) => openStream(1 + 2 * index, "/hang"))));
    const goaway = await peer.next((received) => received.type === FrameType.goaway);
    expect(goaway.payload.readUInt32BE(4)).toBe(http2.constants.NGHTTP2_PROTOCOL_ERROR);
    await eventually(2_000, "offender's streams ended", async () => (listener.load.open === 0 ? true : undefined));
    expect(await get(bystander, "/fine")).toEqual({ status: 200 });
  });
});

describe("request header limits", () => {
  it("answers 431 over HTTP/1.1 and resets the stream over HTTP/2, keeping the connection", async () => {
    const listener = await start({ maxHeaderBytes: 4096 });
    const big = { "x-big": "a".repeat(6000) };
    const status = await new Promise<number>((resolve, reject) => {
      http.get(`${listener.url}/one`, { headers: big, agent: false }, (response) => resolve(response.statusCode ?? 0)).on("error", reject);
    });
    expect(status).toBe(431);
    const session = await connect(listener.url);
    // The limit holds once the client has acknowledged our SETTINGS (until then nghttp2
    // applies the protocol's default): one round trip makes sure it has.
    expect(await get(session, "/settled")).toEqual({ status: 200 });
    expect(await get(session, "/two", big)).toEqual({ rstCode: http2.constants.NGHTTP2_ENHANCE_YOUR_CALM });
    expect(await get(session, "/three", { "x-small": "a".repeat(1000) })).toEqual({ status: 200 });
  });

  it("resets an HTTP/2 request with more than 128 header fields", async () => {
    const listener = await start({});
    const session = await connect(listener.url);
    const many = Object.fromEntries(Array.from({ length: 130 }, (_, index) => [`x-h${index}`, "v"]));
    expect(await get(session, "/many", many)).toEqual({ rstCode: http2.constants.NGHTTP2_ENHANCE_YOUR_CALM });
    const some = Object.fromEntries(Array.from({ length: 100 }, (_, index) => [`x-h${index}`, "v"]));
    expect(await get(session, "/some", some)).toEqual({ status: 200 });
  });
});
