/**
 * gRPC health checking (grpc.health.v1) and the HTTP probes /healthz and /readyz: what
 * balancers and orchestrators see while the database comes and goes and while the
 * server shuts down.
 *
 * The server here is built by hand, as src/server.ts builds its own (same listener,
 * adapter, auth interceptor and fallback chain), with the ops routes added and the
 * Runline services registered by name only: health needs their names, not their
 * behaviour. Each test gets its own database, so it can be made unreachable honestly.
 */
import { randomBytes } from "node:crypto";
import { createClient, type Client } from "@connectrpc/connect";
import { connectNodeAdapter, createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { afterEach, describe, expect, inject, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus, type HealthCheckResponse } from "../../gen/health/v1/health_pb.js";
import { AdminService } from "../../gen/runline/v1/admin_service_pb.js";
import { RunsService } from "../../gen/runline/v1/runs_service_pb.js";
import { WorkerService } from "../../gen/runline/v1/worker_service_pb.js";
import { WorkflowsService } from "../../gen/runline/v1/workflows_service_pb.js";
import { authInterceptor } from "../../src/api/interceptors.js";
import { probeEndpoint, registerOpsRoutes } from "../../src/api/ops-routes.js";
import { createKeyResolver, hashSecret } from "../../src/auth/api-keys.js";
import type { AccessTokenIssuer } from "../../src/auth/access-tokens.js";
import { openDatabase, type Sql } from "../../src/db/database.js";
import { startHealthState, type HealthState } from "../../src/health/health-state.js";
import { chainEndpoints } from "../../src/http/handler-chain.js";
import { startListener } from "../../src/http/listener.js";
import { createLogger } from "../../src/logger.js";
import { asAdmin, makeReachable, makeUnreachable } from "../support/database-outage.js";
import { createTestDatabase } from "../support/test-database.js";
import { testRootKey } from "../support/test-server.js";

const servedServices = [
  "runline.v1.RunsService",
  "runline.v1.WorkflowsService",
  "runline.v1.WorkerService",
  "runline.v1.AdminService",
  "grpc.health.v1.Health",
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
];

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface HealthServer {
  readonly url: string;
  readonly health: HealthState;
  /** Begins shutdown, as RunningServer.close() does first; the port stays open. */
  beginShutdown(): void;
  /** gRPC over HTTP/2, with no API key. */
  readonly grpc: Client<typeof Health>;
  /** Connect over HTTP/1.1, with no API key. */
  readonly connect: Client<typeof Health>;
}

async function startHealthServer(databaseUrl: string): Promise<HealthServer> {
  const logger = createLogger("silent");
  const database = await openDatabase({ url: databaseUrl, poolSize: 4 });
  const shutdown = new AbortController();
  const health = await startHealthState({
    sql: database.sql,
    shutdownSignal: shutdown.signal,
    logger,
    probeIntervalMs: 100,
    probeTimeoutMs: 1000,
  });
  // Probes need no credential; these tests present no access token.
  const tokens: AccessTokenIssuer = {
    mint: () => Promise.reject(new Error("this server mints no access tokens")),
    verify: () => Promise.resolve({ kind: "refused", why: "malformed" }),
    recheck: () => undefined,
  };
  const handler = connectNodeAdapter({
    routes: (router) => {
      for (const service of [RunsService, WorkflowsService, WorkerService, AdminService]) router.service(service, {});
      registerOpsRoutes(router, health);
    },
    interceptors: [authInterceptor(createKeyResolver({ sql: database.sql, rootKeyHash: hashSecret(testRootKey) }), tokens)],
    fallback: chainEndpoints([probeEndpoint(health)]),
    shutdownSignal: shutdown.signal,
  });
  const listener = await startListener({ host: "127.0.0.1", port: 0, handler });
  cleanups.push(async () => {
    shutdown.abort();
    health.stop();
    await listener.close({ graceMs: 1000 });
    await database.close();
  });
  return {
    url: listener.url,
    health,
    beginShutdown: () => shutdown.abort(),
    grpc: createClient(Health, createGrpcTransport({ baseUrl: listener.url })),
    connect: createClient(Health, createConnectTransport({ baseUrl: listener.url, httpVersion: "1.1" })),
  };
}

/** A database with no Runline tables at all (CREATE DATABASE copies the empty template1). */
async function createEmptyDatabase(): Promise<string> {
  const name = `empty_${randomBytes(6).toString("hex")}`;
  await asAdmin(`create database ${name}`);
  const url = new URL(inject("pgAdminUrl"));
  url.pathname = `/${name}`;
  return url.toString();
}

/** Reads a Watch stream message by message, each within a deadline. */
function reader(stream: AsyncIterable<HealthCheckResponse>) {
  const iterator = stream[Symbol.asyncIterator]();
  return {
    async next(timeoutMs = 5000): Promise<ServingStatus | "end"> {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>(
        (_resolve, reject) => (timer = setTimeout(() => reject(new Error(`no Watch message within ${timeoutMs} ms`)), timeoutMs)),
      );
      try {
        const result = await Promise.race([iterator.next(), timeout]);
        return result.done === true ? "end" : result.value.status;
      } finally {
        clearTimeout(timer);
      }
    },
    /** Resolves true when nothing arrives for `ms` (the call is still open and quiet). */
    async staysQuiet(ms: number): Promise<boolean> {
      const next = iterator.next();
      const quiet = await Promise.race([next.then(() => false), new Promise<boolean>((resolve) => setTimeout(() => resolve(true), ms))]);
      return quiet;
    },
  };
}

describe("grpc.health.v1.Health", () => {
  it("answers Check with SERVING for the server as a whole and for every service it serves, without an API key", async () => {
    const server = await startHealthServer(await createTestDatabase());
    for (const client of [server.grpc, server.connect]) {
      for (const service of ["", ...servedServices]) {
        expect((await client.check({ service })).status, service).toBe(ServingStatus.SERVING);
      }
    }
  });

  it("answers Check with NOT_FOUND for a service it does not serve", async () => {
    const server = await startHealthServer(await createTestDatabase());
    await expect(server.grpc.check({ service: "runline.v1.NoSuchService" })).rejects.toMatchObject({ code: 5 /* NOT_FOUND */ });
  });

  it("lists every served service and the server as a whole", async () => {
    const server = await startHealthServer(await createTestDatabase());
    const { statuses } = await server.grpc.list({});
    expect(Object.keys(statuses).sort()).toEqual(["", ...servedServices].sort());
    expect(Object.values(statuses).every((response) => response.status === ServingStatus.SERVING)).toBe(true);
  });

  it("answers Watch on an unknown service with SERVICE_UNKNOWN and keeps the call open", async () => {
    const server = await startHealthServer(await createTestDatabase());
    const abort = new AbortController();
    const watch = reader(server.grpc.watch({ service: "runline.v1.NoSuchService" }, { signal: abort.signal }));
    expect(await watch.next()).toBe(ServingStatus.SERVICE_UNKNOWN);
    expect(await watch.staysQuiet(500)).toBe(true);
    abort.abort();
  });

  it("reports NOT_SERVING while the database is unreachable and SERVING again once it is back", async () => {
    const url = await createTestDatabase();
    const server = await startHealthServer(url);
    const abort = new AbortController();
    const runs = reader(server.grpc.watch({ service: "runline.v1.RunsService" }, { signal: abort.signal }));
    const overall = reader(server.grpc.watch({ service: "" }, { signal: abort.signal }));
    expect(await runs.next()).toBe(ServingStatus.SERVING);
    expect(await overall.next()).toBe(ServingStatus.SERVING);

    await makeUnreachable(url);
    expect(await runs.next()).toBe(ServingStatus.NOT_SERVING);
    expect(await overall.next()).toBe(ServingStatus.NOT_SERVING);
    expect((await server.grpc.check({ service: "runline.v1.AdminService" })).status).toBe(ServingStatus.NOT_SERVING);
    // Health and reflection answer from memory: they keep serving.
    expect((await server.grpc.check({ service: "grpc.health.v1.Health" })).status).toBe(ServingStatus.SERVING);
    expect((await server.grpc.check({ service: "grpc.reflection.v1.ServerReflection" })).status).toBe(ServingStatus.SERVING);
    const readyz = await fetch(`${server.url}/readyz`);
    expect(readyz.status).toBe(503);
    expect(await readyz.json()).toMatchObject({ ready: false, reason: expect.stringContaining("database unreachable") });
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);

    await makeReachable(url);
    expect(await runs.next()).toBe(ServingStatus.SERVING);
    expect(await overall.next()).toBe(ServingStatus.SERVING);
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
    abort.abort();
  });

  it("reports NOT_SERVING once shutdown begins, and then ends open watches", async () => {
    const server = await startHealthServer(await createTestDatabase());
    const watch = reader(server.grpc.watch({ service: "runline.v1.RunsService" }));
    expect(await watch.next()).toBe(ServingStatus.SERVING);

    server.beginShutdown();
    expect(await watch.next()).toBe(ServingStatus.NOT_SERVING);
    expect(await watch.next()).toBe("end");
    // Calls still reaching the port while it drains (e.g. on a kept-alive connection).
    expect((await server.connect.check({ service: "" })).status).toBe(ServingStatus.NOT_SERVING);
    expect((await server.connect.check({ service: "grpc.health.v1.Health" })).status).toBe(ServingStatus.NOT_SERVING);
    const readyz = await fetch(`${server.url}/readyz`);
    expect(readyz.status).toBe(503);
    expect(await readyz.json()).toEqual({ ready: false, reason: "shutting down" });
  });
});

