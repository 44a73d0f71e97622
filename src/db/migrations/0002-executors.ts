/**
 * Migration 0002: what executors need. Per-run lease length and deadline, the
 * workflow's concurrency limit, the queue indexes claims scan, and the indexes the
 * lease sweeper scans. Forward-only: never edited once landed.
 */
import { Migration } from "@mikro-orm/migrations";

/** Executor state and queue indexes. */
export class Executors extends Migration {
  override name = "0002-executors";

  override up(): void {
    this.addSql(`alter table runs add column lease_duration_ms bigint not null default 30000`);
    // start_time + timeout, fixed at the first claim: indexable, unlike the expression.
    this.addSql(`alter table runs add column deadline_time timestamptz`);
    this.addSql(`alter table workflows add column concurrency_limit integer not null default 0`);
    // Claims: highest priority, then oldest ready time, among QUEUED runs of a tenant
    // (optionally of given workflows). Partial indexes stay small: only queued rows.
    this.addSql(`create index runs_queue on runs (tenant_id, priority desc, ready_time, id) where status = 'QUEUED'`);
    this.addSql(
      `create index runs_queue_by_workflow on runs (tenant_id, workflow_id, priority desc, ready_time, id) where status = 'QUEUED'`,
    );
    // Concurrency limits count a workflow's active runs.
    this.addSql(`create index runs_active_by_workflow on runs (tenant_id, workflow_id) where status in ('RUNNING', 'CANCELLING')`);
    // The sweeper serves every tenant, so these scan across tenants by design (on a
    // sharded deployment each shard sweeps its own rows).
    this.addSql(`create index runs_lease_expiry on runs (lease_expire_time) where status in ('RUNNING', 'CANCELLING')`);
    this.addSql(`create index runs_schedule_due on runs (schedule_time) where status = 'SCHEDULED'`);
    this.addSql(
      `create index runs_deadline on runs (deadline_time) where deadline_time is not null and status in ('QUEUED', 'RUNNING', 'INTERRUPTED', 'CANCELLING')`,
    );
    this.addSql(`create index runs_cancel_grace on runs (update_time) where status = 'CANCELLING'`);
    // Retries whose backoff ends: the sweeper wakes their tenants' claimers.
    this.addSql(`create index runs_ready_due on runs (ready_time) where status = 'QUEUED'`);
  }
}
