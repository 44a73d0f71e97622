/**
 * The server's configuration, read from the environment once at start-up. Every
 * variable is documented in README.md; a bad value stops the server with the variable
 * named, rather than surfacing later as an odd failure.
 */
import path from "node:path";
import { defaultConnectionLimits, type ConnectionLimits } from "./http/listener.js";

/** Everything the server reads from its environment. */
export interface Config {
  /** TCP port for every protocol (`PORT`, default 8080; 0 picks a free one). */
  readonly port: number;
  /** Interface to listen on (`HOST`, default `0.0.0.0`). */
  readonly host: string;
  /** Postgres to use (`DATABASE_URL`); unset starts the embedded Postgres. */
  readonly databaseUrl: string | undefined;
  /** Folder for the embedded Postgres and the generated root key (`RUNLINE_DATA_DIR`, default `./.runline`). */
  readonly dataDir: string;
  /** The root key for AdminService (`RUNLINE_ROOT_KEY`); unset generates one with the embedded default. */
  readonly rootKey: string | undefined;
  /** pino level (`LOG_LEVEL`, default `info`). */
  readonly logLevel: string;
  /** PEM certificate and key files (`TLS_CERT_FILE`, `TLS_KEY_FILE`): both set turns TLS with ALPN on. */
  readonly tls: { readonly certFile: string; readonly keyFile: string } | undefined;
  /** Postgres connections per server process (`RUNLINE_DB_POOL_SIZE`, default 20). */
  readonly dbPoolSize: number;
  /** How long graceful shutdown waits for in-flight calls (`RUNLINE_SHUTDOWN_GRACE_MS`, default 10000). */
  readonly shutdownGraceMs: number;
  /** Time between lease sweeps (`RUNLINE_SWEEP_INTERVAL_MS`, default 1000). */
  readonly sweepIntervalMs: number;
  /** How long a CANCELLING run may take to stop before it is CANCELLED (`RUNLINE_CANCEL_GRACE_MS`, default 30000). */
  readonly cancelGraceMs: number;
  /**
   * Claims of a queue scan it from the head at least this often (`RUNLINE_CLAIM_HEAD_SCAN_MS`,
   * default 1000; 0: always), and otherwise start at the furthest run claimed
   * (workers/queue-hints.ts): the longest a run passed over by the hint waits.
   */
  readonly claimHeadScanMs: number;
  /** Time between retention passes (`RUNLINE_RETENTION_INTERVAL_MS`, default 60000). */
  readonly retentionIntervalMs: number;
  /** Run the demo executor in-process (`RUNLINE_DEMO_WORKER`, default on; `0` turns it off). */
  readonly demoWorker: boolean;
  /** Browser origins allowed by CORS (`RUNLINE_CORS_ORIGINS`: comma-separated, or `*`); unset: no CORS headers. */
  readonly corsOrigins: readonly string[] | "*" | undefined;
  /**
   * Send `Access-Control-Allow-Credentials: true` to the allowed origins
   * (`RUNLINE_CORS_CREDENTIALS`, default off), so pages may call with `credentials:
   * "include"`. Refused with `RUNLINE_CORS_ORIGINS=*`: credentials need named origins.
   */
  readonly corsCredentials: boolean;
  /** Access tokens (see AccessTokenSettings). */
  readonly accessTokens: AccessTokenSettings;
  /** A server stream whose client took no byte for this long is reset (`RUNLINE_STREAM_STALL_TIMEOUT_MS`, default 60000; 0: never). */
  readonly streamStallTimeoutMs: number;
  /**
   * Per-connection liveness checks and limits: `RUNLINE_KEEPALIVE_INTERVAL_MS` (default
   * 20000, 0 turns PINGs and TCP keepalive off), `RUNLINE_KEEPALIVE_TIMEOUT_MS` (10000),
   * `RUNLINE_HTTP2_MAX_STREAMS` (100), `RUNLINE_MAX_HEADER_BYTES` (16384),
   * `RUNLINE_HTTP2_SESSION_MEMORY_MB` (10).
   */
  readonly connectionLimits: ConnectionLimits;
  /** Webhook delivery (see WebhookSettings). */
  readonly webhooks: WebhookSettings;
}

/** How access tokens are kept current on each replica; every field from its own variable, documented in README.md. */
export interface AccessTokenSettings {
  /**
   * How often each replica reloads the revoked keys and the signing keys
   * (`RUNLINE_ACCESS_TOKEN_REFRESH_MS`, default 5000): a revoked key's tokens are refused
   * everywhere within this period.
   */
  readonly refreshMs: number;
  /** How old the signing key may get before a new one replaces it (`RUNLINE_ACCESS_TOKEN_KEY_ROTATION_MS`, default 604800000: 7 days). */
  readonly keyRotationMs: number;
}

