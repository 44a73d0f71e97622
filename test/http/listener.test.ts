import { once } from "node:events";
import * as http from "node:http";
import * as http2 from "node:http2";
import * as https from "node:https";
import * as net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import * as tls from "node:tls";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { afterEach, describe, expect, it } from "vitest";
import { startListener } from "../../src/http/listener.js";
import type { Listener, ListenerOptions, RequestHandler } from "../../src/http/listener.js";
import { createSelfSignedCertificate } from "../support/tls-certificate.js";

interface Reply {
  status: number;
  body: string;
}

/**
 * Answers with the protocol version, method and path it saw: `/slow` after 300 ms,
 * `/slow-body` (HTTP/1.1) sends its headers at once and the body after 300 ms, `/hang` never.
 */
const echo: RequestHandler = (request, response) => {
  const reply = (): void => {
    response.end(`${request.httpVersion} ${request.method} ${request.url}`);
  };
  if (request.url === "/slow-body" && response instanceof http.ServerResponse) response.writeHead(200).flushHeaders();
  if (request.url?.startsWith("/slow") === true) setTimeout(reply, 300);
  else if (request.url !== "/hang") reply();
};

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function start(options: Partial<ListenerOptions> = {}): Promise<Listener> {
  const listener = await startListener({ host: "127.0.0.1", port: 0, handler: echo, ...options });
  cleanups.push(() => listener.close({ graceMs: 100 }));
  return listener;
}

function http1Request(url: string, options: https.RequestOptions = {}): Promise<Reply> {
  const request = url.startsWith("https:") ? https.request : http.request;
  return new Promise((resolve, reject) => {
    request(url, options, (response) => {
      let body = "";
      response.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
    })
      .on("error", reject)
      .end();
  });
}

function http2Request(session: http2.ClientHttp2Session, path: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ":path": path });
    let status = 0;
    let body = "";
    stream.on("response", (headers) => (status = Number(headers[":status"])));
    stream.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
    stream.on("error", reject).on("close", () => {
      // A stream cut off by the server closes without a response, sometimes without an error.
      if (status === 0) reject(new Error(`stream closed with code ${stream.rstCode}`));
      else resolve({ status, body });
    });
  });
}

async function http2Connect(url: string, options: http2.SecureClientSessionOptions = {}): Promise<http2.ClientHttp2Session> {
  const session = http2.connect(url, options);
  cleanups.push(() => session.destroy());
  await once(session, "connect");
  return session;
}

/**
 * A TCP relay in front of `port` that forwards the client's first chunk in three writes
 * (1 byte, 9 bytes, the rest) 30 ms apart, so the listener sees the start of a connection
 * arrive in pieces. Real clients talk through it unchanged otherwise.
 */
async function startSplittingRelay(port: number): Promise<number> {
  const relay = net.createServer((client) => {
    const upstream = net.connect({ port, host: "127.0.0.1", noDelay: true });
    client.once("data", async (first: Buffer) => {
      client.pause();
      for (const piece of [first.subarray(0, 1), first.subarray(1, 10), first.subarray(10)]) {
        upstream.write(piece);
        await sleep(30);
      }
      client.pipe(upstream);
      client.resume();
    });
    upstream.pipe(client);
    for (const socket of [client, upstream]) socket.on("error", () => client.destroy());
    upstream.on("close", () => client.destroy());
  });
  relay.listen(0, "127.0.0.1");
  await once(relay, "listening");
  cleanups.push(() => relay.close());
  return (relay.address() as net.AddressInfo).port;
}

function connectRaw(port: number): Promise<net.Socket> {
  const socket = net.connect({ port, host: "127.0.0.1" });
  cleanups.push(() => socket.destroy());
  return once(socket, "connect").then(() => socket);
}

describe("startListener in cleartext", () => {
  it("serves HTTP/1.1 and h2c prior-knowledge requests on the same port", async () => {
    const listener = await start();
    expect(listener.url).toBe(`http://127.0.0.1:${listener.port}`);
    const session = await http2Connect(listener.url);
    const [overHttp1, overHttp2] = await Promise.all([http1Request(`${listener.url}/one`), http2Request(session, "/two")]);
    expect(overHttp1).toEqual({ status: 200, body: "1.1 GET /one" });
    expect(overHttp2).toEqual({ status: 200, body: "2.0 GET /two" });
  });

  it("accepts the handler connectNodeAdapter() returns", async () => {
    const listener = await start({ handler: connectNodeAdapter({ routes: () => {} }) });
    expect((await http1Request(`${listener.url}/no.Such/Method`)).status).toBe(404);
  });

  it("decides when the first bytes arrive split across TCP segments", async () => {
    const listener = await start();
    const relayUrl = `http://127.0.0.1:${await startSplittingRelay(listener.port)}`;
    // "PUT" shares its first byte with the preface, so the listener must wait for more.
    expect(await http1Request(`${relayUrl}/put`, { method: "PUT" })).toEqual({ status: 200, body: "1.1 PUT /put" });
    const session = await http2Connect(relayUrl);
    expect(await http2Request(session, "/split")).toEqual({ status: 200, body: "2.0 GET /split" });
  });

  it("hands a connection to HTTP/1.1 as soon as a byte differs from the preface", async () => {
    const listener = await start();
    const socket = await connectRaw(listener.port);
    socket.write("PRX");
    const [answer] = (await once(socket, "data")) as [Buffer];
    expect(answer.toString("latin1")).toMatch(/^HTTP\/1\.1 400 /);
  });

  it("survives clients that vanish before saying which protocol they speak", async () => {
    const listener = await start();
    (await connectRaw(listener.port)).destroy();
    (await connectRaw(listener.port)).end("PRI * HTTP/2");
    const reset = await connectRaw(listener.port);
    reset.write("PRI");
    await sleep(20);
    reset.resetAndDestroy();
    await sleep(50);
    expect(await http1Request(`${listener.url}/still-up`)).toEqual({ status: 200, body: "1.1 GET /still-up" });
  });
});

