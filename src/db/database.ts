/**
 * Opens the database: MikroORM (entities, migrations, connection pool) and the
 * parameterised-SQL door that hot paths use. Domain modules take a `Sql` and know
 * nothing of how it was opened.
 */
import { MikroORM, type EntityManager } from "@mikro-orm/postgresql";
import { Migrator } from "@mikro-orm/migrations";
import { createHash } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { entities } from "./entities.js";
import { migrations } from "./migrations/index.js";

/** Runs parameterised statements (`$1`, `$2` …) on the pool, or inside one transaction. */
export interface Sql {
  /** Runs one statement and returns its rows. */
  query<Row>(text: string, parameters?: readonly unknown[]): Promise<Row[]>;
  /** Runs `work` in one transaction (READ COMMITTED); commits when it resolves. */
  transaction<T>(work: (sql: Sql) => Promise<T>): Promise<T>;
}

/** An open database. */
export interface Database {
  readonly orm: MikroORM;
  readonly sql: Sql;
  /**
   * For the executors' hot statements (claims, completions) and the lease sweeper:
   * connections that always use a statement's generic plan, and no sorts
   * (executorSettings). Custom plans, built from the parameters' statistics, estimated
   * a tenant or workflow newer than the last ANALYZE at one row and read all of its runs
   * per statement; these statements' plans walk the queue index and the primary key
   * whatever the statistics say (bench/RESULTS.md).
   */
  readonly workerSql: Sql;
  /**
   * For the webhook dispatcher's own bookkeeping (claims, attempt records, releases):
   * connections whose commits do not wait for the WAL to reach the disk
   * (dispatcherSettings). See dispatcherSettings for why that loses nothing.
   */
  readonly dispatcherSql: Sql;
  /** A fresh EntityManager for one unit of work on the cold paths. */
  entityManager(): EntityManager;
  /** Pool usage for metrics: statements and transactions in flight, and the pool size. */
  poolUsage(): { inUse: number; size: number };
  close(): Promise<void>;
}

/** Counts pool connections held by `Sql` calls (a transaction holds one throughout). */
interface PoolCounter {
  inUse: number;
}

/**
 * Every statement text gets a name derived from its text, so each connection parses and
 * plans it once and then reuses the prepared statement (Postgres switches to a generic
 * plan after five executions when that plan is no worse). Statement texts are constants
 * of the code, so the set is small; `namedLimit` bounds it anyway, after which new texts
 * run unnamed (re-planned each time) rather than grow every connection's cache.
 */
const namedLimit = 2_000;
const statementNames = new Map<string, string>();

/** Texts that plannedEachTime marked: always run unnamed. */
const plannedTexts = new Set<string>();

/**
 * Marks `text` to run unnamed, and so be planned with its parameters at every execution,
 * never from a cached generic plan; returns it. For a statement that runs while its table
 * is empty and must still be right once a burst has filled it: the webhook dispatcher's
 * claim polls every second from start-up, and its generic plan, made on the empty table,
 * read the whole table per candidate once it had filled (bench/RESULTS.md).
 */
export function plannedEachTime(text: string): string {
  plannedTexts.add(text);
  return text;
}

function statementName(text: string): string | undefined {
  if (plannedTexts.has(text)) return undefined;
  const known = statementNames.get(text);
  if (known !== undefined || statementNames.size >= namedLimit) return known;
  const name = `rl_${createHash("sha1").update(text).digest("base64url").slice(0, 20)}`;
  statementNames.set(text, name);
  return name;
}

/** The part of pg's Pool and PoolClient that `Sql` uses. */
interface Queryable {
  query<Row extends object>(config: pg.QueryConfig): Promise<pg.QueryResult<Row>>;
}

async function run<Row>(target: Queryable, text: string, parameters: readonly unknown[]): Promise<Row[]> {
  const result = await target.query<Row & object>({ name: statementName(text), text, values: [...parameters] });
  return result.rows;
}

