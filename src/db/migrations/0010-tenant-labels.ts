/**
 * Migration 0010: label filters scoped by tenant (issue 16, the scale bench). The global
 * GIN index runs_labels (`gin (labels jsonb_path_ops)`, 0001) holds every tenant's labels
 * together: for a label pair rare within a big tenant the planner either walked the
 * tenant's runs newest first until it found a page (5.8 ms at 5M) or AND-ed that GIN
 * index with the tenant, reading the pair's runs of every tenant (1.27 s), and flipped
 * between the two by what ANALYZE's sample said. runs_tenant_labels indexes each run's
 * labels under its tenant id, `{"<tenant>": {labels}}`, so a containment query finds only
 * the tenant's matching runs. `jsonb_set('{}', array[tenant], labels)` builds that
 * object: jsonb_build_object is not IMMUTABLE, so it cannot be indexed. Queries must
 * repeat the expression exactly (runs/run-queries.ts, labelsCondition).
 *
 * Not transactional: `create index concurrently` builds the index while writes to runs go
 * on (a plain build holds a SHARE lock, blocking every insert and transition for the
 * build), and it cannot run inside a transaction. MikroORM runs a non-transactional
 * migration's statements one by one on the pool, outside any transaction; so database.ts
 * turns allOrNothing off (the tables of earlier migrations must be committed), and
 * processes waiting to migrate poll for the advisory lock (the build waits for every
 * older snapshot, a waiting statement's too). If the migration is interrupted (a crash,
 * a failed build), it is not recorded and runs again at the next start: a build that
 * failed leaves an INVALID index behind, which is dropped and built again; a valid one
 * is kept; runs_labels is dropped only once the new index is valid, with `if exists`.
 *
 * Forward-only: never edited once landed.
 */
import { Migration } from "@mikro-orm/migrations";

/** runs_tenant_labels replaces runs_labels, built and dropped concurrently. */
export class TenantLabels extends Migration {
  override name = "0010-tenant-labels";

  override isTransactional(): boolean {
    return false;
  }

  override async up(): Promise<void> {
    const [existing] = (await this.execute(
      `select i.indisvalid as valid from pg_index i where i.indexrelid = to_regclass('runs_tenant_labels')`,
    )) as { valid: boolean }[];
    if (existing?.valid === false) this.addSql(`drop index concurrently if exists runs_tenant_labels`);
    if (existing?.valid !== true) {
      this.addSql(`
        create index concurrently runs_tenant_labels on runs
          using gin (jsonb_set('{}'::jsonb, array[tenant_id::text], labels) jsonb_path_ops)`);
    }
    this.addSql(`drop index concurrently if exists runs_labels`);
  }
}
