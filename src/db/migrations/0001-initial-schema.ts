/**
 * Migration 0001: tenants, API keys, workflows and their immutable versions, runs, the
 * append-only run event log, idempotency keys and the server's signing secret.
 *
 * Every tenant-owned table leads its primary key and indexes with `tenant_id`, so the
 * schema can be distributed by tenant (e.g. Citus) without a rewrite. Forward-only:
 * once landed, this file is never edited; changes go in a new migration.
 */
import { Migration } from "@mikro-orm/migrations";

/** The initial schema. */
export class InitialSchema extends Migration {
  override name = "0001-initial-schema";

  override up(): void {
    this.addSql(`
      create table tenants (
        id uuid primary key,
        slug text not null unique,
        create_time timestamptz not null default now()
      )`);

    // Keys are found by the hash of their secret, before the tenant is known, so the
    // hash index is global (on Citus this table would be a reference table).
    this.addSql(`
      create table api_keys (
        tenant_id uuid not null references tenants (id) on delete cascade,
        id uuid not null,
        secret_hash bytea not null,
        scopes text[] not null,
        display_name text not null default '',
        create_time timestamptz not null default now(),
        revoke_time timestamptz,
        primary key (tenant_id, id)
      )`);
    this.addSql(`create unique index api_keys_secret_hash on api_keys (secret_hash)`);

    this.addSql(`
      create table workflows (
        tenant_id uuid not null references tenants (id) on delete cascade,
        id uuid not null,
        slug text not null,
        latest_version integer not null default 0,
        create_time timestamptz not null default now(),
        primary key (tenant_id, id),
        unique (tenant_id, slug)
      )`);
    this.addSql(`create index workflows_newest on workflows (tenant_id, create_time desc, id desc)`);

    this.addSql(`
      create table workflow_versions (
        tenant_id uuid not null,
        workflow_id uuid not null,
        version integer not null check (version > 0),
        definition jsonb not null,
        input_schema jsonb,
        defaults jsonb not null default '{}',
        content_hash text not null,
        create_time timestamptz not null default now(),
        primary key (tenant_id, workflow_id, version),
        foreign key (tenant_id, workflow_id) references workflows (tenant_id, id) on delete cascade
      )`);

    this.addSql(`
      create table runs (
        tenant_id uuid not null,
        id uuid not null,
        workflow_id uuid not null,
        workflow_version integer not null,
        status text not null check (status in
          ('QUEUED', 'SCHEDULED', 'RUNNING', 'INTERRUPTED', 'CANCELLING',
           'SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT')),
        input jsonb,
        labels jsonb not null default '{}',
        attempt integer not null default 0,
        max_attempts integer not null default 1,
        priority integer not null default 0,
        timeout_ms bigint,
        backoff_ms bigint not null default 1000,
        created_by text not null,
        idempotency_key text,
        webhook_url text,
        webhook_intermediate boolean not null default false,
        schedule_time timestamptz,
        create_time timestamptz not null default now(),
        update_time timestamptz not null default now(),
        start_time timestamptz,
        end_time timestamptz,
        last_sequence bigint not null default 0,
        -- Executor state (WorkerService): when the run may next be claimed, and the
        -- lease that fences every worker write.
        ready_time timestamptz not null default now(),
        lease_id uuid,
        lease_expire_time timestamptz,
        worker_id text,
        cancel_requested boolean not null default false,
        -- The run's last output: at most one of these is set.
        result jsonb,
        error jsonb,
        interrupt jsonb,
        resume_input jsonb,
        primary key (tenant_id, id),
        foreign key (tenant_id, workflow_id, workflow_version)
          references workflow_versions (tenant_id, workflow_id, version)
      )`);
    // ListRuns/SearchRuns: newest first, keyset on (create_time, id). One index per
    // equality filter so each filter is an index range scan in the page's order.
    this.addSql(`create index runs_newest on runs (tenant_id, create_time desc, id desc)`);
    this.addSql(`create index runs_by_status on runs (tenant_id, status, create_time desc, id desc)`);
    this.addSql(`create index runs_by_workflow on runs (tenant_id, workflow_id, create_time desc, id desc)`);
    this.addSql(`create index runs_by_creator on runs (tenant_id, created_by, create_time desc, id desc)`);
    this.addSql(`create index runs_by_update_time on runs (tenant_id, update_time desc, id desc)`);
    // Label filters use containment (labels @> '{"k":"v"}'); combined with runs_newest by
    // a bitmap AND. GIN cannot lead with tenant_id without btree_gin, which managed
    // Postgres services do not all offer.
    this.addSql(`create index runs_labels on runs using gin (labels jsonb_path_ops)`);

    // Append-only log; (run_id, sequence) is gapless per run: sequences are allocated
    // from runs.last_sequence under the run's row lock.
    this.addSql(`
      create table run_events (
        tenant_id uuid not null,
        run_id uuid not null,
        sequence bigint not null check (sequence > 0),
        type text not null,
        data jsonb,
        status text,
        event_id text,
        create_time timestamptz not null default now(),
        primary key (tenant_id, run_id, sequence),
        foreign key (tenant_id, run_id) references runs (tenant_id, id) on delete cascade
      )`);
    this.addSql(`create unique index run_events_event_id on run_events (tenant_id, run_id, event_id) where event_id is not null`);

    // CreateRun idempotency: one row per (tenant, key), kept until expire_time
    // (24 h after first use); an expired key is taken over by the next request.
    this.addSql(`
      create table idempotency_keys (
        tenant_id uuid not null,
        key text not null,
        request_hash text not null,
        run_id uuid not null,
        create_time timestamptz not null default now(),
        expire_time timestamptz not null,
        primary key (tenant_id, key),
        foreign key (tenant_id, run_id) references runs (tenant_id, id) on delete cascade
      )`);
    this.addSql(`create index idempotency_keys_expiry on idempotency_keys (expire_time)`);

    // Secrets shared by every replica (e.g. the page-token signing key).
    this.addSql(`
      create table server_secrets (
        name text primary key,
        value bytea not null,
        create_time timestamptz not null default now()
      )`);
    // gen_random_uuid() draws from the strong random source and is core since PG 13,
    // unlike pgcrypto's gen_random_bytes: two of them give 244 random bits.
    this.addSql(`
      insert into server_secrets (name, value)
      values ('page_token_key', decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex'))`);
  }
}
