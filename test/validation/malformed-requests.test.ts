/**
 * Requests the transport cannot decode are the client's fault: INVALID_ARGUMENT on every
 * protocol, whether connect-es notices before our interceptors run (unary) or in the
 * middle of a stream. Also: deadlines beyond a Node timer are capped, not turned into
 * 1 ms; oversized bodies are answered with a status the client can read.
 */
import http2 from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTenant, type TenantFixture } from "../support/clients.js";
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
    const answer = await h2Request("/runline.v1.RunsService/ListRuns", { "content-type": "application/grpc-web+proto" }, envelope(undecodable));
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
    const response = await fetch(`${baseUrl}/runline.v1.RunsService/ListRuns?connect=v1&encoding=proto&base64=1&message=!!!`, { headers: { authorization: `Bearer ${tenant.key}` } });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ code: "invalid_argument" });
    const good = await fetch(`${baseUrl}/runline.v1.RunsService/ListRuns?connect=v1&encoding=proto&base64=1&message=${Buffer.from(validListRuns).toString("base64url")}`, { headers: { authorization: `Bearer ${tenant.key}` } });
    expect(good.status).toBe(200);
  });
});

describe("deadlines", () => {
  it("grpc-timeout 99999999H is served as a long deadline: no TimeoutOverflowWarning, no 1 ms expiry", async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.name);
    process.on("warning", onWarning);
    try {
      const answer = await h2Request("/runline.v1.RunsService/ListRuns", { ...grpcHeaders, "grpc-timeout": "99999999H" }, envelope(validListRuns));
      expect(grpcStatus(answer)).toBe("0");
      const connect = await h2Request("/runline.v1.RunsService/ListRuns", { "content-type": "application/proto", "connect-timeout-ms": "9999999999" }, Buffer.from(validListRuns));
      expect(connect.status).toBe(200);
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off("warning", onWarning);
    }
    expect(warnings).not.toContain("TimeoutOverflowWarning");
  });
});

describe("oversized bodies get an answer the client can read", () => {
  const body = Buffer.alloc(20 * 1024 * 1024, 0x61);
  it.each([
    ["REST", "/api/v1/runs", "application/json", 413],
    ["Connect", "/runline.v1.RunsService/CreateRun", "application/json", 429],
  ])("a 20 MB POST to %s over HTTP/1.1 is answered %s, five times in a row", async (_name, path, contentType, expected) => {
    for (let attempt = 0; attempt < 5; attempt++) {
      const response = await fetch(`${baseUrl}${path}`, { method: "POST", headers: { authorization: `Bearer ${tenant.key}`, "content-type": contentType }, body });
      expect(response.status).toBe(expected);
      await response.arrayBuffer();
    }
  });
});
