/**
 * One Postgres connection of its own, outside every pool, for work whose state lives in
 * the session: a session-level advisory lock (held across statements and transactions,
 * released when the connection ends, even by a crash), and statements that must run
 * outside a transaction block (`DETACH PARTITION … CONCURRENTLY`). The pools' `Sql`
 * cannot promise either: each call may take another connection.
 */
import pg from "pg";
import type { Sql } from "./database.js";

/** An open dedicated connection. */
export interface DedicatedSession {
  /**
   * Statements on this connection: `query` runs each on its own (autocommit, so outside
   * any transaction block), `transaction` wraps `work` in BEGIN/COMMIT.
   */
  readonly sql: Sql;
  /** Ends the connection; a statement in flight fails, and session locks are released. */
  close(): Promise<void>;
}

/**
 * Opens a connection to `url`. Times read as text come out the same whatever the
 * database's defaults: ISO dates, in UTC.
 */
export async function openDedicatedSession(url: string): Promise<DedicatedSession> {
  const client = new pg.Client({ connectionString: url, options: "-c DateStyle=ISO -c TimeZone=UTC" });
  // A dropped connection fails the statement in flight; this only keeps the process up.
  client.on("error", () => undefined);
  await client.connect();
  let inTransaction = false;
  const query = async <Row>(text: string, parameters: readonly unknown[] = []): Promise<Row[]> => {
    const result = await client.query<Row & object>(text, [...parameters]);
    return result.rows;
  };
  const sql: Sql = {
    query,
    async transaction<T>(work: (transaction: Sql) => Promise<T>): Promise<T> {
      // One connection holds one transaction: nesting shares it, as the pools' Sql does.
      if (inTransaction) return work(sql);
      inTransaction = true;
      try {
        await query("begin");
        const result = await work(sql);
        await query("commit");
        return result;
      } catch (error) {
        await query("rollback").catch(() => undefined);
        throw error;
      } finally {
        inTransaction = false;
      }
    },
  };
  let closing: Promise<void> | undefined;
  return {
    sql,
    close: () => (closing ??= client.end().catch(() => undefined)),
  };
}
