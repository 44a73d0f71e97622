/**
 * The executors' pool (Database.workerSql) plans every statement generically and without
 * sorts or incremental sorts from its connections' first statement on, keeping startup options the URL
 * already carries; the main pool keeps Postgres' defaults. The webhook dispatcher's pool
 * (Database.dispatcherSql) commits without waiting for the WAL flush; the executors' waits.
 */
import { describe, expect, inject, it } from "vitest";
import { openDatabase, withExecutorSettings } from "../../src/db/database.js";

describe("the executors' pool", () => {
  it("uses generic plans and no sorts on every connection; the main pool does not", async () => {
    const database = await openDatabase({ url: inject("pgAdminUrl"), poolSize: 8 });
    try {
      // Several at once, so more than one connection of each pool answers.
      const modes = async (sql: typeof database.sql) =>
        new Set(
          (
            await Promise.all(
              Array.from({ length: 4 }, () =>
                sql.query<{ mode: string }>(
                  "select concat_ws(' ', current_setting('plan_cache_mode'), current_setting('enable_sort'), current_setting('enable_incremental_sort')) as mode, pg_sleep(0.05)",
                ),
              ),
            )
          ).map((rows) => rows[0]!.mode),
        );
      expect(await modes(database.workerSql)).toEqual(new Set(["force_generic_plan off off"]));
      expect(await modes(database.sql)).toEqual(new Set(["auto on on"]));
    } finally {
      await database.close();
    }
  });

  it("keeps the startup options a URL already has", async () => {
    const url = new URL(inject("pgAdminUrl"));
    url.searchParams.set("options", "-c statement_timeout=4321");
    const database = await openDatabase({ url: url.toString(), poolSize: 2 });
    try {
      const [row] = await database.workerSql.query<{ timeout: string; mode: string }>(
        "select current_setting('statement_timeout') as timeout, current_setting('plan_cache_mode') as mode",
      );
      expect(row).toEqual({ timeout: "4321ms", mode: "force_generic_plan" });
      expect(new URL(withExecutorSettings(url.toString())).searchParams.get("options")).toBe(
        "-c statement_timeout=4321 -c plan_cache_mode=force_generic_plan -c enable_sort=off -c enable_incremental_sort=off",
      );
      // A Unix-socket URL with an empty host (which the WHATWG parser refuses) keeps its form.
      expect(withExecutorSettings("postgresql://runline@/runline?host=/var/run/postgresql")).toBe(
        "postgresql://runline@/runline?host=%2Fvar%2Frun%2Fpostgresql&options=-c+plan_cache_mode%3Dforce_generic_plan+-c+enable_sort%3Doff+-c+enable_incremental_sort%3Doff",
      );
    } finally {
      await database.close();
    }
  });

  it("gives the dispatcher's pool asynchronous commits, and only it", async () => {
    // The test cluster commits asynchronously throughout; this URL asks for the production default
    // (which the executors' pool keeps; MikroORM's main pool does not read URL options).
    const url = new URL(inject("pgAdminUrl"));
    url.searchParams.set("options", "-c synchronous_commit=on");
    const database = await openDatabase({ url: url.toString(), poolSize: 4 });
    try {
      const setting = async (sql: typeof database.sql) =>
        (await sql.query<{ value: string }>("select current_setting('synchronous_commit') as value"))[0]!.value;
      expect(await setting(database.dispatcherSql)).toBe("off");
      expect(await setting(database.workerSql)).toBe("on");
    } finally {
      await database.close();
    }
  });
});
