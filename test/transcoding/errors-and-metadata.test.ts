/**
 * RPC errors as REST callers see them (the gRPC→HTTP table, google.rpc.Status bodies with
 * typed details, Retry-After), and headers crossing between HTTP and call metadata.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { startEchoServer, type EchoServer } from "./echo-server.js";

interface Status {
  code: number;
  message: string;
  details: Array<Record<string, unknown>>;
}

let server: EchoServer;
beforeAll(async () => {
  server = await startEchoServer();
});
afterAll(() => server.close());

function failWith(code: number, text = "boom"): Promise<Response> {
  return fetch(`${server.url}/v1/errors/${code}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ text }),
  });
}

async function echoedHeaders(headers: Record<string, string>): Promise<{ labels: Record<string, string>; response: Response }> {
  const response = await fetch(`${server.url}/v1/headers`, { headers });
  const body = (await response.json()) as { labels: Record<string, string> };
  return { labels: body.labels, response };
}

describe("RPC errors", () => {
  const table: Array<[code: Code, httpStatus: number]> = [
    [Code.Canceled, 499],
    [Code.Unknown, 500],
    [Code.InvalidArgument, 400],
    [Code.DeadlineExceeded, 504],
    [Code.NotFound, 404],
    [Code.AlreadyExists, 409],
    [Code.PermissionDenied, 403],
    [Code.ResourceExhausted, 429],
    [Code.FailedPrecondition, 400],
    [Code.Aborted, 409],
    [Code.OutOfRange, 400],
    [Code.Unimplemented, 501],
    [Code.Internal, 500],
    [Code.Unavailable, 503],
    [Code.DataLoss, 500],
    [Code.Unauthenticated, 401],
  ];
  it.each(table)("code %i answers HTTP %i with the Status body", async (code, httpStatus) => {
    const response = await failWith(code);
    expect(response.status).toBe(httpStatus);
    const status = (await response.json()) as Status;
    expect(status.code).toBe(code);
    expect(status.message).toBe("boom");
  });

  it("details render as Any JSON with @type, error metadata becomes headers, RetryInfo becomes Retry-After", async () => {
    const response = await failWith(Code.NotFound, "gone");
    expect(response.headers.get("retry-after")).toBe("3");
    expect(response.headers.get("x-failure")).toBe("yes");
    expect(await response.json()).toEqual({
      code: Code.NotFound,
      message: "gone",
      details: [
        { "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: "TEST_FAILURE", domain: "test.example", metadata: { id: "" } },
        { "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "2.500s" },
        { "@type": "type.googleapis.com/google.rpc.BadRequest", fieldViolations: [{ field: "text", description: "refused on purpose" }] },
      ],
    });
  });

  it("the transcoder's own 400s carry a BadRequest field violation naming the parameter", async () => {
    const response = await fetch(`${server.url}/v1/echo?int32Value=x`);
    const status = (await response.json()) as Status;
    expect(status.details).toEqual([
      { "@type": "type.googleapis.com/google.rpc.BadRequest", fieldViolations: [{ field: "int32Value", description: status.message }] },
    ]);
  });

  it("a malformed percent-encoding in a path variable is a 400", async () => {
    const response = await fetch(`${server.url}/v1/resources/%E0%A4%A`);
    expect(response.status).toBe(400);
    expect(((await response.json()) as Status).message).toContain("invalid percent-encoding");
  });
});

describe("headers and metadata", () => {
  it("forwards request headers, Authorization included, but not protocol or hop-by-hop ones", async () => {
    const { labels } = await echoedHeaders({
      authorization: "Bearer key-1",
      "x-custom": "v",
      "grpc-timeout": "1S",
      "connect-timeout-ms": "5",
      cookie: "a=b",
      accept: "text/html",
    });
    expect(labels).toMatchObject({ authorization: "Bearer key-1", "x-custom": "v", cookie: "a=b" });
    expect(labels["grpc-timeout"]).toBeUndefined();
    expect(labels["connect-timeout-ms"]).toBeUndefined();
    expect(labels.accept).toBeUndefined();
    expect(labels.host).toBeUndefined();
  });

  it("generates a request id when none is given, passes it to the RPC and echoes it", async () => {
    const { labels, response } = await echoedHeaders({});
    const requestId = response.headers.get("x-request-id");
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(labels["x-request-id"]).toBe(requestId);
  });

  it("replaces a request id that is not printable ASCII", async () => {
    const { response } = await echoedHeaders({ "x-request-id": "a b" });
    expect(response.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("echoes the request id on errors too", async () => {
    const response = await fetch(`${server.url}/v1/nope`, { headers: { "x-request-id": "missing-1" } });
    expect(response.status).toBe(404);
    expect(response.headers.get("x-request-id")).toBe("missing-1");
  });

  it("X-Server-Timeout becomes the call's deadline", async () => {
    const { labels } = await echoedHeaders({ "x-server-timeout": "2.5" });
    expect(labels["connect-timeout-ms"]).toBe("2500");
  });

  it("a malformed X-Server-Timeout is a 400", async () => {
    const response = await fetch(`${server.url}/v1/headers`, { headers: { "x-server-timeout": "soon" } });
    expect(response.status).toBe(400);
  });

  it("RPC paths still reach Connect beside the REST routes", async () => {
    const response = await fetch(`${server.url}/transcodingtest.v1.TranscodingTestService/GetResource`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ id: "via-connect" }),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ id: "via-connect" });
  });
});
