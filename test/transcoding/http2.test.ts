/**
 * REST over HTTP/2 (h2c with prior knowledge, as the one-port listener serves it): the
 * handler writes on Node's HTTP/2 compatibility response, which refuses connection-level
 * headers, so JSON, errors, 413 and streams are checked there too.
 */
import * as http2 from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { startEchoServer, type EchoServer } from "./echo-server.js";

interface Reply {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: string;
}

let server: EchoServer;
let session: http2.ClientHttp2Session;
beforeAll(async () => {
  server = await startEchoServer({ maxBodyBytes: 64 });
  session = http2.connect(server.url);
});
afterAll(async () => {
  session.close();
  await server.close();
});

function request(headers: http2.OutgoingHttpHeaders, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers);
    let responseHeaders: http2.IncomingHttpHeaders = {};
    let text = "";
    stream.on("response", (received) => (responseHeaders = received));
    stream.setEncoding("utf8").on("data", (chunk: string) => (text += chunk));
    stream.on("end", () => resolve({ status: Number(responseHeaders[":status"]), headers: responseHeaders, body: text }));
    stream.on("error", reject);
    stream.end(body);
  });
}

describe("over HTTP/2", () => {
  it("answers a unary call with JSON", async () => {
    const reply = await request({ ":method": "GET", ":path": "/v1/resources/h2?text=t" });
    expect(reply.status).toBe(200);
    expect(reply.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(reply.body)).toEqual({ id: "h2", text: "t" });
  });

  it("answers a 405 with Allow", async () => {
    const reply = await request({ ":method": "PUT", ":path": "/v1/resources/h2" });
    expect(reply.status).toBe(405);
    expect(reply.headers.allow).toBe("DELETE, GET");
  });

  it("answers a 413 without HTTP/1.1's Connection header", async () => {
    const reply = await request(
      { ":method": "POST", ":path": "/v1/resources", "content-type": "application/json" },
      JSON.stringify({ text: "z".repeat(100) }),
    );
    expect(reply.status).toBe(413);
    expect((JSON.parse(reply.body) as { code: number }).code).toBe(Code.ResourceExhausted);
  });

  it("streams Server-Sent Events", async () => {
    const reply = await request({ ":method": "GET", ":path": "/v1/resources/h2/events:stream?int32Value=2" });
    expect(reply.headers["content-type"]).toBe("text/event-stream");
    expect(reply.body).toBe(
      'id: 1\ndata: {"id":"h2","int64Value":"1"}\n\nid: 2\ndata: {"id":"h2","int64Value":"2"}\n\nevent: complete\ndata: {}\n\n',
    );
  });
});
