/**
 * Builds and starts a Runline server process: database (embedded or DATABASE_URL),
 * migrations, event hub, auth, routes, and the one listener for every protocol.
 * `main.ts` calls it with the environment's config; tests call it with their own.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import type { AppContext } from "./app-context.js";
import { authInterceptor, observeInterceptor, validationInterceptor } from "./api/interceptors.js";
import { restCallContext } from "./api/protocol-label.js";
import { requestGate } from "./api/request-gate.js";
import { registerRoutes, restServices } from "./api/routes.js";
import { createRunEventPush } from "./api/run-event-push.js";
import { probeEndpoint, registerOpsRoutes } from "./api/ops-routes.js";
import { startHealthState } from "./health/health-state.js";
import { createKeyResolver } from "./auth/api-keys.js";
import { startAccessTokens } from "./auth/access-tokens.js";
import { accessRestrictionInterceptor } from "./api/access-restrictions.js";
import { keepNewRootKey, loadRootKey } from "./auth/root-key.js";
import type { Config } from "./config.js";
import { migrateDatabase, openDatabase, type Database } from "./db/database.js";
import { startEmbeddedPostgres, type EmbeddedDatabase } from "./db/embedded-postgres.js";
import { startEventHub } from "./events/event-hub.js";
import { createSharedTails } from "./events/shared-tail.js";
import { chainEndpoints, metricsEndpoint } from "./http/handler-chain.js";
import { createRestHandler, withCors } from "./http/transcoding/index.js";
import { lastEventIdField, restExposedHeaders, runsRestHooks, streamEventId } from "./api/rest-bindings.js";
import openApiDocument from "../gen/openapi/runline.openapi.json" with { type: "json" };
import { openApiEndpoint } from "./openapi/openapi-endpoint.js";
import { buildConsole } from "./console/console-bundle.js";
import { consoleEndpoint } from "./console/console-endpoint.js";
import { startListener } from "./http/listener.js";
import { createInProcessTransport } from "./http/in-process-transport.js";
import { createRpcAdapter, createRpcRouter } from "./http/rpc-adapter.js";
import { createMetrics } from "./metrics/metrics.js";
import { failureMessage, type Logger } from "./logger.js";
import { createPageTokens } from "./runs/page-token.js";
import { startLeaseSweeper } from "./workers/lease-sweeper.js";
import {
  prepareEventLeaves,
  startRetentionSweeper,
  type RetentionClock,
  type RetentionPassOutcome,
} from "./retention/retention-sweeper.js";
import { startDemoExecutor } from "./demo/demo-executor.js";
import { renderWebhookBody } from "./api/webhook-body.js";
import { startDispatcher } from "./webhooks/dispatcher.js";
import { sendWebhook } from "./webhooks/send-webhook.js";
import { createTargetAgents } from "./webhooks/target-agents.js";
import { createWebhookSecrets, readSecretKey } from "./webhooks/secrets.js";
import { parseAllowList } from "./webhooks/target-policy.js";

/** A running server. */
export interface RunningServer {
  /** Base URL (http://host:port or https://…). */
  readonly url: string;
  readonly port: number;
  readonly database: Database;
  /** Graceful stop: refuse new calls, end streams, let in-flight calls finish. */
  close(): Promise<void>;
}

async function pageTokenKey(database: Database): Promise<Buffer> {
  const [row] = await database.sql.query<{ value: Buffer }>(`select value from server_secrets where name = 'page_token_key'`);
  if (row === undefined) throw new Error("server_secrets.page_token_key is missing: migrations did not run");
  return row.value;
}

