/**
 * Migration 0005: webhooks (issue 13). Deliveries are a transactional outbox: a status
 * change writes its deliveries in the same statement (runs/lifecycle/), so a crash of
 * any replica loses none, and any replica's dispatcher sends them.
 *
 * - webhook_endpoints: a tenant's endpoints, with filters (event types, workflows,
 *   labels; empty = all) and their signing secret. Secrets must be usable for signing,
 *   so they are stored encrypted (AES-256-GCM) under `webhook_secret_key`, never in
 *   clear; a rotated secret stays valid (both signatures sent) until
 *   `previous_secret_expire_time`.
 * - run_webhook_secrets: each tenant's secret for per-run webhooks (created on first use).
 * - webhook_deliveries: one row per (status change, target). `sequence` is the status
 *   event's sequence: for one run and one target (`endpoint_id`, null for the run's own
 *   webhook) deliveries go out in that order. `payload` is the run as it was at the
 *   change (the row as JSON), so a late delivery still describes its status.
 * - webhook_attempts: every attempt of a delivery (same webhook-id each time).
 * Forward-only: never edited once landed.
 */
import { Migration } from "@mikro-orm/migrations";

/** Webhook endpoints, secrets, deliveries and attempts. */
export class Webhooks extends Migration {
  override name = "0005-webhooks";

  override up(): void {
    this.addSql(`
      create table webhook_endpoints (
        tenant_id uuid not null references tenants (id) on delete cascade,
        id uuid not null,
        url text not null,
        description text not null default '',
        event_types text[] not null default '{}',
        workflow_ids uuid[] not null default '{}',
        labels jsonb not null default '{}',
        disabled boolean not null default false,
        disabled_reason text,
        failing_since timestamptz,
        secret bytea not null,
        previous_secret bytea,
        previous_secret_expire_time timestamptz,
        create_time timestamptz not null default now(),
        update_time timestamptz not null default now(),
        primary key (tenant_id, id)
      )`);
    // Status changes look up a tenant's enabled endpoints on every change.
    this.addSql(`create index webhook_endpoints_enabled on webhook_endpoints (tenant_id) where not disabled`);

    this.addSql(`
      create table run_webhook_secrets (
        tenant_id uuid primary key references tenants (id) on delete cascade,
        secret bytea not null,
        previous_secret bytea,
        previous_secret_expire_time timestamptz,
        update_time timestamptz not null default now()
      )`);

    this.addSql(`
      create table webhook_deliveries (
        tenant_id uuid not null,
        id uuid not null,
        run_id uuid not null,
        endpoint_id uuid,
        url text not null,
        type text not null,
        sequence bigint not null,
        payload jsonb not null,
        outcome text not null default 'PENDING' check (outcome in ('PENDING', 'SUCCEEDED', 'FAILED')),
        attempt_count int not null default 0,
        next_attempt_time timestamptz not null default now(),
        lease_expire_time timestamptz,
        create_time timestamptz not null default now(),
        end_time timestamptz,
        primary key (tenant_id, id)
      )`);
    // The dispatcher's claim: due pending deliveries, oldest first.
    this.addSql(`create index webhook_deliveries_due on webhook_deliveries (next_attempt_time) where outcome = 'PENDING'`);
    // Order per run and target, and listing by run.
    this.addSql(`create index webhook_deliveries_run on webhook_deliveries (tenant_id, run_id, endpoint_id, sequence)`);
    // Listing by endpoint, newest first.
    this.addSql(`create index webhook_deliveries_endpoint on webhook_deliveries (tenant_id, endpoint_id, create_time desc, id)`);

    this.addSql(`
      create table webhook_attempts (
        tenant_id uuid not null,
        delivery_id uuid not null,
        attempt int not null,
        start_time timestamptz not null,
        duration_ms int not null,
        http_status int,
        error text,
        response_body text not null default '',
        primary key (tenant_id, delivery_id, attempt)
      )`);

    // The key that encrypts webhook secrets at rest (AES-256-GCM), shared by replicas.
    this.addSql(`
      insert into server_secrets (name, value)
      values ('webhook_secret_key', decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex'))`);
  }
}
