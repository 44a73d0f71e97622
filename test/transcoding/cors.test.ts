/**
 * CORS in front of every protocol: preflights for REST and RPC paths, exposed headers on
 * REST, Connect and gRPC-web responses, refused and absent origins, the "*" setting.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-node";
import { TranscodingTestService } from "../../gen/transcodingtest/v1/test_service_pb.js";
import { withCors } from "../../src/http/transcoding/index.js";
import { startEchoServer, type EchoServer } from "./echo-server.js";

const appOrigin = "https://app.example";

let server: EchoServer;
let openServer: EchoServer;
beforeAll(async () => {
  server = await startEchoServer({}, { allowedOrigins: [appOrigin], allowedMethods: ["REPORT"] });
  openServer = await startEchoServer({}, { allowedOrigins: "*" });
});
afterAll(async () => {
  await server.close();
  await openServer.close();
});

function preflight(base: string, path: string, origin: string, method = "POST"): Promise<Response> {
  return fetch(`${base}${path}`, {
    method: "OPTIONS",
    headers: { origin, "access-control-request-method": method, "access-control-request-headers": "content-type, authorization" },
  });
}

function csv(value: string | null): string[] {
  return (value ?? "").split(",").map((item) => item.trim().toLowerCase());
}

describe("preflight", () => {
  it("is answered for a REST path from an allowed origin", async () => {
    const response = await preflight(server.url, "/v1/resources/r1/nested", appOrigin, "PATCH");
    expect(response.status).toBe(204);
    expect(response.headers.get("access-control-allow-origin")).toBe(appOrigin);
    expect(csv(response.headers.get("access-control-allow-methods"))).toEqual(
      expect.arrayContaining(["get", "post", "put", "patch", "delete", "report"]),
    );
    expect(csv(response.headers.get("access-control-allow-headers"))).toEqual(
      expect.arrayContaining([
        "content-type",
        "authorization",
        "connect-protocol-version",
        "x-grpc-web",
        "idempotency-key",
        "if-none-match",
        "last-event-id",
        "x-request-id",
      ]),
    );
    expect(response.headers.get("access-control-max-age")).toBe("7200");
    expect(csv(response.headers.get("vary"))).toContain("origin");
  });

  it("is answered for an RPC path too", async () => {
    const response = await preflight(server.url, "/transcodingtest.v1.TranscodingTestService/GetResource", appOrigin);
    expect(response.status).toBe(204);
    expect(response.headers.get("access-control-allow-origin")).toBe(appOrigin);
  });

  it("from an origin that is not allowed is a 403 without CORS headers", async () => {
    const response = await preflight(server.url, "/v1/resources", "https://evil.example");
    expect(response.status).toBe(403);
    expect(response.headers.get("access-control-allow-origin")).toBeNull();
    expect(response.headers.get("access-control-allow-methods")).toBeNull();
  });

  it("is not assumed for OPTIONS without Access-Control-Request-Method", async () => {
    const response = await fetch(`${server.url}/v1/resources`, { method: "OPTIONS", headers: { origin: appOrigin } });
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("POST");
  });
});

describe("actual requests", () => {
  const exposedForBrowsers = [
    "grpc-status",
    "grpc-message",
    "grpc-status-details-bin",
    "etag",
    "x-request-id",
    "idempotent-replayed",
    "retry-after",
  ];

  it("REST responses name the origin and expose the headers browsers need", async () => {
    const response = await fetch(`${server.url}/v1/resources/r1`, { headers: { origin: appOrigin } });
    expect(response.status).toBe(200);
    expect(response.headers.get("access-control-allow-origin")).toBe(appOrigin);
    expect(csv(response.headers.get("access-control-expose-headers"))).toEqual(expect.arrayContaining(exposedForBrowsers));
  });

  it("REST errors carry CORS headers too, so browsers can read them", async () => {
    const response = await fetch(`${server.url}/v1/nope`, { headers: { origin: appOrigin } });
    expect(response.status).toBe(404);
    expect(response.headers.get("access-control-allow-origin")).toBe(appOrigin);
  });

  it("Connect responses get them", async () => {
    const response = await fetch(`${server.url}/transcodingtest.v1.TranscodingTestService/GetResource`, {
      method: "POST",
      headers: { origin: appOrigin, "content-type": "application/json" },
      body: "{}",
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("access-control-allow-origin")).toBe(appOrigin);
    expect(csv(response.headers.get("access-control-expose-headers"))).toEqual(expect.arrayContaining(exposedForBrowsers));
  });

  it("gRPC-web responses get them", async () => {
    const client = createClient(TranscodingTestService, createGrpcWebTransport({ baseUrl: server.url, httpVersion: "1.1" }));
    let headers = new Headers();
    const reply = await client.getResource({ id: "web" }, { headers: { origin: appOrigin }, onHeader: (received) => (headers = received) });
    expect(reply.id).toBe("web");
    expect(headers.get("access-control-allow-origin")).toBe(appOrigin);
    expect(csv(headers.get("access-control-expose-headers"))).toEqual(expect.arrayContaining(exposedForBrowsers));
  });

  it("from an origin that is not allowed are served without CORS headers", async () => {
    const response = await fetch(`${server.url}/v1/resources/r1`, { headers: { origin: "https://evil.example" } });
    expect(response.status).toBe(200);
    expect(response.headers.get("access-control-allow-origin")).toBeNull();
    expect(response.headers.get("access-control-expose-headers")).toBeNull();
  });

  it("without Origin get no CORS headers", async () => {
    const response = await fetch(`${server.url}/v1/resources/r1`);
    expect(response.headers.get("access-control-allow-origin")).toBeNull();
  });

  it('with allowedOrigins "*" any origin gets "*"', async () => {
    const response = await fetch(`${openServer.url}/v1/resources/r1`, { headers: { origin: "https://anyone.example" } });
    expect(response.headers.get("access-control-allow-origin")).toBe("*");
    expect((await preflight(openServer.url, "/v1/resources", "https://anyone.example")).status).toBe(204);
  });
});

describe("credentials", () => {
  it('are never allowed with allowedOrigins "*": withCors refuses the combination', () => {
    expect(() => withCors({ allowedOrigins: "*", allowCredentials: true }, () => undefined)).toThrow(/named origins, never "\*"/);
    expect(() => withCors({ allowedOrigins: [appOrigin], allowCredentials: true }, () => undefined)).not.toThrow();
  });
});