/** How webhooks are delivered; every field from its own variable, documented in README.md. */
export interface WebhookSettings {
  /**
   * Hosts and CIDRs that may be private, loopback or `http://` (`RUNLINE_WEBHOOK_ALLOW`,
   * comma-separated, e.g. `127.0.0.1/32,hooks.internal`; default: none). Raw text here;
   * webhooks/ parses it and refuses a bad entry at start-up.
   */
  readonly allow: string;
  /** One attempt's timeout (`RUNLINE_WEBHOOK_TIMEOUT_MS`, default 10000). */
  readonly timeoutMs: number;
  /**
   * Delays before each retry (`RUNLINE_WEBHOOK_RETRY_SCHEDULE`, durations like `30s`,
   * `5m`, `2h`, comma-separated); each is jittered. The default, 11 retries over about
   * 24 h: 5s,30s,2m,5m,15m,30m,1h,2h,4h,8h,8h. After the last, the delivery FAILED.
   */
  readonly retryScheduleMs: readonly number[];
  /** Attempts in flight at once per target host, per replica (`RUNLINE_WEBHOOK_HOST_CONCURRENCY`, default 8). */
  readonly hostConcurrency: number;
  /** How long a rotated secret still signs beside the new one (`RUNLINE_WEBHOOK_SECRET_OVERLAP_MS`, default 86400000). */
  readonly secretOverlapMs: number;
}

const durationUnitsMs: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** The default retry schedule: about 24 h in 11 retries. */
export const defaultWebhookRetrySchedule = "5s,30s,2m,5m,15m,30m,1h,2h,4h,8h,8h";

function readDurations(env: NodeJS.ProcessEnv, name: string, fallback: string): number[] {
  const raw = readOptional(env, name) ?? fallback;
  const delays = raw.split(",").map((item) => {
    const match = /^(\d+)(ms|s|m|h)$/.exec(item.trim());
    if (match === null) throw new ConfigError(name, `"${item.trim()}" is not a duration like 30s, 5m or 2h`);
    return Number(match[1]) * durationUnitsMs[match[2]!]!;
  });
  if (delays.length > 100) throw new ConfigError(name, "at most 100 retries");
  if (delays.some((delay) => delay > 7 * 86_400_000)) throw new ConfigError(name, "each delay must be at most 7 days");
  return delays;
}

function readAccessTokenSettings(env: NodeJS.ProcessEnv): AccessTokenSettings {
  const refreshMs = readInteger(env, "RUNLINE_ACCESS_TOKEN_REFRESH_MS", 5000, 100, 60_000);
  const keyRotationMs = readInteger(env, "RUNLINE_ACCESS_TOKEN_KEY_ROTATION_MS", 604_800_000, 1000, 365 * 86_400_000);
  // A new key waits two refresh periods before it signs: rotating faster would add keys
  // that never sign, each kept for a day.
  if (keyRotationMs < 2 * refreshMs)
    throw new ConfigError(
      "RUNLINE_ACCESS_TOKEN_KEY_ROTATION_MS",
      `must be at least twice RUNLINE_ACCESS_TOKEN_REFRESH_MS (${2 * refreshMs})`,
    );
  return { refreshMs, keyRotationMs };
}

function readWebhookSettings(env: NodeJS.ProcessEnv): WebhookSettings {
  return {
    allow: readOptional(env, "RUNLINE_WEBHOOK_ALLOW") ?? "",
    timeoutMs: readInteger(env, "RUNLINE_WEBHOOK_TIMEOUT_MS", 10_000, 100, 600_000),
    retryScheduleMs: readDurations(env, "RUNLINE_WEBHOOK_RETRY_SCHEDULE", defaultWebhookRetrySchedule),
    hostConcurrency: readInteger(env, "RUNLINE_WEBHOOK_HOST_CONCURRENCY", 8, 1, 1000),
    secretOverlapMs: readInteger(env, "RUNLINE_WEBHOOK_SECRET_OVERLAP_MS", 86_400_000, 0, 30 * 86_400_000),
  };
}

const logLevels = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

/** Thrown when an environment variable has a value the server cannot use. */
export class ConfigError extends Error {
  constructor(variable: string, problem: string) {
    super(`${variable}: ${problem}`);
    this.name = "ConfigError";
  }
}

function readInteger(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, `expected a whole number, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${value}`);
  return value;
}

const flagValues = { on: ["1", "true", "on", "yes"], off: ["0", "false", "off", "no"] };

function readFlag(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === "") return fallback;
  if (flagValues.on.includes(raw.toLowerCase())) return true;
  if (flagValues.off.includes(raw.toLowerCase())) return false;
  throw new ConfigError(
    name,
    `"${raw}" is neither on nor off; expected ${flagValues.on.join(", ")} (on) or ${flagValues.off.join(", ")} (off)`,
  );
}

function readOrigins(env: NodeJS.ProcessEnv, name: string): readonly string[] | "*" | undefined {
  const raw = readOptional(env, name);
  if (raw === undefined) return undefined;
  if (raw === "*") return "*";
  const origins = raw
    .split(",")
    .map((origin) => origin.trim())
    .filter((origin) => origin !== "");
  for (const origin of origins) {
    if (!/^https?:\/\/[^/\s]+$/.test(origin)) throw new ConfigError(name, `"${origin}" is not an origin like https://app.example.com`);
  }
  return origins;
}

function readOptional(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const raw = env[name];
  return raw === undefined || raw.trim() === "" ? undefined : raw.trim();
}

