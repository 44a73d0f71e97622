/**
 * Migrations are the schema's history: they apply to an empty database, apply once when
 * several processes start together, and leave the tables the code expects.
 */
import { describe, expect, it } from "vitest";
import { migrateDatabase, openDatabase } from "../../src/db/database.js";
import { createEmptyDatabase } from "../support/test-database.js";

const allMigrations = [
  "0001-initial-schema",
  "0002-executors",
  "0003-tenant-estimates",
  "0004-time-bounds",
  "0005-webhooks",
  "0006-webhook-hosts",
  "0007-rerun-of",
  "0008-access-tokens",
  "0009-event-partitions",
  "0010-tenant-labels",
];

describe("migrations", () => {
  it("apply to an empty database, then find nothing left to do", async () => {
    const url = await createEmptyDatabase();
    const database = await openDatabase({ url, poolSize: 2 });
    try {
      expect(await migrateDatabase(database, url)).toEqual(allMigrations);
      expect(await migrateDatabase(database, url)).toEqual([]);
      const tables = await database.sql.query<{ table_name: string }>(
        `select table_name from information_schema.tables where table_schema = 'public' order by 1`,
      );
      expect(tables.map((row) => row.table_name)).toEqual(
        expect.arrayContaining([
          "api_keys",
          "idempotency_keys",
          "run_events",
          "runs",
          "server_secrets",
          "tenants",
          "workflow_versions",
          "workflows",
        ]),
      );
      // 0003: no statistics on the big tables' tenant columns (estimates for new tenants).
      const targets = await database.sql.query<{ table: string; target: number }>(
        `select c.relname as table, a.attstattarget::int as target from pg_attribute a join pg_class c on c.oid = a.attrelid
         where c.relname in ('runs', 'run_events') and a.attname = 'tenant_id' order by 1`,
      );
      expect(targets).toEqual([
        { table: "run_events", target: 0 },
        { table: "runs", target: 0 },
      ]);
    } finally {
      await database.close();
    }
  });

  it("apply exactly once when four processes migrate the same database at once", async () => {
    const url = await createEmptyDatabase();
    const databases = await Promise.all(Array.from({ length: 4 }, () => openDatabase({ url, poolSize: 2 })));
    try {
      const applied = await Promise.all(databases.map((database) => migrateDatabase(database, url)));
      expect(applied.flat()).toEqual(allMigrations);
      const secrets = await databases[0]!.sql.query<{ name: string; count: string }>(
        `select name, count(*) from server_secrets group by name order by name`,
      );
      expect(secrets.map((row) => [row.name, Number(row.count)])).toEqual([
        ["access_token_key_encryption", 1],
        ["page_token_key", 1],
        ["webhook_secret_key", 1],
      ]);
    } finally {
      await Promise.all(databases.map((database) => database.close()));
    }
  });

  it("lead every tenant-owned primary key and index with tenant_id", async () => {
    const url = await createEmptyDatabase();
    const database = await openDatabase({ url, poolSize: 2 });
    try {
      await migrateDatabase(database, url);
      const indexes = await database.sql.query<{ tablename: string; indexname: string; indexdef: string }>(
        `select tablename, indexname, indexdef from pg_indexes where schemaname = 'public' and tablename in ('workflows', 'workflow_versions', 'runs', 'run_events', 'idempotency_keys', 'api_keys')`,
      );
      // Justified exceptions: key lookup by secret hash (before the tenant is known), and
      // the GIN label index, keyed by tenant inside its expression (migration 0010; GIN
      // cannot lead with a uuid column without btree_gin).
      const exceptions = new Set([
        "api_keys_secret_hash",
        "runs_tenant_labels",
        "idempotency_keys_expiry",
        // The lease sweeper's cross-tenant scans (migration 0002 says why).
        "runs_lease_expiry",
        "runs_schedule_due",
        "runs_deadline",
        "runs_cancel_grace",
        "runs_ready_due",
        // Each replica's read of keys revoked lately, across tenants (migration 0008).
        "api_keys_revoked",
      ]);
      for (const index of indexes) {
        if (exceptions.has(index.indexname)) continue;
        expect(index.indexdef, index.indexname).toMatch(/\(tenant_id[,)]/);
      }
      expect(indexes.length).toBeGreaterThan(10);
    } finally {
      await database.close();
    }
  });
});
