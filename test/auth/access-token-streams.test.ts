/**
 * A stream opened with an access token ends when the token does, even with no event to
 * send: at its expiry, and after its key is revoked. A browser's EventSource is then
 * refused on reconnecting, and stops.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { EventSource } from "eventsource";
import { beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { AdminService, Scope } from "../../gen/runline/v1/admin_service_pb.js";
import { mintToken, runsWithToken } from "../support/access-tokens.js";
import { clientFor, createCounterWorkflow, createTenant, json, protocols, type TenantFixture } from "../support/clients.js";
import { eventually, within } from "../support/expectations.js";
import { startTestServer, testRootKey } from "../support/test-server.js";

let baseUrl: string;
let tenant: TenantFixture;

beforeAll(async () => {
  baseUrl = (await startTestServer(undefined, { RUNLINE_ACCESS_TOKEN_REFRESH_MS: "200" })).url;
  tenant = await createTenant(baseUrl);
  await createCounterWorkflow(tenant);
});

/** A run nobody executes: its stream stays open and idle. */
async function idleRun(): Promise<string> {
  return (await tenant.runs().createRun({ workflow: "counter", input: json({ n: 1 }) })).run!.id;
}

/** Reads `stream` to its end; the error it ends with, and how many messages came first. */
async function readToEnd(stream: AsyncIterable<unknown>): Promise<{ error: ConnectError | undefined; messages: number }> {
  let messages = 0;
  try {
    for await (const _message of stream) messages++;
    return { error: undefined, messages };
  } catch (error) {
    return { error: ConnectError.from(error), messages };
  }
}

describe.each(protocols)("a stream opened with a token, over %s", (protocol) => {
  it("ends with UNAUTHENTICATED when the token expires, though idle", async () => {
    const runId = await idleRun();
    const { token, expireTime } = await mintToken(baseUrl, tenant.key, { scopes: [Scope.READ], ttl: { seconds: 2n } });
    const ended = await within(8000, "the stream to end", readToEnd(runsWithToken(baseUrl, token, protocol).streamRunEvents({ runId })));
    const lateMs = Date.now() - expireTime.getTime();
    expect(ended.messages).toBeGreaterThan(0);
    expect(ended.error?.code).toBe(Code.Unauthenticated);
    expect(ended.error?.rawMessage).toBe("the access token has expired");
    expect(lateMs).toBeGreaterThanOrEqual(0);
    expect(lateMs).toBeLessThan(2000);
  });
});

describe("revoking the minting key", () => {
  it("ends the streams its tokens opened", async () => {
    const runId = await idleRun();
    const admin = clientFor(AdminService, "connect-json", baseUrl, testRootKey);
    const key = await admin.createApiKey({ tenant: tenant.tenantId, scopes: [Scope.READ, Scope.WRITE] });
    const { token } = await mintToken(baseUrl, key.secret, { scopes: [Scope.READ] });
    const reading = readToEnd(runsWithToken(baseUrl, token, "grpc").streamRunEvents({ runId }));
    await new Promise((resolve) => setTimeout(resolve, 300));
    await admin.revokeApiKey({ tenant: tenant.tenantId, apiKeyId: key.apiKey!.id });
    const revoked = Date.now();
    const ended = await within(5000, "the stream to end", reading);
    expect(ended.error?.rawMessage).toBe("the access token's API key was revoked");
    expect(Date.now() - revoked).toBeLessThan(3000);
  });
});

describe("a native EventSource on a token's stream", () => {
  it("stops once the token has expired: the reconnect is refused", async () => {
    const runId = await idleRun();
    const { token } = await mintToken(baseUrl, tenant.key, { scopes: [Scope.READ], runIds: [runId], ttl: { seconds: 2n } });
    const source = new EventSource(`${baseUrl}/api/v1/runs/${runId}/events:stream?access_token=${token}`);
    onTestFinished(() => source.close());
    let messages = 0;
    source.addEventListener("message", () => messages++);
    await eventually(5000, "the first message", async () => (messages > 0 ? true : undefined));
    await eventually(8000, "the EventSource to give up", async () => (source.readyState === EventSource.CLOSED ? true : undefined), 100);
  });
});
