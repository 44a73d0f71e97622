/**
 * Requests the transport cannot decode are the client's fault: INVALID_ARGUMENT on every
 * protocol, whether connect-es notices before our interceptors run (unary) or in the
 * middle of a stream. Also: deadlines beyond a Node timer are capped, not turned into
 * 1 ms; oversized bodies are answered with a status the client can read.
 */
import http2 from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTenant, type TenantFixture } from "../support/clients.js";
import { within } from "../support/expectations.js";
import { startTestServer } from "../support/test-server.js";

let baseUrl: string;
let tenant: TenantFixture;
let session: http2.ClientHttp2Session;

beforeAll(async () => {
  const server = await startTestServer();
  baseUrl = server.url;
  tenant = await createTenant(baseUrl);
  session = http2.connect(baseUrl);
});
afterAll(() => session.close());

/** One enveloped message (gRPC, gRPC-web and Connect streaming share the framing). */
function envelope(payload: Uint8Array, flags = 0): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt8(flags, 0);
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

// Field 1, wire type 7: no such wire type, so no protobuf reader accepts it.
const undecodable = Uint8Array.from([0x0f, 0x01, 0x02]);
// ListRunsRequest{page_size: 5}: a valid message.
const validListRuns = Uint8Array.from([0x08, 0x05]);

interface RawAnswer {
  readonly status: number;
  readonly headers: http2.IncomingHttpHeaders;
  readonly trailers: http2.IncomingHttpHeaders;
  readonly body: Buffer;
}

/** A raw HTTP/2 request on the shared session. */
function h2Request(path: string, headers: Record<string, string>, body: Buffer): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ":method": "POST", ":path": path, authorization: `Bearer ${tenant.key}`, ...headers });
    const chunks: Buffer[] = [];
    let status = 0;
    let responseHeaders: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    stream.on("response", (received) => {
      responseHeaders = received;
      status = Number(received[":status"]);
    });
    stream.on("trailers", (received) => (trailers = received));
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("end", () => resolve({ status, headers: responseHeaders, trailers, body: Buffer.concat(chunks) }));
    stream.on("error", reject);
    stream.end(body);
  });
}

/** grpc-status from the trailers, or from the headers of a trailers-only answer. */
function grpcStatus(answer: RawAnswer): string | undefined {
  return (answer.trailers["grpc-status"] ?? answer.headers["grpc-status"]) as string | undefined;
}

const grpcHeaders = { "content-type": "application/grpc", te: "trailers" };

describe("undecodable messages are INVALID_ARGUMENT", () => {
  it("gRPC unary (parsed before any interceptor runs)", async () => {
    const answer = await h2Request("/runline.v1.RunsService/ListRuns", grpcHeaders, envelope(undecodable));
    expect(grpcStatus(answer)).toBe("3");
  });

  it("gRPC server stream (parsed inside the interceptors)", async () => {
    const answer = await h2Request("/runline.v1.RunsService/StreamRunEvents", grpcHeaders, envelope(undecodable));
    expect(grpcStatus(answer)).toBe("3");
  });

  it("gRPC-web unary: the status is in the trailer frame of the body", async () => {
    const answer = await h2Request(
      "/runline.v1.RunsService/ListRuns",
      { "content-type": "application/grpc-web+proto" },
      envelope(undecodable),
    );
    expect(answer.body.subarray(5).toString("latin1")).toMatch(/grpc-status: ?3\r\n/);
  });

  it("Connect binary unary (POST) is 400 invalid_argument", async () => {
    const answer = await h2Request("/runline.v1.RunsService/ListRuns", { "content-type": "application/proto" }, Buffer.from(undecodable));
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body.toString("utf8"))).toMatchObject({ code: "invalid_argument" });
  });

  it("a message flagged compressed without grpc-encoding is INVALID_ARGUMENT, a valid one is served", async () => {
    const compressed = await h2Request("/runline.v1.RunsService/ListRuns", grpcHeaders, envelope(validListRuns, 1));
    expect(grpcStatus(compressed)).toBe("3");
    const plain = await h2Request("/runline.v1.RunsService/ListRuns", grpcHeaders, envelope(validListRuns));
    expect(grpcStatus(plain)).toBe("0");
  });

  it("a Connect GET whose base64 message is not base64 is 400 invalid_argument", async () => {
    const response = await fetch(`${baseUrl}/runline.v1.RunsService/ListRuns?connect=v1&encoding=proto&base64=1&message=!!!`, {
      headers: { authorization: `Bearer ${tenant.key}` },
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ code: "invalid_argument" });
    const good = await fetch(
      `${baseUrl}/runline.v1.RunsService/ListRuns?connect=v1&encoding=proto&base64=1&message=${Buffer.from(validListRuns).toString("base64url")}`,
      { headers: { authorization: `Bearer ${tenant.key}` } },
    );
    expect(good.status).toBe(200);
  });
});