function sqlOverClient(client: pg.PoolClient): Sql {
  return {
    query: <Row>(text: string, parameters: readonly unknown[] = []) => run<Row>(client, text, parameters),
    // Nested transactions share the outer one; none of our code nests them.
    transaction: (work) => work(sqlOverClient(client)),
  };
}

function sqlOverPool(pool: pg.Pool, counter: PoolCounter): Sql {
  return {
    async query<Row>(text: string, parameters: readonly unknown[] = []) {
      counter.inUse++;
      try {
        return await run<Row>(pool, text, parameters);
      } finally {
        counter.inUse--;
      }
    },
    async transaction<T>(work: (sql: Sql) => Promise<T>) {
      counter.inUse++;
      const client = await pool.connect();
      let broken: unknown;
      try {
        await client.query("begin");
        const result = await work(sqlOverClient(client));
        await client.query("commit");
        return result;
      } catch (error) {
        // A failed rollback means the connection is unusable: the pool must drop it.
        await client.query("rollback").catch((rollbackError: unknown) => (broken = rollbackError));
        throw error;
      } finally {
        client.release(broken instanceof Error ? broken : undefined);
        counter.inUse--;
      }
    },
  };
}

/**
 * The executors' pool's session settings, as startup options (in force from a
 * connection's first statement):
 * - `plan_cache_mode=force_generic_plan`: custom plans were built on one-row estimates
 *   for a tenant or workflow newer than the last ANALYZE;
 * - `enable_sort=off`: queued runs are transient, so an ANALYZE between two bursts sees
 *   none and estimates a queue of one row, and the claim's cheapest plan was then to
 *   read every queued run through runs_ready_due and sort them (38 ms a claim in the
 *   bench, test/workers/claim-plans.test.ts). Without sorts it walks runs_queue in
 *   queue order. The pool runs only claims, completions and the lease sweeper, whose
 *   other plans need no sort (the sweeper's ordered scans of its partial indexes are
 *   what it should use anyway);
 * - `enable_incremental_sort=off`, for the same reason: a hinted claim's range
 *   `(ready_time, id) >= hint` is an index condition of runs_ready_due too, and walked
 *   that way the rows needed an incremental sort by id, which read every run sharing
 *   the hint's ready_time (a batch made by one statement: up to 500 rows a claim in the
 *   scale bench's drains, ≈ 0.3 ms of a 1.3 ms completion).
 */
export const executorSettings = "-c plan_cache_mode=force_generic_plan -c enable_sort=off -c enable_incremental_sort=off";

/**
 * `url` with executorSettings added to its startup options (kept beside any the URL
 * already has). Only the query string is rewritten: pg accepts URLs the WHATWG parser
 * refuses (an empty host with `?host=/socket/dir`).
 */
export function withExecutorSettings(url: string): string {
  return withSessionSettings(url, executorSettings);
}

/**
 * The webhook dispatcher's pool's session settings: `synchronous_commit=off`. Its
 * statements only lease deliveries and record attempts; with the default, each of their
 * commits waited for a WAL flush, and the executors' serial completion statement then
 * waited behind those flushes too (the webhooks bench: 1,200 dispatcher commits per
 * 5,000-run drain). What a Postgres crash can lose (the last few hundred milliseconds of
 * them; a Runline process crash loses nothing that committed) is a lease, which only lets
 * the delivery be claimed again, or an attempt's record, which sends the delivery once
 * more under the same webhook-id: at least once, as promised. The deliveries themselves
 * are written by the status changes, on the other pools, with durable commits.
 */
export const dispatcherSettings = "-c synchronous_commit=off";

/** `url` with `settings` added to its startup options (kept beside any the URL already has). */
function withSessionSettings(url: string, settings: string): string {
  const queryAt = url.indexOf("?");
  const query = new URLSearchParams(queryAt === -1 ? "" : url.slice(queryAt + 1));
  query.set("options", [query.get("options"), settings].filter(Boolean).join(" "));
  return `${queryAt === -1 ? url : url.slice(0, queryAt)}?${query.toString()}`;
}

