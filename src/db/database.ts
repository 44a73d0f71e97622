/**
 * Opens the database: MikroORM (entities, migrations, connection pool) and the
 * parameterised-SQL door that hot paths use. Domain modules take a `Sql` and know
 * nothing of how it was opened.
 */
import { MikroORM, type EntityManager } from "@mikro-orm/postgresql";
import { Migrator } from "@mikro-orm/migrations";
import { CompiledQuery, type Kysely } from "kysely";
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
  /** A fresh EntityManager for one unit of work on the cold paths. */
  entityManager(): EntityManager;
  /** Pool usage for metrics: statements and transactions in flight, and the pool size. */
  poolUsage(): { inUse: number; size: number };
  close(): Promise<void>;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- raw SQL has no table typing
type AnyKysely = Kysely<any>;

/** Counts pool connections held by `Sql` calls (a transaction holds one throughout). */
interface PoolCounter {
  inUse: number;
}

function sqlOver(kysely: AnyKysely, counter: PoolCounter | undefined): Sql {
  return {
    async query<Row>(text: string, parameters: readonly unknown[] = []) {
      if (counter !== undefined) counter.inUse++;
      try {
        const result = await kysely.executeQuery<Row>(CompiledQuery.raw(text, [...parameters]));
        return result.rows as Row[];
      } finally {
        if (counter !== undefined) counter.inUse--;
      }
    },
    async transaction<T>(work: (sql: Sql) => Promise<T>) {
      if (counter !== undefined) counter.inUse++;
      try {
        // Statements inside share the transaction's connection: not counted again.
        return await kysely.transaction().execute((transaction) => work(sqlOver(transaction, undefined)));
      } finally {
        if (counter !== undefined) counter.inUse--;
      }
    },
  };
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
    migrations: { migrationsList: migrations, tableName: "runline_migrations", snapshot: false, transactional: true, silent: true },
    pool: { min: 0, max: options.poolSize },
    // The identity map is per request; the global one must never be used by accident.
    allowGlobalContext: false,
    debug: false,
  });
  const kysely = orm.em.getKysely() as AnyKysely;
  const counter: PoolCounter = { inUse: 0 };
  return {
    orm,
    sql: sqlOver(kysely, counter),
    poolUsage: () => ({ inUse: Math.min(counter.inUse, options.poolSize), size: options.poolSize }),
    entityManager: () => orm.em.fork() as EntityManager,
    close: () => orm.close(true),
  };
}

/**
 * Applies pending migrations. Safe when several processes start at once: a session
 * advisory lock, held on a connection of its own, lets one process apply while the
 * others wait and then find nothing left to do.
 */
export async function migrateDatabase(database: Database, url: string): Promise<string[]> {
  const lockKey = 727_001; // any constant shared by every Runline process
  const lockHolder = new pg.Client({ connectionString: url });
  await lockHolder.connect();
  try {
    await lockHolder.query("select pg_advisory_lock($1)", [lockKey]);
    const applied = await database.orm.migrator.up();
    return applied.map((migration) => migration.name);
  } finally {
    await lockHolder.end();
  }
}