describe("deadlines", () => {
  it("grpc-timeout 99999999H is served as a long deadline: no TimeoutOverflowWarning, no 1 ms expiry", async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.name);
    process.on("warning", onWarning);
    try {
      const answer = await h2Request(
        "/runline.v1.RunsService/ListRuns",
        { ...grpcHeaders, "grpc-timeout": "99999999H" },
        envelope(validListRuns),
      );
      expect(grpcStatus(answer)).toBe("0");
      const connect = await h2Request(
        "/runline.v1.RunsService/ListRuns",
        { "content-type": "application/proto", "connect-timeout-ms": "9999999999" },
        Buffer.from(validListRuns),
      );
      expect(connect.status).toBe(200);
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off("warning", onWarning);
    }
    expect(warnings).not.toContain("TimeoutOverflowWarning");
  });

  it("X-Server-Timeout of 99999999999 s on REST is a long deadline, not a TimeoutOverflowWarning", async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.name);
    process.on("warning", onWarning);
    try {
      const response = await fetch(`${baseUrl}/api/v1/runs?pageSize=1`, {
        headers: { authorization: `Bearer ${tenant.key}`, "x-server-timeout": "99999999999" },
      });
      expect(response.status).toBe(200);
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off("warning", onWarning);
    }
    expect(warnings).not.toContain("TimeoutOverflowWarning");
  });

  // Found by the hostile-input suite: the deadline aborted the call first, and the
  // decoding failure that followed went out as INTERNAL.
  it.each(["0n", "1n", "1m"])("grpc-timeout %s with an undecodable message is DEADLINE_EXCEEDED, not INTERNAL", async (timeout) => {
    const answer = await h2Request("/runline.v1.RunsService/ListRuns", { ...grpcHeaders, "grpc-timeout": timeout }, envelope(undecodable));
    expect(grpcStatus(answer)).toBe("4");
  });

  it("connect-timeout-ms 0 with an undecodable message is 504 deadline_exceeded, not 500", async () => {
    const answer = await h2Request(
      "/runline.v1.RunsService/ListRuns",
      { "content-type": "application/proto", "connect-timeout-ms": "0" },
      Buffer.from(undecodable),
    );
    expect(answer.status).toBe(504);
  });
});

describe("oversized bodies get an answer the client can read", () => {
  // Found by the hostile-input suite: the answer (RESOURCE_EXHAUSTED) and its trailers came
  // at once, but the stream never closed: the server had stopped reading, and the client
  // waited for flow-control window to send the rest of its body.
  it("HTTP/2: a gRPC length prefix of 2 GB with 1 MB of body sent is RESOURCE_EXHAUSTED, and the stream closes", async () => {
    const body = Buffer.concat([Buffer.from([0, 0x80, 0x80, 0x40, 0x61]), Buffer.alloc(1024 * 1024, 0x61)]);
    const stream = session.request({
      ":method": "POST",
      ":path": "/runline.v1.RunsService/GetRun",
      ...grpcHeaders,
      authorization: `Bearer ${tenant.key}`,
    });
    let trailers: http2.IncomingHttpHeaders = {};
    stream.on("trailers", (received) => (trailers = received));
    stream.on("error", () => undefined);
    stream.resume();
    const closed = new Promise<void>((resolve) => stream.once("close", () => resolve()));
    stream.end(body);
    await within(5000, "the stream's close", closed);
    expect(trailers["grpc-status"]).toBe("8");
  });

  const body = Buffer.alloc(20 * 1024 * 1024, 0x61);
  it.each([
    ["REST", 413, "/api/v1/runs", "application/json"],
    ["Connect", 429, "/runline.v1.RunsService/CreateRun", "application/json"],
  ] as const)("a 20 MB POST to %s over HTTP/1.1 is answered %i, five times in a row", async (_name, expected, path, contentType) => {
    for (let attempt = 0; attempt < 5; attempt++) {
      const response = await fetch(`${baseUrl}${path}`, {
        method: "POST",
        headers: { authorization: `Bearer ${tenant.key}`, "content-type": contentType },
        body,
      });
      expect(response.status).toBe(expected);
      await response.arrayBuffer();
    }
  });

  // Refusals decided before the body is read: the unread rest must not turn the answer into a reset.
  it.each([
    ["a 2 MB REST body of the wrong content type", 415, "/api/v1/runs", "text/plain", 2],
    ["a 20 MB POST to an unknown REST path", 404, "/api/v1/nothing-here", "application/json", 20],
  ] as const)("%s over HTTP/1.1 is answered %i, five times in a row", async (_name, expected, path, contentType, megabytes) => {
    const sized = Buffer.alloc(megabytes * 1024 * 1024, 0x61);
    for (let attempt = 0; attempt < 5; attempt++) {
      const response = await fetch(`${baseUrl}${path}`, {
        method: "POST",
        headers: { authorization: `Bearer ${tenant.key}`, "content-type": contentType },
        body: sized,
      });
      expect(response.status).toBe(expected);
      await response.arrayBuffer();
    }
  });

  it("a 20 MB chunked REST body (no Content-Length) is answered 413, five times in a row", async () => {
    for (let attempt = 0; attempt < 5; attempt++) {
      const chunks = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let megabyte = 0; megabyte < 20; megabyte++) controller.enqueue(new Uint8Array(1024 * 1024).fill(0x61));
          controller.close();
        },
      });
      const init = {
        method: "POST",
        headers: { authorization: `Bearer ${tenant.key}`, "content-type": "application/json" },
        body: chunks,
        duplex: "half",
      };
      const response = await fetch(`${baseUrl}/api/v1/runs`, init as RequestInit);
      expect(response.status).toBe(413);
      await response.arrayBuffer();
    }
  });
});