/** Resolves when `closing` does, or after `ms` (calling `onTimeout`), whichever is first. */
async function closeWithin(closing: Promise<void>, ms: number, onTimeout: () => void): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      onTimeout();
      resolve();
    }, ms);
    timer.unref();
  });
  try {
    await Promise.race([closing, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** What tests may set beside the configuration. */
export interface ServerOptions {
  /** The retention sweeper's clock (default: the database's time) and batch size (default 500). */
  readonly retention?: {
    readonly clock?: RetentionClock;
    readonly batchSize?: number;
    /** Called after each retention pass. */
    readonly onPass?: (outcome: RetentionPassOutcome) => void;
  };
}

/** Starts the server described by `config`. */
export async function startServer(config: Config, logger: Logger, options: ServerOptions = {}): Promise<RunningServer> {
  let embedded: EmbeddedDatabase | undefined;
  let url = config.databaseUrl;
  if (url === undefined) {
    embedded = await startEmbeddedPostgres({ directory: path.join(config.dataDir, "pg"), logger });
    url = embedded.adminUrl;
  }
  const database = await openDatabase({ url, poolSize: config.dbPoolSize });
  const applied = await migrateDatabase(database, url);
  if (applied.length > 0) logger.info({ migrations: applied }, "migrations applied");
  // Events are written into weekly leaves: the next two weeks' exist before anything serves.
  const leavesMade = await prepareEventLeaves(url);
  if (leavesMade.length > 0) logger.info({ leavesMade }, "run_events leaves made");
  const hub = await startEventHub({ url, sql: database.sql, logger });
  const rootKey = await loadRootKey(
    { rootKey: config.rootKey, embeddedDataDir: embedded === undefined ? undefined : config.dataDir },
    logger,
  );
  const shutdown = new AbortController();
  const health = await startHealthState({ sql: database.sql, shutdownSignal: shutdown.signal, logger });
  const tails = createSharedTails({ sql: database.sql, hub });
  const app: AppContext = {
    database,
    hub,
    tails,
    keys: createKeyResolver({ sql: database.sql, rootKeyHash: rootKey.hash }),
    tokens: await startAccessTokens({ sql: database.sql, logger, ...config.accessTokens }),
    pageTokens: createPageTokens(await pageTokenKey(database)),
    webhooks: {
      secrets: createWebhookSecrets(database.sql, await readSecretKey(database.sql), config.webhooks.secretOverlapMs),
      targets: parseAllowList(config.webhooks.allow),
    },
    logger,
    shutdownSignal: shutdown.signal,
    claimHeadScanMs: config.claimHeadScanMs,
  };
  const metrics = createMetrics({ sql: database.sql, pool: () => database.poolUsage(), streamTails: () => tails.census() });
  // Observation is outermost, so refusals by auth are logged and measured too; request
  // messages are checked (request-validation.ts) only for callers who passed auth.
  const interceptors = [
    observeInterceptor(logger, metrics),
    authInterceptor(app.keys, app.tokens),
    accessRestrictionInterceptor(database.sql),
    validationInterceptor(),
  ];
  const readMaxBytes = 8 * 1024 * 1024;
  // Unknown JSON fields and enum names are refused on Connect as on REST (connect-es
  // ignores both by default, so `status: ["RUNNING"]` silently became no filter).
  const jsonOptions = { ignoreUnknownFields: false };
  // A request's JSON values may nest maxJsonValueDepth (32) deep (request-validation.ts),
  // two messages a level. Binary up to 250 messages deep is decoded (protobuf-es stops at
  // 100), so that a value nested 33 to 100 deep, the depth JSON decoding allows, is
  // refused by that check, naming its field, on every protocol, REST's in-process calls
  // included, rather than by the decoder's message.
  const binaryOptions = { recursionLimit: 250 };
  // One router, so every service object is built once: REST callers reach the same
  // handlers, interceptors and in-memory state through an in-process transport, their
  // calls marked so that logs and metrics name them `rest`.
  const router = createRpcRouter({
    interceptors,
    shutdownSignal: shutdown.signal,
    requestGate,
    jsonOptions,
    binaryOptions,
    readMaxBytes,
    // Compress only large responses: below this, gzip costs more CPU than it saves.
    compressMinBytes: 64 * 1024,
  });
  registerRoutes(router, app);
  registerOpsRoutes(router, health);
  const rest = createRestHandler({
    services: restServices,
    transport: createInProcessTransport(router.handlers, { contextValues: restCallContext }),
    maxBodyBytes: readMaxBytes,
    hooks: runsRestHooks,
    streamEventId,
    lastEventIdField,
    // Browsers' EventSource sends no Authorization header: access tokens come in the URL (README, "From a browser").
    queryCredential: "access_token",
    stallTimeoutMs: config.streamStallTimeoutMs,
    onInternalError: (error) => logger.error({ err: error }, "REST layer failure"),
  });
  // StreamRunEvents over Connect, gRPC and gRPC-web without connect-es's per-stream
  // pipeline (issue 14 (c)); what it does not speak goes on to the router.
  const push = createRunEventPush({ app, metrics, stallTimeoutMs: config.streamStallTimeoutMs, readMaxBytes });
  const connectHandler = createRpcAdapter({
    handlers: router.handlers,
    push: push.serve,
    fallback: chainEndpoints([
      metricsEndpoint(metrics.render, metrics.registry.contentType),
      probeEndpoint(health),
      openApiEndpoint(openApiDocument),
      consoleEndpoint({
        build: () => buildConsole(),
        onBuildError: (error) => logger.error({ err: error }, "the console failed to build"),
      }),
      rest,
    ]),
    stallTimeoutMs: config.streamStallTimeoutMs,
    onFailure: ({ procedure, clientGone, error }) =>
      clientGone
        ? logger.debug({ procedure, err: failureMessage(error) }, "response not delivered: the client left")
        : logger.error({ procedure, err: error }, "response not delivered"),
  });
  const handler =
    config.corsOrigins === undefined
      ? connectHandler
      : withCors(
          { allowedOrigins: config.corsOrigins, exposedHeaders: restExposedHeaders, allowCredentials: config.corsCredentials },
          connectHandler,
        );
  const tls = config.tls === undefined ? undefined : { cert: await readFile(config.tls.certFile), key: await readFile(config.tls.keyFile) };
  // On the executors' pool: without sorts, each sweep walks its partial index in order,
  // and an index scan marks the entries of finished runs dead as it passes them, where a
  // bitmap scan read every one of them again each second until VACUUM (30,000 entries,
  // 6–31 ms a sweep, in the bench).
  const stopSweeper = startLeaseSweeper({
    sql: database.workerSql,
    hub,
    logger,
    intervalMs: config.sweepIntervalMs,
    cancelGraceMs: config.cancelGraceMs,
    onSweep: (result) => metrics.recordLeaseExpiries(result.leasesExpired),
  });
  const stopRetention = startRetentionSweeper({ url, logger, intervalMs: config.retentionIntervalMs, ...options.retention });
  // Every replica sends webhooks (webhooks/dispatcher.ts); the body is rendered here, in api/'s terms.
  // Connections are kept alive per target and checked addresses (webhooks/target-agents.ts); an idle
  // one closes after 4 s, before the 5 s of Node's http server, a common receiver that may not say so.
  const webhookAgents = createTargetAgents({ maxTargets: 1024, socketsPerTarget: config.webhooks.hostConcurrency, idleMs: 4_000 });
  const dispatcher = await startDispatcher({
    url,
    sql: database.dispatcherSql,
    logger,
    renderBody: renderWebhookBody,
    send: (request) => sendWebhook(request, { policy: app.webhooks.targets, timeoutMs: config.webhooks.timeoutMs, agents: webhookAgents }),
    signingSecrets: (tenantId, endpointId, sealed) => app.webhooks.secrets.signingSecrets(tenantId, endpointId, sealed),
    timeoutMs: config.webhooks.timeoutMs,
    retryScheduleMs: config.webhooks.retryScheduleMs,
    hostConcurrency: config.webhooks.hostConcurrency,
    onAttempt: (outcome, seconds) => metrics.recordWebhookAttempt(outcome, seconds),
  });
  const listener = await startListener({
    host: config.host,
    port: config.port,
    tls,
    handler,
    limits: config.connectionLimits,
    onPeerLost: (reason, remoteAddress) => logger.info({ reason, remoteAddress }, "HTTP/2 peer stopped answering PINGs; session ended"),
  });
  logger.info({ url: listener.url }, "Runline is serving gRPC, gRPC-web, Connect and REST");
  // The demo executor dials the server's own port, like any executor would.
  const loopbackUrl = `${listener.url.startsWith("https") ? "https" : "http"}://127.0.0.1:${listener.port}`;
  const demo = config.demoWorker && tls === undefined ? await startDemoExecutor(database, loopbackUrl, logger) : undefined;
  // Last, so the one-time key is not lost among start-up lines (written out first: the log
  // writes asynchronously), and kept only by a start that serves.
  if (rootKey.created !== undefined) {
    await new Promise<void>((resolve) => logger.flush(() => resolve()));
    await keepNewRootKey(rootKey.created);
  }
  let closing: Promise<void> | undefined;
  return {
    url: listener.url,
    port: listener.port,
    database,
    close() {
      closing ??= (async () => {
        // Streams and long waits end now (clients see UNAVAILABLE/CANCELED and retry);
        // unary calls in flight finish within the grace period.
        const step = async (name: string, work: () => Promise<unknown>) => {
          const started = performance.now();
          await work();
          logger.debug({ step: name, durationMs: Math.round(performance.now() - started) }, "shutdown step done");
        };
        await step("demo executor", async () => demo?.stop({ graceMs: Math.min(2000, config.shutdownGraceMs) }));
        // The reason is what calls ended by shutdown report: retry elsewhere.
        shutdown.abort(new ConnectError("the server is shutting down; retry", Code.Unavailable));
        await step("listener", () => listener.close({ graceMs: config.shutdownGraceMs }));
        await step("sweeper", stopSweeper);
        await step("retention sweeper", stopRetention);
        app.tokens.stop();
        await step("webhook dispatcher", async () => {
          await dispatcher.stop();
          webhookAgents.close();
        });
        await step("event hub", () => hub.close());
        // Bounded: a statement still in flight here (seen rarely under heavy load, cause not
        // yet found) must not hold the process open; the pool is abandoned after 5 s.
        await step("database", () =>
          closeWithin(database.close(), 5000, () =>
            logger.warn({ inUse: database.poolUsage().inUse }, "database pool did not close in 5 s; abandoning it"),
          ),
        );
        await step("embedded postgres", async () => embedded?.stop());
      })();
      return closing;
    },
  };
}
