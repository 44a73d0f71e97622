/**
 * The server process: one port for HTTP/1.1 and h2c, and graceful shutdown (in-flight
 * calls finish, streams end with UNAVAILABLE so clients reconnect and resume).
 */
import http2 from "node:http2";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { createLogger } from "../../src/logger.js";
import { startServer } from "../../src/server.js";
import { createCounterWorkflow, createTenant, json } from "../support/clients.js";
import { createTestDatabase } from "../support/test-database.js";
import { within } from "../support/expectations.js";
import { testRootKey } from "../support/test-server.js";

async function freshServer() {
  const config = loadConfig({
    PORT: "0",
    HOST: "127.0.0.1",
    DATABASE_URL: await createTestDatabase(),
    RUNLINE_ROOT_KEY: testRootKey,
    LOG_LEVEL: "silent",
    RUNLINE_SHUTDOWN_GRACE_MS: "3000",
    RUNLINE_DEMO_WORKER: "0",
  });
  return startServer(config, createLogger("silent"));
}

describe("server lifecycle", () => {
  it("serves HTTP/1.1 and cleartext HTTP/2 on the same port", async () => {
    const server = await freshServer();
    try {
      const h1 = await fetch(`${server.url}/runline.v1.RunsService/GetRun`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
      });
      expect(h1.status).toBe(401);
      const session = http2.connect(server.url);
      const status = await new Promise<number>((resolve, reject) => {
        const stream = session.request({
          ":method": "POST",
          ":path": "/runline.v1.RunsService/GetRun",
          "content-type": "application/json",
        });
        stream.on("response", (headers) => resolve(Number(headers[":status"])));
        stream.on("error", reject);
        stream.end("{}");
      });
      session.close();
      expect(status).toBe(401);
    } finally {
      await server.close();
    }
  });

  it("ends open streams with UNAVAILABLE on shutdown and lets the close finish", async () => {
    const server = await freshServer();
    const tenant = await createTenant(server.url);
    await createCounterWorkflow(tenant);
    const runs = tenant.runs("grpc");
    const { run } = await runs.createRun({ workflow: "counter", input: json({ n: 1 }) });
    const stream = runs.streamRunEvents({ runId: run!.id });
    const received: number[] = [];
    const outcome = (async () => {
      try {
        for await (const message of stream) {
          received.push(message.events.length);
          if (received.length === 1) void server.close();
        }
        return undefined;
      } catch (error) {
        return error as ConnectError;
      }
    })();
    // Bounded, so a hang names the step that hung instead of timing the whole test out.
    const error = await within(20_000, "the stream to end after shutdown began", outcome);
    expect(error?.code).toBe(Code.Unavailable);
    expect(received.length).toBeGreaterThan(0);
    await within(15_000, "server.close() to finish", server.close());
  }, 60_000);

  it("lets an in-flight long poll answer before the process stops", async () => {
    const server = await freshServer();
    const tenant = await createTenant(server.url);
    await createCounterWorkflow(tenant);
    const runs = tenant.runs("connect-json");
    const { run } = await runs.createRun({ workflow: "counter", input: json({ n: 1 }) });
    const waiting = runs.getRunOutput({ runId: run!.id, blockTimeout: { seconds: 20n, nanos: 0 } });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const closing = server.close();
    const answer = await waiting;
    // The wait ended early because of shutdown, with the run's real state rather than an error.
    expect(answer.output!.done).toBe(false);
    await closing;
  });
});
