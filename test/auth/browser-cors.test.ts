/**
 * What a page on another origin needs from Runline's CORS (RUNLINE_CORS_ORIGINS): a
 * preflight that allows Authorization and the gRPC-web and Connect headers, cached for
 * two hours; responses whose gRPC status, request id and Bearer challenge it may read;
 * and `Access-Control-Allow-Credentials` only when RUNLINE_CORS_CREDENTIALS says so,
 * never for every origin.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { Scope } from "../../gen/runline/v1/admin_service_pb.js";
import { ConfigError, loadConfig } from "../../src/config.js";
import { mintToken } from "../support/access-tokens.js";
import { createTenant, type TenantFixture } from "../support/clients.js";
import { startTestServer } from "../support/test-server.js";

const page = "https://app.example";

let plain: string;
let withCredentials: string;
let tenant: TenantFixture;

beforeAll(async () => {
  const first = await startTestServer(undefined, { RUNLINE_CORS_ORIGINS: page });
  plain = first.url;
  withCredentials = (await startTestServer(first.databaseUrl, { RUNLINE_CORS_ORIGINS: page, RUNLINE_CORS_CREDENTIALS: "1" })).url;
  tenant = await createTenant(plain);
});

const list = (value: string | null) => (value ?? "").split(",").map((item) => item.trim().toLowerCase());

/** The preflight Chromium sends before a gRPC-web call made by @connectrpc/connect-web with a bearer token. */
function grpcWebPreflight(baseUrl: string, origin = page): Promise<Response> {
  return fetch(`${baseUrl}/runline.v1.RunsService/GetRun`, {
    method: "OPTIONS",
    headers: {
      origin,
      "access-control-request-method": "POST",
      "access-control-request-headers": "authorization,content-type,x-grpc-web,x-user-agent,grpc-timeout",
    },
  });
}

describe("a page on an allowed origin", () => {
  it("gets a preflight allowing Authorization and the gRPC-web headers, cached for 2 h, without credentials", async () => {
    const response = await grpcWebPreflight(plain);
    expect(response.status).toBe(204);
    expect(response.headers.get("access-control-allow-origin")).toBe(page);
    expect(list(response.headers.get("access-control-allow-headers"))).toEqual(
      expect.arrayContaining(["authorization", "content-type", "x-grpc-web", "x-user-agent", "grpc-timeout", "last-event-id"]),
    );
    expect(list(response.headers.get("access-control-allow-methods"))).toEqual(expect.arrayContaining(["get", "post", "delete"]));
    expect(response.headers.get("access-control-max-age")).toBe("7200");
    expect(response.headers.get("access-control-allow-credentials")).toBeNull();
  });

  it("may read the gRPC status, request id and Bearer challenge of the answers", async () => {
    const { token } = await mintToken(plain, tenant.key, { scopes: [Scope.READ] });
    // A gRPC-web call as connect-web frames it: an empty GetRunRequest (runId "" is INVALID_ARGUMENT, in trailers).
    const call = await fetch(`${plain}/runline.v1.RunsService/GetRun`, {
      method: "POST",
      headers: { origin: page, authorization: `Bearer ${token}`, "content-type": "application/grpc-web+proto", "x-grpc-web": "1" },
      body: new Uint8Array([0, 0, 0, 0, 0]),
    });
    expect(call.status).toBe(200);
    expect(call.headers.get("access-control-allow-origin")).toBe(page);
    expect(list(call.headers.get("access-control-expose-headers"))).toEqual(
      expect.arrayContaining(["grpc-status", "grpc-message", "grpc-status-details-bin", "x-request-id"]),
    );
    const refused = await fetch(`${plain}/api/v1/runs`, { headers: { origin: page, authorization: "Bearer eyJ.e30.x" } });
    expect(refused.status).toBe(401);
    expect(list(refused.headers.get("access-control-expose-headers"))).toContain("www-authenticate");
  });

  it("is refused a preflight from any other origin", async () => {
    const response = await grpcWebPreflight(plain, "https://elsewhere.example");
    expect(response.status).toBe(403);
    expect(response.headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("RUNLINE_CORS_CREDENTIALS", () => {
  it("adds Access-Control-Allow-Credentials for the named origins, on preflights and answers", async () => {
    const preflight = await grpcWebPreflight(withCredentials);
    expect(preflight.headers.get("access-control-allow-credentials")).toBe("true");
    expect(preflight.headers.get("access-control-allow-origin")).toBe(page);
    const answer = await fetch(`${withCredentials}/api/v1/runs`, { headers: { origin: page, authorization: `Bearer ${tenant.key}` } });
    expect(answer.status).toBe(200);
    expect(answer.headers.get("access-control-allow-credentials")).toBe("true");
    expect(answer.headers.get("vary")).toContain("Origin");
    const stranger = await fetch(`${withCredentials}/api/v1/runs`, { headers: { origin: "https://elsewhere.example" } });
    expect(stranger.headers.get("access-control-allow-credentials")).toBeNull();
  });

  it("is refused at start-up with every origin (*) or none named", () => {
    const refuse = (origins: Record<string, string>) => () => loadConfig({ RUNLINE_CORS_CREDENTIALS: "1", ...origins });
    expect(refuse({ RUNLINE_CORS_ORIGINS: "*" })).toThrow(ConfigError);
    expect(refuse({ RUNLINE_CORS_ORIGINS: "*" })).toThrow(/^RUNLINE_CORS_CREDENTIALS: needs RUNLINE_CORS_ORIGINS to name the origins/);
    expect(refuse({})).toThrow(ConfigError);
    expect(loadConfig({ RUNLINE_CORS_CREDENTIALS: "1", RUNLINE_CORS_ORIGINS: page }).corsCredentials).toBe(true);
  });
});
