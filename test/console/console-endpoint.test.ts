/**
 * `/console` as HTTP: the page and its assets from the API's own port, with the right
 * content types, caching (page revalidated, hashed assets immutable), a strict
 * Content-Security-Policy, gzip, ETags, and 404/405 where nothing is served.
 */
import { request } from "node:http";
import { gunzipSync } from "node:zlib";
import { beforeAll, describe, expect, it } from "vitest";
import { startTestServer } from "../support/test-server.js";

let baseUrl: string;
let scriptPath: string;
let stylePath: string;

beforeAll(async () => {
  baseUrl = (await startTestServer()).url;
  const page = await (await fetch(`${baseUrl}/console/`)).text();
  scriptPath = /<script type="module" src="([^"]+)"/.exec(page)![1]!;
  stylePath = /<link rel="stylesheet" href="([^"]+)"/.exec(page)![1]!;
});

describe("the console page", () => {
  it("is served at /console and /console/, as HTML that must be revalidated", async () => {
    for (const path of ["/console", "/console/"]) {
      const response = await fetch(`${baseUrl}${path}`);
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toBe("text/html; charset=utf-8");
      expect(response.headers.get("cache-control")).toBe("no-cache");
      expect(await response.text()).toContain("<title>Runline console</title>");
    }
  });

  it("carries a CSP that allows this origin only and nothing inline", async () => {
    const response = await fetch(`${baseUrl}/console`);
    const policy = response.headers.get("content-security-policy") ?? "";
    expect(policy).toContain("default-src 'none'");
    expect(policy).toContain("script-src 'self'");
    expect(policy).toContain("connect-src 'self'");
    expect(policy).toContain("frame-ancestors 'none'");
    expect(policy).not.toContain("unsafe-inline");
    expect(policy).not.toContain("unsafe-eval");
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
  });

  it("names its assets by content hash under /console/assets/", () => {
    expect(scriptPath).toMatch(/^\/console\/assets\/app-[A-Z0-9]{8}\.js$/);
    expect(stylePath).toMatch(/^\/console\/assets\/app-[A-Z0-9]{8}\.css$/);
  });

  it("answers 304 to a revalidation with its ETag", async () => {
    const first = await fetch(`${baseUrl}/console/`);
    const etag = first.headers.get("etag")!;
    expect(etag).toMatch(/^".+"$/);
    const again = await fetch(`${baseUrl}/console/`, { headers: { "if-none-match": etag } });
    expect(again.status).toBe(304);
  });
});

describe("the console's assets", () => {
  it("are JavaScript and CSS with their types, cached for a year as immutable", async () => {
    const script = await fetch(`${baseUrl}${scriptPath}`);
    expect(script.status).toBe(200);
    expect(script.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(script.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect((await script.text()).length).toBeGreaterThan(10_000);
    const style = await fetch(`${baseUrl}${stylePath}`);
    expect(style.headers.get("content-type")).toBe("text/css; charset=utf-8");
    expect(await style.text()).toContain(":focus-visible");
  });

  it("are gzipped for a client that accepts it, with their own ETag", async () => {
    const raw = await fetch(`${baseUrl}${scriptPath}`, { headers: { "accept-encoding": "identity" } });
    const plain = Buffer.from(await raw.arrayBuffer());
    // node's fetch decompresses by itself; a raw request shows what went over the wire.
    const zipped = await new Promise<{ body: Buffer; headers: Record<string, unknown> }>((resolve, reject) => {
      request(`${baseUrl}${scriptPath}`, { headers: { "accept-encoding": "gzip" } }, (response) => {
        const chunks: Buffer[] = [];
        response
          .on("data", (chunk: Buffer) => chunks.push(chunk))
          .on("end", () => resolve({ body: Buffer.concat(chunks), headers: response.headers }));
      })
        .on("error", reject)
        .end();
    });
    expect(zipped.headers["content-encoding"]).toBe("gzip");
    expect(zipped.headers.vary).toBe("accept-encoding");
    expect(zipped.body.length).toBeLessThan(plain.length / 2);
    expect(gunzipSync(zipped.body).equals(plain)).toBe(true);
    expect(zipped.headers.etag).not.toBe(raw.headers.get("etag"));
  });

  it("answer HEAD with the headers and no body", async () => {
    const response = await fetch(`${baseUrl}${scriptPath}`, { method: "HEAD" });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(await response.text()).toBe("");
  });
});

describe("paths the console does not serve", () => {
  it("are 404 for an unknown asset or page under /console/", async () => {
    for (const path of ["/console/assets/app-AAAAAAAA.js", "/console/assets/", "/console/runs", "/console/index.html"]) {
      const response = await fetch(`${baseUrl}${path}`);
      expect(response.status, path).toBe(404);
      expect(response.headers.get("cache-control")).toBe("no-store");
    }
  });

  it("are 405 for a method other than GET or HEAD", async () => {
    const response = await fetch(`${baseUrl}/console/`, { method: "POST", body: "{}" });
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("GET, HEAD");
  });

  it("leave other paths to the API: /consoles is not the console", async () => {
    const response = await fetch(`${baseUrl}/consoles`);
    expect(response.status).toBe(404);
    expect(response.headers.get("content-type")).toBe("application/json");
  });
});
