/**
 * Every 401 says how to authenticate (RFC 6750 §3): `WWW-Authenticate: Bearer
 * realm="runline"`, plus `error="invalid_token"` when a key was sent but is unknown or
 * revoked. REST and Connect send it as a header of the 401; gRPC and gRPC-web clients
 * find it in the trailers of the UNAUTHENTICATED status (gRPC-web answers HTTP 200).
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { beforeAll, describe, expect, it } from "vitest";
import { RunsService } from "../../gen/runline/v1/runs_service_pb.js";
import { clientFor, createTenant, protocols, type TenantFixture } from "../support/clients.js";
import { startTestServer } from "../support/test-server.js";

const missing = 'Bearer realm="runline"';
const invalid = 'Bearer realm="runline", error="invalid_token", error_description="unknown or revoked API key"';

let baseUrl: string;
let tenant: TenantFixture;

beforeAll(async () => {
  baseUrl = (await startTestServer()).url;
  tenant = await createTenant(baseUrl);
});

function get(path: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${baseUrl}${path}`, { headers });
}

describe("REST", () => {
  it("a 401 without a key has the bare challenge; with a wrong key, invalid_token", async () => {
    const none = await get("/api/v1/runs");
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toBe(missing);
    const wrong = await get("/api/v1/runs", { authorization: "Bearer rl_not-a-real-key" });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("www-authenticate")).toBe(invalid);
    // Another scheme is no Bearer credential at all: the bare challenge, as for none.
    const basic = await get("/api/v1/runs", { authorization: `Basic ${Buffer.from("a:b").toString("base64")}` });
    expect(basic.headers.get("www-authenticate")).toBe(missing);
  });

  it("a revoked key is invalid_token, and answers that succeed or are refused for scope carry no challenge", async () => {
    const ok = await get("/api/v1/runs", { authorization: `Bearer ${tenant.key}` });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("www-authenticate")).toBeNull();
    const reader = await createTenant(baseUrl, [1]);
    const forbidden = await fetch(`${baseUrl}/api/v1/runs`, {
      method: "POST",
      headers: { authorization: `Bearer ${reader.key}`, "content-type": "application/json" },
      body: "{}",
    });
    expect(forbidden.status).toBe(403);
    expect(forbidden.headers.get("www-authenticate")).toBeNull();
  });
});

describe("Connect over HTTP (raw)", () => {
  it("the 401 has the header, as REST's does", async () => {
    const response = await fetch(`${baseUrl}/runline.v1.RunsService/ListRuns`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer nope-nope-nope" },
      body: "{}",
    });
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toBe(invalid);
  });
});

describe.each(protocols)("%s client", (protocol) => {
  it("reads the challenge in the error's metadata (headers, or trailers for gRPC and gRPC-web)", async () => {
    for (const [key, challenge] of [
      [undefined, missing],
      ["rl_not-a-real-key", invalid],
    ] as const) {
      const error = await clientFor(RunsService, protocol, baseUrl, key)
        .listRuns({})
        .then(
          () => undefined,
          (caught: unknown) => ConnectError.from(caught),
        );
      expect(error?.code).toBe(Code.Unauthenticated);
      expect(error?.metadata.get("www-authenticate")).toBe(challenge);
    }
  });
});

describe("browsers", () => {
  it("may read the challenge: it is among the exposed headers", async () => {
    const origin = "https://app.example";
    const corsUrl = (await startTestServer(undefined, { RUNLINE_CORS_ORIGINS: origin })).url;
    const refused = await fetch(`${corsUrl}/api/v1/runs`, { headers: { origin } });
    expect(refused.status).toBe(401);
    expect(refused.headers.get("access-control-expose-headers")?.toLowerCase().split(/,\s*/)).toContain("www-authenticate");
  });
});