function readConnectionLimits(env: NodeJS.ProcessEnv): ConnectionLimits {
  const defaults = defaultConnectionLimits;
  return {
    keepaliveIntervalMs: readInteger(env, "RUNLINE_KEEPALIVE_INTERVAL_MS", defaults.keepaliveIntervalMs, 0, 3_600_000),
    keepaliveTimeoutMs: readInteger(env, "RUNLINE_KEEPALIVE_TIMEOUT_MS", defaults.keepaliveTimeoutMs, 50, 600_000),
    maxConcurrentStreams: readInteger(env, "RUNLINE_HTTP2_MAX_STREAMS", defaults.maxConcurrentStreams, 1, 100_000),
    maxHeaderBytes: readInteger(env, "RUNLINE_MAX_HEADER_BYTES", defaults.maxHeaderBytes, 1024, 1_048_576),
    maxSessionMemoryMb: readInteger(env, "RUNLINE_HTTP2_SESSION_MEMORY_MB", defaults.maxSessionMemoryMb, 1, 1024),
  };
}

/**
 * DATABASE_URL must be a URL that MikroORM can read: it parses it with the WHATWG parser,
 * which refuses what pg alone would take (no host with `?host=/socket/dir`, several hosts,
 * a port that is not a number). The value is never echoed: it may hold a password.
 */
function checkDatabaseUrl(raw: string): void {
  const example = "like postgres://user:password@host:5432/database";
  if (!/^postgres(ql)?:\/\//.test(raw)) throw new ConfigError("DATABASE_URL", `expected a postgres:// or postgresql:// URL, ${example}`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(
      "DATABASE_URL",
      `not a URL Runline can use (a port that is not a number, several hosts, no host); expected one ${example}`,
    );
  }
  if (url.hostname === "") throw new ConfigError("DATABASE_URL", `has no host; expected a URL ${example}`);
}

/** Reads and checks the configuration; throws ConfigError naming the first bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const logLevel = readOptional(env, "LOG_LEVEL") ?? "info";
  if (!logLevels.includes(logLevel)) {
    throw new ConfigError("LOG_LEVEL", `"${logLevel}" is not a level; expected one of ${logLevels.join(", ")}`);
  }
  const certFile = readOptional(env, "TLS_CERT_FILE");
  const keyFile = readOptional(env, "TLS_KEY_FILE");
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new ConfigError(certFile === undefined ? "TLS_CERT_FILE" : "TLS_KEY_FILE", "TLS needs both TLS_CERT_FILE and TLS_KEY_FILE");
  }
  const databaseUrl = readOptional(env, "DATABASE_URL");
  if (databaseUrl !== undefined) checkDatabaseUrl(databaseUrl);
  const corsOrigins = readOrigins(env, "RUNLINE_CORS_ORIGINS");
  const corsCredentials = readFlag(env, "RUNLINE_CORS_CREDENTIALS", false);
  if (corsCredentials && (corsOrigins === undefined || corsOrigins === "*"))
    throw new ConfigError(
      "RUNLINE_CORS_CREDENTIALS",
      "needs RUNLINE_CORS_ORIGINS to name the origins; credentials are never allowed to every origin (*)",
    );
  const rootKey = readOptional(env, "RUNLINE_ROOT_KEY");
  if (rootKey !== undefined && rootKey.length < 16) throw new ConfigError("RUNLINE_ROOT_KEY", "must be at least 16 characters");
  return {
    port: readInteger(env, "PORT", 8080, 0, 65535),
    host: readOptional(env, "HOST") ?? "0.0.0.0",
    databaseUrl,
    dataDir: path.resolve(readOptional(env, "RUNLINE_DATA_DIR") ?? ".runline"),
    rootKey,
    logLevel,
    tls: certFile !== undefined && keyFile !== undefined ? { certFile, keyFile } : undefined,
    dbPoolSize: readInteger(env, "RUNLINE_DB_POOL_SIZE", 20, 1, 1000),
    shutdownGraceMs: readInteger(env, "RUNLINE_SHUTDOWN_GRACE_MS", 10000, 0, 600000),
    sweepIntervalMs: readInteger(env, "RUNLINE_SWEEP_INTERVAL_MS", 1000, 50, 600000),
    cancelGraceMs: readInteger(env, "RUNLINE_CANCEL_GRACE_MS", 30000, 0, 86400000),
    claimHeadScanMs: readInteger(env, "RUNLINE_CLAIM_HEAD_SCAN_MS", 1000, 0, 60000),
    retentionIntervalMs: readInteger(env, "RUNLINE_RETENTION_INTERVAL_MS", 60000, 100, 86400000),
    demoWorker: readFlag(env, "RUNLINE_DEMO_WORKER", true),
    corsOrigins,
    corsCredentials,
    accessTokens: readAccessTokenSettings(env),
    streamStallTimeoutMs: readInteger(env, "RUNLINE_STREAM_STALL_TIMEOUT_MS", 60000, 0, 86400000),
    connectionLimits: readConnectionLimits(env),
    webhooks: readWebhookSettings(env),
  };
}
