/**
 * Attempts share keep-alive connections (webhooks/target-agents.ts), and sharing never
 * weakens the SSRF guard: a pooled socket serves only a target whose host resolves to the
 * same checked addresses, and a DNS answer that changes meets the guard again before any
 * socket is chosen. Real HTTP servers on loopback; DNS played by an injected resolver.
 */
import { once } from "node:events";
import http from "node:http";
import type { AddressInfo, LookupFunction } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { sendWebhook } from "../../src/webhooks/send-webhook.js";
import { createTargetAgents, type TargetAgents } from "../../src/webhooks/target-agents.js";
import { parseAllowList } from "../../src/webhooks/target-policy.js";

const body = JSON.stringify({ type: "run.succeeded", data: {} });
const headers = { "content-type": "application/json", "webhook-id": "msg_1" };

/** A server on 127.0.0.1 that counts the connections it accepted and answers 200 (or what `answer` writes). */
async function countingServer(options: { keepAliveTimeout?: number; answer?: (response: http.ServerResponse) => void } = {}) {
  let connections = 0;
  let requests = 0;
  const server = http.createServer((request, response) => {
    requests += 1;
    request.resume();
    request.on("end", () => (options.answer ?? ((answer) => answer.end("ok")))(response));
  });
  if (options.keepAliveTimeout !== undefined) server.keepAliveTimeout = options.keepAliveTimeout;
  server.on("connection", () => (connections += 1));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    port,
    counts: () => ({ connections, requests }),
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

/** A resolver whose answer the test changes: `answer.address` for every name. */
function playedDns(answer: { address: string }): LookupFunction {
  return (_hostname, _options, callback) =>
    (callback as (error: null, addresses: { address: string; family: number }[]) => void)(null, [{ address: answer.address, family: 4 }]);
}

const opened: TargetAgents[] = [];
let closeServer: (() => void) | undefined;
afterEach(() => {
  for (const agents of opened.splice(0)) agents.close();
  closeServer?.();
});

/** Agents closed after the test. */
function newAgents(options: Parameters<typeof createTargetAgents>[0]): TargetAgents {
  const agents = createTargetAgents(options);
  opened.push(agents);
  return agents;
}

describe("webhook attempts with keep-alive agents", () => {
  it("reuse one connection for attempts one after another to the same target", async () => {
    const server = await countingServer();
    closeServer = server.close;
    const agents = newAgents({ maxTargets: 8, socketsPerTarget: 4, idleMs: 4_000 });
    const policy = parseAllowList("127.0.0.1/32");
    for (let attempt = 0; attempt < 20; attempt++) {
      const result = await sendWebhook(
        { url: `http://127.0.0.1:${server.port}/hook`, headers, body },
        { policy, timeoutMs: 5_000, agents },
      );
      expect(result).toMatchObject({ kind: "answered", status: 200 });
    }
    expect(server.counts()).toEqual({ connections: 1, requests: 20 });
  });

  it("open at most socketsPerTarget connections to one target, however many attempts run at once", async () => {
    const server = await countingServer({ answer: (response) => setTimeout(() => response.end("ok"), 20) });
    closeServer = server.close;
    const agents = newAgents({ maxTargets: 8, socketsPerTarget: 3, idleMs: 4_000 });
    const policy = parseAllowList("127.0.0.1/32");
    const url = `http://127.0.0.1:${server.port}/hook`;
    const results = await Promise.all(
      Array.from({ length: 30 }, () => sendWebhook({ url, headers, body }, { policy, timeoutMs: 5_000, agents })),
    );
    expect(results.every((result) => result.kind === "answered" && result.status === 200)).toBe(true);
    expect(server.counts()).toEqual({ connections: 3, requests: 30 });
  });

  it("give a name whose DNS answer changed a connection of its own, never a socket checked for the old answer", async () => {
    const server = await countingServer();
    closeServer = server.close;
    const agents = newAgents({ maxTargets: 8, socketsPerTarget: 4, idleMs: 4_000 });
    // http:// to a name needs the name on the allow-list (which accepts its every address); the
    // refusal of a rebound private address is ssrf-delivery.test.ts's, and happens before an agent is chosen.
    const policy = parseAllowList("hooks.example");
    const answer = { address: "127.0.0.1" };
    const lookup = playedDns(answer);
    const url = `http://hooks.example:${server.port}/hook`;
    const attempt = () => sendWebhook({ url, headers, body }, { policy, timeoutMs: 5_000, agents, lookup });

    expect(await attempt()).toMatchObject({ kind: "answered", status: 200 });
    expect(server.counts()).toEqual({ connections: 1, requests: 1 });
    // Rebound to another address, where nothing listens, while a socket to 127.0.0.1 sits idle in the
    // pool: the kernel's refusal proves the attempt opened its own connection to the new address.
    answer.address = "127.0.0.2";
    expect(await attempt()).toMatchObject({ kind: "failed", reason: expect.stringContaining("ECONNREFUSED") });
    expect(server.counts()).toEqual({ connections: 1, requests: 1 });
    // Back to the first answer: its idle socket serves again.
    answer.address = "127.0.0.1";
    expect(await attempt()).toMatchObject({ kind: "answered", status: 200 });
    expect(server.counts()).toEqual({ connections: 1, requests: 2 });
  });

  it("close an idle socket before the receiver's announced idle timeout, so the next attempt never meets a closed one", async () => {
    // Node's server announces `Keep-Alive: timeout=2`; the agent keeps the socket at most 1 s idle.
    const server = await countingServer({ keepAliveTimeout: 2_000 });
    closeServer = server.close;
    const agents = newAgents({ maxTargets: 8, socketsPerTarget: 4, idleMs: 30_000 });
    const policy = parseAllowList("127.0.0.1/32");
    const url = `http://127.0.0.1:${server.port}/hook`;
    expect(await sendWebhook({ url, headers, body }, { policy, timeoutMs: 5_000, agents })).toMatchObject({ status: 200 });
    await new Promise((resolve) => setTimeout(resolve, 2_200));
    expect(await sendWebhook({ url, headers, body }, { policy, timeoutMs: 5_000, agents })).toMatchObject({ status: 200 });
    expect(server.counts()).toEqual({ connections: 2, requests: 2 });
  });

  it("do not reuse a socket whose answer was cut at the kept bytes: the rest of the body is never read", async () => {
    const server = await countingServer({ answer: (response) => response.end("x".repeat(64 * 1024)) });
    closeServer = server.close;
    const agents = newAgents({ maxTargets: 8, socketsPerTarget: 4, idleMs: 4_000 });
    const policy = parseAllowList("127.0.0.1/32");
    const url = `http://127.0.0.1:${server.port}/hook`;
    for (let attempt = 0; attempt < 3; attempt++) {
      expect(await sendWebhook({ url, headers, body }, { policy, timeoutMs: 5_000, agents })).toMatchObject({ status: 200 });
    }
    expect(server.counts()).toEqual({ connections: 3, requests: 3 });
  });
});