describe("/healthz and /readyz", () => {
  it("answer 200 with a small JSON body on a migrated, reachable database", async () => {
    const server = await startHealthServer(await createTestDatabase());
    const healthz = await fetch(`${server.url}/healthz`);
    expect(healthz.status).toBe(200);
    expect(healthz.headers.get("content-type")).toBe("application/json");
    expect(healthz.headers.get("cache-control")).toBe("no-store");
    expect(await healthz.json()).toEqual({ status: "alive" });
    const readyz = await fetch(`${server.url}/readyz?verbose=1`);
    expect(readyz.status).toBe(200);
    expect(await readyz.json()).toEqual({ ready: true });
    const head = await fetch(`${server.url}/readyz`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe("");
  });

  it("answer /readyz with 503 on a database that was never migrated, while /healthz stays 200", async () => {
    const server = await startHealthServer(await createEmptyDatabase());
    const readyz = await fetch(`${server.url}/readyz`);
    expect(readyz.status).toBe(503);
    expect(await readyz.json()).toEqual({ ready: false, reason: "migrations not applied: the database has no runline_migrations table" });
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  it("name the migrations the database lacks", async () => {
    const url = await createTestDatabase();
    const database = await openDatabase({ url, poolSize: 1 });
    const shutdown = new AbortController();
    const health = await startHealthState({
      sql: database.sql,
      shutdownSignal: shutdown.signal,
      logger: createLogger("silent"),
      migrationNames: ["0001-initial-schema", "9999-from-a-newer-build"],
    });
    try {
      expect(await health.ready()).toEqual({ ready: false, reason: "migrations not applied: 9999-from-a-newer-build" });
    } finally {
      health.stop();
      await database.close();
    }
  });

  it("answer other methods with 405 and leave other paths to the next endpoint", async () => {
    const server = await startHealthServer(await createTestDatabase());
    const post = await fetch(`${server.url}/healthz`, { method: "POST" });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET, HEAD");
    expect((await fetch(`${server.url}/healthzz`)).status).toBe(404);
  });
});

describe("health state", () => {
  it("counts a database that does not answer in time as unreachable, without stacking probe statements", async () => {
    let statements = 0;
    // A database whose host is gone: the statement neither succeeds nor fails.
    const silent: Sql = {
      query: () => {
        statements++;
        return new Promise(() => {});
      },
      transaction: () => Promise.reject(new Error("not used by the health state")),
    };
    const health = await startHealthState({
      sql: silent,
      shutdownSignal: new AbortController().signal,
      logger: createLogger("silent"),
      probeIntervalMs: 20,
      probeTimeoutMs: 50,
    });
    try {
      expect(health.current()).toEqual({ databaseReachable: false, shuttingDown: false });
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect(statements).toBe(1);
      expect(await health.ready()).toEqual({ ready: false, reason: "database unreachable: no answer within 50 ms" });
    } finally {
      health.stop();
    }
  });
});
