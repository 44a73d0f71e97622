/**
 * Whether this process can do its work: is the database reachable, and has shutdown
 * begun? A periodic probe (`select 1`) keeps the answer current, so gRPC health checks
 * and their watchers read it from memory instead of each touching Postgres; readiness
 * (/readyz) also checks that every migration has been applied.
 *
 * It knows nothing of gRPC or HTTP: `api/health-service.ts` maps these conditions to
 * per-service serving statuses and `api/ops-routes.ts` to HTTP answers.
 */
import type { Sql } from "../db/database.js";
import { migrations } from "../db/migrations/index.js";
import { failureMessage, type Logger } from "../logger.js";

/** What the process's health depends on, as last observed. */
export interface HealthConditions {
  /** The last probe reached the database in time. */
  readonly databaseReachable: boolean;
  /** The shutdown signal has fired: the process is draining and will stop. */
  readonly shuttingDown: boolean;
}

/** The answer to "may traffic be routed here?", with the reason when it may not. */
export type Readiness = { readonly ready: true } | { readonly ready: false; readonly reason: string };

/** The process's health, kept current by the probe. */
export interface HealthState {
  /** The conditions now. */
  current(): HealthConditions;
  /**
   * Yields the current conditions at once, then again after each change, and returns
   * when `signal` aborts. Changes that happen while the consumer is busy are not lost:
   * the consumer gets the latest conditions on its next pull.
   */
  watch(signal: AbortSignal): AsyncIterable<HealthConditions>;
  /**
   * Readiness, checked now against the database: reachable, and every migration the
   * code knows about applied (a fresh database, or a new binary before `migrate`, is
   * not ready). Always not ready once shutdown has begun, so balancers drain us.
   */
  ready(): Promise<Readiness>;
  /** Stops the probe (shutdown stops it too). Idempotent. */
  stop(): void;
}

/** Options for startHealthState. */
export interface HealthStateOptions {
  /** The app's statement door; the probe and the readiness check use it like any caller. */
  readonly sql: Sql;
  /** The app's shutdown signal: once aborted, everything reports not serving. */
  readonly shutdownSignal: AbortSignal;
  readonly logger: Logger;
  /** Time between probes (default 500 ms: health follows the database within about a second). */
  readonly probeIntervalMs?: number;
  /**
   * How long a probe or readiness check may take before the database counts as
   * unreachable (default 700 ms). The pool may wait far longer for a connection to a
   * host that is gone; health must answer sooner than that. A healthy `select 1` takes
   * about a millisecond; 700 ms leaves room for a loaded machine without flapping.
   */
  readonly probeTimeoutMs?: number;
  /** Migrations that must be applied for readiness (default: every one in `db/migrations`). */
  readonly migrationNames?: readonly string[];
}

// A refused or killed connection fails a probe at once, so an outage shows within one
// interval; a host that stops answering within interval + timeout (1.2 s). A probe costs
// one pooled round trip, two a second.
const DEFAULT_PROBE_INTERVAL_MS = 500;
const DEFAULT_PROBE_TIMEOUT_MS = 700;

// The cheapest round trip that proves a pooled connection works.
const probeStatement = "select 1";
// MikroORM's migrator records each applied migration by name in this table (tableName in
// db/database.ts); a few rows, read without an index.
const appliedMigrationsStatement = "select name from runline_migrations";
// SQLSTATE undefined_table: the database has never been migrated.
const UNDEFINED_TABLE = "42P01";

/** Thrown inside withTimeout when the database does not answer in time. */
class ProbeTimeout extends Error {
  constructor(timeoutMs: number) {
    super(`no answer within ${timeoutMs} ms`);
  }
}

/**
 * Runs the first probe (so the first health check is already true), then keeps probing
 * every `probeIntervalMs` until shutdown or stop().
 */