describe("startListener with TLS", () => {
  it("lets ALPN choose between HTTP/2 and HTTP/1.1", async () => {
    const listener = await start({ tls: createSelfSignedCertificate() });
    expect(listener.url).toBe(`https://127.0.0.1:${listener.port}`);
    const session = await http2Connect(listener.url, { rejectUnauthorized: false });
    expect(await http2Request(session, "/h2")).toEqual({ status: 200, body: "2.0 GET /h2" });
    expect(await http1Request(`${listener.url}/h1`, { rejectUnauthorized: false })).toEqual({
      status: 200,
      body: "1.1 GET /h1",
    });
  });
});

describe("Listener.close", () => {
  it("lets in-flight HTTP/1.1 requests finish, then refuses connections", async () => {
    const listener = await start();
    const slow = [http1Request(`${listener.url}/slow`), http1Request(`${listener.url}/slow-body`)];
    await sleep(50);
    const startedAt = Date.now();
    const closed = listener.close({ graceMs: 5_000 });
    expect(listener.close()).toBe(closed);
    expect(await Promise.all(slow)).toEqual([
      { status: 200, body: "1.1 GET /slow" },
      { status: 200, body: "1.1 GET /slow-body" },
    ]);
    await closed;
    expect(Date.now() - startedAt).toBeLessThan(2_000);
    await expect(connectRaw(listener.port)).rejects.toMatchObject({ code: "ECONNREFUSED" });
  });

  it("serves a request whose headers are still arriving, then closes its connection", async () => {
    const listener = await start();
    const socket = await connectRaw(listener.port);
    socket.write("GET /late HTTP/1.1\r\nHost: localhost\r\n");
    await sleep(50);
    const closed = listener.close({ graceMs: 5_000 });
    socket.write("\r\n");
    let answer = "";
    socket.setEncoding("latin1").on("data", (chunk: string) => (answer += chunk));
    await Promise.all([once(socket, "close"), closed]);
    expect(answer).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(answer).toMatch(/\r\nconnection: close\r\n/i);
    expect(answer.endsWith("1.1 GET /late")).toBe(true);
  });

  it("lets an in-flight HTTP/2 stream finish after sending GOAWAY", async () => {
    const listener = await start();
    const session = await http2Connect(listener.url);
    const goaway = once(session, "goaway");
    const slow = http2Request(session, "/slow");
    await sleep(50);
    const startedAt = Date.now();
    const closed = listener.close({ graceMs: 5_000 });
    await goaway;
    expect(await slow).toEqual({ status: 200, body: "2.0 GET /slow" });
    await closed;
    expect(Date.now() - startedAt).toBeLessThan(2_000);
  });

  it("closes idle connections at once instead of waiting out the grace period", async () => {
    const listener = await start();
    await connectRaw(listener.port); // never sends a byte, like a browser's pre-connect
    const session = await http2Connect(listener.url);
    await http2Request(session, "/done");
    const agent = new http.Agent({ keepAlive: true });
    cleanups.push(() => agent.destroy());
    await http1Request(`${listener.url}/done`, { agent }); // leaves an idle keep-alive socket
    const startedAt = Date.now();
    await listener.close({ graceMs: 5_000 });
    expect(Date.now() - startedAt).toBeLessThan(1_000);
  });

  it("closes idle TLS connections at once too", async () => {
    const listener = await start({ tls: createSelfSignedCertificate() });
    const session = await http2Connect(listener.url, { rejectUnauthorized: false });
    await http2Request(session, "/done");
    const agent = new https.Agent({ keepAlive: true, rejectUnauthorized: false });
    cleanups.push(() => agent.destroy());
    await http1Request(`${listener.url}/done`, { agent });
    const handshaken = tls.connect({ port: listener.port, host: "127.0.0.1", rejectUnauthorized: false, ALPNProtocols: ["http/1.1"] });
    cleanups.push(() => handshaken.destroy());
    await once(handshaken, "secureConnect"); // an HTTP/1.1 connection that never sends a request
    const startedAt = Date.now();
    await listener.close({ graceMs: 5_000 });
    expect(Date.now() - startedAt).toBeLessThan(1_000);
  });

  it("destroys connections still busy when the grace period ends", async () => {
    const listener = await start();
    const session = await http2Connect(listener.url);
    const hanging = Promise.allSettled([http2Request(session, "/hang"), http1Request(`${listener.url}/hang`)]);
    await sleep(50);
    const startedAt = Date.now();
    await listener.close({ graceMs: 200 });
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(190);
    expect((await hanging).map((outcome) => outcome.status)).toEqual(["rejected", "rejected"]);
  });
});
