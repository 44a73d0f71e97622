/**
 * `access_token` in the URL: what a browser's native EventSource needs, accepted on GET
 * routes of REST server streams only, and never written to logs, metrics or error bodies.
 */
import { EventSource } from "eventsource";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { Scope } from "../../gen/runline/v1/admin_service_pb.js";
import type { RunningServer } from "../../src/server.js";
import { mintToken } from "../support/access-tokens.js";
import { createCounterWorkflow, createTenant, json, type TenantFixture } from "../support/clients.js";
import { eventually, within } from "../support/expectations.js";
import { startLoggedServer } from "../support/logged-server.js";
import { restClient, type StreamMessageJson } from "../rest/rest-client.js";

let server: RunningServer;
let lines: string[];
let tenant: TenantFixture;
/** Every token the tests used: none may reach a log line, a metric or an error body. */
const usedTokens: string[] = [];

beforeAll(async () => {
  ({ server, lines } = await startLoggedServer("debug"));
  tenant = await createTenant(server.url);
  await createCounterWorkflow(tenant);
});

afterAll(() => server.close());

async function newRun(): Promise<string> {
  return (await tenant.runs().createRun({ workflow: "counter", input: json({ n: 1 }) })).run!.id;
}

async function tokenFor(runId: string, ttlSeconds = 300n): Promise<string> {
  const { token } = await mintToken(server.url, tenant.key, { scopes: [Scope.READ], runIds: [runId], ttl: { seconds: ttlSeconds } });
  usedTokens.push(token);
  return token;
}

/** A native EventSource (it sends no headers of ours) on `url`: its messages, and when `complete` came. */
function openNativeEventSource(url: string): { messages: StreamMessageJson[]; completed: Promise<void> } {
  const source = new EventSource(url);
  onTestFinished(() => source.close());
  const messages: StreamMessageJson[] = [];
  source.addEventListener("message", (event) => messages.push(JSON.parse(event.data as string) as StreamMessageJson));
  const completed = new Promise<void>((resolve, reject) => {
    source.addEventListener("complete", () => (source.close(), resolve()));
    source.addEventListener("error", () => {
      if (source.readyState === EventSource.CLOSED) reject(new Error("the EventSource was refused"));
    });
  });
  return { messages, completed: within(10_000, "the EventSource to see the run complete", completed) };
}

describe("access_token on server-stream GET routes", () => {
  it.each(["events:stream", "stream", "events"])("lets a native EventSource follow a run on …/%s to its end", async (path) => {
    const runId = await newRun();
    const token = await tokenFor(runId);
    await tenant.runs().ingestRunEvents({ runId, events: [{ type: "progress", data: json({ fraction: 0.5 }) }] });
    const { messages, completed } = openNativeEventSource(`${server.url}/api/v1/runs/${runId}/${path}?access_token=${token}`);
    await eventually(5000, "the first message", async () => (messages.length > 0 ? true : undefined));
    await tenant.runs().cancelRun({ runId });
    await completed;
    expect(messages[0]!.run!.id).toBe(runId);
    expect(messages.flatMap((message) => message.events ?? []).map((event) => event.type)).toContain("progress");
  });

  it("is refused like a header would be: expired 401, another run 404", async () => {
    const runId = await newRun();
    const expired = await tokenFor(runId, 1n);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const rest = restClient(server.url, undefined);
    const late = await rest.get(`/api/v1/runs/${runId}/events:stream?access_token=${expired}`, { accept: "text/event-stream" });
    expect(late.status).toBe(401);
    expect(late.body).toMatchObject({ code: 16, message: "the access token has expired" });
    const other = await rest.get(`/api/v1/runs/${await newRun()}/stream?access_token=${await tokenFor(runId)}`);
    expect(other.status).toBe(404);
  });

  it("is an unknown query parameter anywhere else (400), named without its value", async () => {
    const runId = await newRun();
    const token = await tokenFor(runId);
    const rest = restClient(server.url, undefined);
    for (const path of [`/api/v1/runs/${runId}`, `/api/v1/runs/${runId}/output`, "/api/v1/runs", `/api/v1/runs/${runId}/events`]) {
      const response = await rest.get(`${path}?access_token=${token}`);
      expect(response.status, path).toBe(400);
      expect(response.body).toMatchObject({ message: expect.stringMatching(/^unknown query parameter "access_token"/) });
    }
    const post = await rest.post(`/api/v1/runs/${runId}/cancel?access_token=${token}`, {});
    expect(post.status).toBe(400);
  });

  it("may not come with an Authorization header too, nor twice", async () => {
    const runId = await newRun();
    const token = await tokenFor(runId);
    const both = await restClient(server.url, tenant.key).get(`/api/v1/runs/${runId}/stream?access_token=${token}`);
    expect(both.status).toBe(400);
    const twice = await restClient(server.url, undefined).get(`/api/v1/runs/${runId}/stream?access_token=${token}&access_token=${token}`);
    expect(twice.status).toBe(400);
    for (const response of [both, twice]) expect(response.text).not.toContain(token.slice(-20));
  });
});

describe("redaction", () => {
  it("keeps every token used above out of the log, in full or in part, and out of /metrics", async () => {
    expect(usedTokens.length).toBeGreaterThan(5);
    // The tests above did log calls with the run ids they used.
    expect(lines.length).toBeGreaterThan(20);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const everything = [...lines, metrics].join("\n");
    for (const token of usedTokens) {
      const [, payload, signature] = token.split(".") as [string, string, string];
      // Any 16 characters of the claims or the signature would be a leak.
      for (const part of [payload, signature])
        for (let start = 0; start + 16 <= part.length; start += 4) expect(everything).not.toContain(part.slice(start, start + 16));
    }
    expect(everything).not.toContain("access_token=");
  });
});
