/**
 * `GET /openapi.json` as the server will wire it: the generated document imported as a
 * JSON module, answered by openApiEndpoint inside the fallback chain, to any caller
 * (no key needed), GET and HEAD only.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import document from "../../gen/openapi/runline.openapi.json" with { type: "json" };
import { chainEndpoints } from "../../src/http/handler-chain.js";
import { openApiEndpoint } from "../../src/openapi/openapi-endpoint.js";

let server: Server;
let baseUrl: string;

beforeAll(async () => {
  server = createServer(chainEndpoints([openApiEndpoint(document)]));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve, reject) => server.close((error) => (error === undefined ? resolve() : reject(error))));
});

describe("GET /openapi.json", () => {
  it("answers the document as JSON to anyone, from any origin", async () => {
    const response = await fetch(`${baseUrl}/openapi.json?v=1`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/json");
    expect(response.headers.get("access-control-allow-origin")).toBe("*");
    expect(await response.json()).toEqual(document);
  });

  it("answers HEAD without a body", async () => {
    const response = await fetch(`${baseUrl}/openapi.json`, { method: "HEAD" });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("");
  });

  it("leaves other methods and paths to the rest of the chain", async () => {
    expect((await fetch(`${baseUrl}/openapi.json`, { method: "POST" })).status).toBe(404);
    expect((await fetch(`${baseUrl}/openapi.yaml`)).status).toBe(404);
  });
});