export async function startHealthState(options: HealthStateOptions): Promise<HealthState> {
  const log = options.logger.child({ component: "health" });
  const intervalMs = options.probeIntervalMs ?? DEFAULT_PROBE_INTERVAL_MS;
  const timeoutMs = options.probeTimeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
  const requiredMigrations = options.migrationNames ?? migrations.map((migration) => migration.name);
  const changes = createChangeFeed<HealthConditions>({ databaseReachable: false, shuttingDown: options.shutdownSignal.aborted });

  const setConditions = (next: HealthConditions): void => {
    const previous = changes.current();
    if (previous.databaseReachable === next.databaseReachable && previous.shuttingDown === next.shuttingDown) return;
    changes.publish(next);
  };

  // The probe's statement while it runs. One stuck behind an unreachable host holds its
  // pool slot until the driver gives up; issuing a new one every interval would drain the
  // pool, so until it settles each probe waits on the same statement again.
  let statement: Promise<unknown> | undefined;
  let lastOutcome: boolean | undefined;
  const probe = async (): Promise<void> => {
    statement ??= options.sql.query(probeStatement).finally(() => (statement = undefined));
    let reachable = true;
    try {
      await withTimeout(statement, timeoutMs);
    } catch (error) {
      reachable = false;
      // Logged once per outage, not once per probe.
      if (lastOutcome !== false) log.warn({ err: failureMessage(error) }, "database unreachable");
    }
    if (reachable && lastOutcome === false) log.info("database reachable again");
    lastOutcome = reachable;
    setConditions({ ...changes.current(), databaseReachable: reachable });
  };

  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const schedule = (): void => {
    if (stopped) return;
    // unref: a forgotten stop() must not keep the process alive.
    timer = setTimeout(() => void probe().finally(schedule), intervalMs).unref();
  };
  const stop = (): void => {
    stopped = true;
    clearTimeout(timer);
  };
  const onShutdown = (): void => {
    // Probing stops too: the pool closes during shutdown, and its failures are not news.
    stop();
    setConditions({ ...changes.current(), shuttingDown: true });
  };
  options.shutdownSignal.addEventListener("abort", onShutdown, { once: true });

  await probe();
  schedule();

  return {
    current: changes.current,
    watch: changes.watch,
    async ready() {
      if (changes.current().shuttingDown) return { ready: false, reason: "shutting down" };
      try {
        const rows = await withTimeout(options.sql.query<{ name: string }>(appliedMigrationsStatement), timeoutMs);
        const applied = new Set(rows.map((row) => row.name));
        const pending = requiredMigrations.filter((name) => !applied.has(name));
        if (pending.length > 0) return { ready: false, reason: `migrations not applied: ${pending.join(", ")}` };
        return { ready: true };
      } catch (error) {
        if (sqlState(error) === UNDEFINED_TABLE)
          return { ready: false, reason: "migrations not applied: the database has no runline_migrations table" };
        return { ready: false, reason: `database unreachable: ${failureMessage(error)}` };
      }
    },
    stop() {
      stop();
      options.shutdownSignal.removeEventListener("abort", onShutdown);
    },
  };
}

/** A value that changes over time, with watchers that never miss the latest value. */
interface ChangeFeed<T> {
  current(): T;
  publish(value: T): void;
  watch(signal: AbortSignal): AsyncIterable<T>;
}

function createChangeFeed<T>(initial: T): ChangeFeed<T> {
  let value = initial;
  let version = 0;
  let wake: () => void = () => {};
  let changed = new Promise<void>((resolve) => (wake = resolve));
  return {
    current: () => value,
    publish(next) {
      value = next;
      version++;
      const wakeWatchers = wake;
      changed = new Promise<void>((resolve) => (wake = resolve));
      wakeWatchers();
    },
    async *watch(signal) {
      let onAbort: () => void = () => {};
      const aborted = new Promise<void>((resolve) => (onAbort = resolve));
      signal.addEventListener("abort", onAbort, { once: true });
      try {
        let seen = version;
        yield value;
        // A change is yielded even when the signal fired in the same turn (shutdown aborts
        // both the state and the call's signal): the watcher should hear it before the end.
        for (;;) {
          if (version !== seen) {
            seen = version;
            yield value;
            continue;
          }
          if (signal.aborted) return;
          await Promise.race([changed, aborted]);
        }
      } finally {
        signal.removeEventListener("abort", onAbort);
      }
    },
  };
}

async function withTimeout<T>(work: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new ProbeTimeout(timeoutMs)), timeoutMs);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

function sqlState(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null || !("code" in error)) return undefined;
  return typeof error.code === "string" ? error.code : undefined;
}