/** Options for openDatabase. */
export interface DatabaseOptions {
  readonly url: string;
  /** Pool size per process. */
  readonly poolSize: number;
}

/** Connects MikroORM to `url`; does not migrate (see migrateDatabase). */
export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  const orm = await MikroORM.init({
    clientUrl: options.url,
    entities,
    extensions: [Migrator],
    // Each migration in a transaction of its own (allOrNothing would run them all in one):
    // 0010 builds an index concurrently, outside any transaction, and must see the tables
    // the migrations before it created in the same start committed.
    migrations: {
      migrationsList: migrations,
      tableName: "runline_migrations",
      snapshot: false,
      transactional: true,
      allOrNothing: false,
      silent: true,
    },
    pool: { min: 0, max: options.poolSize },
    // The identity map is per request; the global one must never be used by accident.
    allowGlobalContext: false,
    debug: false,
  });
  // The pool MikroORM opened (with its type parsers): hot paths talk to pg directly.
  const pool = (await orm.em.getConnection().getNativeClient()) as pg.Pool;
  const counter: PoolCounter = { inUse: 0 };
  // Same options (and type parsers) as MikroORM's pool; a few connections suffice, as
  // the statements on it are batched (statement-batcher.ts). Idle connections are kept
  // for 5 minutes rather than pg's 10 s: executors come in bursts, and a new connection
  // costs its start-up and the planning of every prepared statement again (the first
  // job after a 15 s pause took 88–165 ms instead of 15–33).
  const poolOptions = (pool as unknown as { options: pg.PoolConfig }).options;
  const workerPool = new pg.Pool({
    connectionString: withExecutorSettings(options.url),
    types: poolOptions.types,
    min: 0,
    max: Math.max(2, Math.ceil(options.poolSize / 4)),
    idleTimeoutMillis: 5 * 60_000,
  });
  workerPool.on("error", () => undefined); // an idle connection dropped by the server: the pool discards it
  // One claim and one record statement at a time (webhooks/dispatcher.ts), and a release at stop.
  const dispatcherPool = new pg.Pool({
    connectionString: withSessionSettings(options.url, dispatcherSettings),
    types: poolOptions.types,
    min: 0,
    max: 2,
    idleTimeoutMillis: 5 * 60_000,
  });
  dispatcherPool.on("error", () => undefined);
  return {
    orm,
    sql: sqlOverPool(pool, counter),
    workerSql: sqlOverPool(workerPool, counter),
    dispatcherSql: sqlOverPool(dispatcherPool, counter),
    poolUsage: () => ({ inUse: Math.min(counter.inUse, options.poolSize), size: options.poolSize }),
    entityManager: () => orm.em.fork() as EntityManager,
    close: async () => {
      await Promise.all([orm.close(true), workerPool.end(), dispatcherPool.end()]);
    },
  };
}

/** How often a process waiting for another's migrations tries the lock again. */
const migrationLockPollMs = 100;

/**
 * Applies pending migrations. Safe when several processes start at once: a session
 * advisory lock, held on a connection of its own, lets one process apply while the
 * others wait and then find nothing left to do. The others poll for the lock rather than
 * wait in pg_advisory_lock: a statement waiting there holds its snapshot, and
 * `create index concurrently` (0010) waits until every older snapshot is gone, so the
 * two processes would wait for each other for ever.
 */
export async function migrateDatabase(database: Database, url: string): Promise<string[]> {
  const lockKey = 727_001; // any constant shared by every Runline process
  const lockHolder = new pg.Client({ connectionString: url });
  await lockHolder.connect();
  try {
    const tryLock = async () =>
      (await lockHolder.query<{ locked: boolean }>("select pg_try_advisory_lock($1) as locked", [lockKey])).rows[0]!.locked;
    while (!(await tryLock())) await sleep(migrationLockPollMs);
    const applied = await database.orm.migrator.up();
    return applied.map((migration) => migration.name);
  } finally {
    await lockHolder.end();
  }
}
