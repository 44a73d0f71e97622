/**
 * Migration 0008: access tokens (issue 15). Tokens themselves are never stored: they are
 * signed JWTs that any replica verifies from memory (auth/access-tokens.ts). Stored here:
 *
 * - access_token_keys: the HMAC keys that sign them, shared by every replica. A key must
 *   be usable for signing, so it cannot be stored hashed: it is encrypted (AES-256-GCM,
 *   the row's `id` as associated data) under `access_token_key_encryption`, as webhook
 *   secrets are under theirs. `generation` orders keys and makes a rotation by two
 *   replicas at once insert one key (the loser's insert conflicts). A key signs from
 *   `sign_time` until a newer key's `sign_time`, and verifies until that plus the
 *   longest token TTL (auth/signing-keys.ts).
 * - access_token_usage: per token, how many runs it has created, for `max_runs` across
 *   replicas; a row is deleted once its token has expired.
 * - api_keys_revoked: each replica reads the keys revoked within the longest TTL every
 *   few seconds, so a revoked key's tokens die within that period everywhere.
 * Forward-only: never edited once landed.
 */
import { Migration } from "@mikro-orm/migrations";

/** Signing keys, per-token run counts, and the revoked-keys index. */
export class AccessTokens extends Migration {
  override name = "0008-access-tokens";

  override up(): void {
    this.addSql(`
      create table access_token_keys (
        id text primary key,
        generation int not null unique,
        sealed_key bytea not null,
        sign_time timestamptz not null,
        create_time timestamptz not null default now()
      )`);
    this.addSql(`
      create table access_token_usage (
        token_id text primary key,
        tenant_id uuid not null references tenants (id) on delete cascade,
        runs_created int not null check (runs_created >= 0),
        expire_time timestamptz not null
      )`);
    // The periodic purge of expired counters.
    this.addSql(`create index access_token_usage_expired on access_token_usage (expire_time)`);
    // The periodic read of recently revoked keys: only revoked keys are indexed.
    this.addSql(`create index api_keys_revoked on api_keys (revoke_time) where revoke_time is not null`);
    // The key that encrypts signing keys at rest, apart from the webhook secrets' key.
    this.addSql(`
      insert into server_secrets (name, value)
      values ('access_token_key_encryption', decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex'))`);
  }
}
