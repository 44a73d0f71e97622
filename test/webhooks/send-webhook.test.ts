/**
 * One webhook attempt against real receivers on loopback (allowed by the allow-list, as
 * a private deployment would): any status is an answer and a redirect is not followed;
 * a slow, stalled, dropped or absent receiver is a failure within the timeout; only the
 * first 1 KiB of the answer is read, whatever its size.
 */
import { once } from "node:events";
import http from "node:http";
import type { AddressInfo, LookupFunction } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keptResponseBytes, sendWebhook } from "../../src/webhooks/send-webhook.js";
import { parseAllowList } from "../../src/webhooks/target-policy.js";
import { startWebhookReceiver, type WebhookReceiver } from "../support/webhook-receiver.js";

const policy = parseAllowList("127.0.0.1/32");
const body = JSON.stringify({ type: "run.succeeded", timestamp: "2025-01-01T00:00:00Z", data: { run: { id: "r1" } } });
const headers = { "content-type": "application/json", "webhook-id": "msg_0123", "webhook-timestamp": "1735689600" };
const send = (url: string, timeoutMs = 5_000, lookup?: LookupFunction) =>
  sendWebhook({ url, headers, body }, { policy, timeoutMs, ...(lookup === undefined ? {} : { lookup }) });

/** A plain HTTP server on 127.0.0.1 with its own handler, for answers the shared receiver does not script. */
async function startServer(handler: http.RequestListener) {
  const server = http.createServer(handler);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    url: (path = "/") => `http://127.0.0.1:${port}${path}`,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

describe("sendWebhook answers", () => {
  let receiver: WebhookReceiver;
  beforeAll(async () => {
    receiver = await startWebhookReceiver({
      script: ({ path }) => {
        if (path === "/ok") return { status: 200, body: "thanks" };
        if (path === "/broken") return { status: 500, body: "database down" };
        if (path === "/slow") return { status: 200, delayMs: 3_000 };
        if (path === "/drop") return { destroy: true };
        return undefined;
      },
    });
  });
  afterAll(() => receiver.close());

  it("POSTs the body with the given headers, and reports the status, the body and the time taken", async () => {
    const result = await send(receiver.url("/ok"));
    expect(result).toMatchObject({ kind: "answered", status: 200, body: "thanks" });
    expect(result.durationMs).toBeGreaterThanOrEqual(0);
    expect(receiver.received().at(-1)).toMatchObject({
      method: "POST",
      path: "/ok",
      body,
      headers: { ...headers, "content-length": String(Buffer.byteLength(body)), host: `127.0.0.1:${receiver.port}` },
    });
  });

  it("reports a 500 as an answer, with its body", async () => {
    expect(await send(receiver.url("/broken"))).toMatchObject({ kind: "answered", status: 500, body: "database down" });
  });

  it("fails a receiver slower than the timeout, after the timeout and not after its answer", async () => {
    const result = await send(receiver.url("/slow"), 300);
    expect(result).toMatchObject({ kind: "failed", reason: "timed out after 300 ms" });
    expect(result.durationMs).toBeGreaterThanOrEqual(290);
    expect(result.durationMs).toBeLessThan(2_500);
  });

  it("fails when the receiver drops the connection", async () => {
    const result = await send(receiver.url("/drop"));
    expect(result.kind).toBe("failed");
    expect(result.kind === "failed" && result.reason).toMatch(/ECONNRESET|socket hang up/);
  });

  it("fails when nothing listens", async () => {
    const down = await startWebhookReceiver({ listening: false });
    const result = await send(down.url());
    expect(result.kind === "failed" && result.reason).toContain("ECONNREFUSED");
  });

  it("never throws: a header Node cannot send is a failure", async () => {
    const result = await sendWebhook({ url: receiver.url("/ok"), headers: { "x-bad": "line\nbreak" }, body }, { policy, timeoutMs: 1_000 });
    expect(result.kind === "failed" && result.reason).toContain("ERR_INVALID_CHAR");
  });

  it("fails when the name does not resolve", async () => {
    const lookup: LookupFunction = (hostname, _options, callback) =>
      callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND" }), "");
    const result = await sendWebhook({ url: "https://missing.example.test/", headers, body }, { policy, timeoutMs: 1_000, lookup });
    expect(result).toMatchObject({
      kind: "failed",
      reason: "cannot resolve missing.example.test: getaddrinfo ENOTFOUND missing.example.test",
    });
  });
});

describe("sendWebhook does not follow redirects", () => {
  it("reports a 302 as the answer, and the redirect's target sees nothing", async () => {
    const target = await startWebhookReceiver();
    const redirecting = await startServer((_request, response) =>
      response.writeHead(302, { location: target.url("/elsewhere") }).end("moved"),
    );
    try {
      expect(await send(redirecting.url("/hook"))).toMatchObject({ kind: "answered", status: 302, body: "moved" });
      // Give a follower every chance to show itself before looking.
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(target.received()).toEqual([]);
    } finally {
      redirecting.close();
      await target.close();
    }
  });
});

describe("sendWebhook reads only the first 1 KiB of the answer", () => {
  it("keeps 1 KiB of a 10 MB body and stops reading: the receiver cannot write it all", async () => {
    const size = 10 * 1024 * 1024;
    let finished: boolean | undefined;
    const server = await startServer((request, response) => {
      request.resume();
      response.on("close", () => (finished = response.writableFinished));
      response.writeHead(200, { "content-length": String(size) }).end(Buffer.alloc(size, "x"));
    });
    try {
      const result = await send(server.url());
      expect(result).toMatchObject({ kind: "answered", status: 200, body: "x".repeat(keptResponseBytes) });
      await expect.poll(() => finished).toBe(false);
    } finally {
      server.close();
    }
  });

  it("answers with 1 KiB of a body that never ends, well before the timeout", async () => {
    const server = await startServer((request, response) => {
      request.resume();
      response.writeHead(200);
      const chunk = Buffer.alloc(4096, "y");
      const pump = () => {
        while (!response.destroyed && response.write(chunk));
        if (!response.destroyed) response.once("drain", pump);
      };
      pump();
    });
    try {
      const result = await send(server.url(), 5_000);
      expect(result).toMatchObject({ kind: "answered", status: 200, body: "y".repeat(keptResponseBytes) });
      expect(result.durationMs).toBeLessThan(4_000);
    } finally {
      server.close();
    }
  });

  it("drops a character cut at 1 KiB instead of garbling it, and replaces NUL", async () => {
    const server = await startServer((request, response) => {
      request.resume();
      response.writeHead(400).end(`\u0000${"é".repeat(600)}`);
    });
    try {
      const result = await send(server.url());
      // 1 byte of NUL + 511 two-byte characters = 1023 bytes; the 512th is cut in half.
      expect(result).toMatchObject({ kind: "answered", status: 400, body: `\uFFFD${"é".repeat(511)}` });
    } finally {
      server.close();
    }
  });

  it("fails an answer whose body stalls past the timeout: the timeout covers the whole answer", async () => {
    const server = await startServer((request, response) => {
      request.resume();
      response.writeHead(200, { "content-length": "100" });
      response.write("partial");
    });
    try {
      expect(await send(server.url(), 300)).toMatchObject({ kind: "failed", reason: "timed out after 300 ms" });
    } finally {
      server.close();
    }
  });
});
