/**
 * Webhook signing secrets: each tenant's run-webhook secret and each endpoint's secret.
 * A secret is `whsec_` + base64 of 32 random bytes (Standard Webhooks' format), and it
 * must be usable for signing, so it cannot be stored hashed.
 *
 * At rest every secret is encrypted with AES-256-GCM under the `webhook_secret_key`
 * server secret (migration 0005; sealed-values.ts), with the owning row (tenant,
 * endpoint or "run") as associated data so a ciphertext copied into another row does not open. The
 * key lives in the same database, so this protects dumps, backups of the webhook tables
 * alone and logged rows, not a full database compromise. Rotating the key itself is out
 * of scope for now.
 *
 * Rotation keeps the previous secret signing beside the new one for `overlapMs`
 * (config.webhooks.secretOverlapMs): the dispatcher sends both signatures meanwhile.
 */
import { randomBytes } from "node:crypto";
import type { Sql } from "../db/database.js";
import { notFound } from "../errors.js";
import { isUuid } from "../ids.js";
import { openValue, sealValue } from "../sealed-values.js";

/**
 * A target's secrets as stored, read by the dispatcher's claim in the same statement
 * (delivery-writes.ts), so signing needs no read of its own; `secret` is null when the
 * tenant's run-webhook secret is not created yet.
 */
export interface SealedSecrets {
  readonly secret: Buffer | null;
  readonly previous_secret: Buffer | null;
  /** The previous secret's overlap lasts, by the database's clock. */
  readonly previous_valid: boolean;
}

/** The secrets of one tenant's webhooks, for signing and for showing once. */
export interface WebhookSecrets {
  /**
   * The secrets to sign a delivery with, current first, then the previous one while its
   * overlap lasts. `endpointId` null: the tenant's run-webhook secret (created on first use).
   */
  signingSecrets(tenantId: string, endpointId: string | null, sealed?: SealedSecrets): Promise<string[]>;
  /** The tenant's run-webhook secret, created on first use; stable until rotated. */
  runSecret(tenantId: string): Promise<string>;
  /** Replaces the tenant's run-webhook secret; returns the new one. */
  rotateRunSecret(tenantId: string): Promise<string>;
  /** Replaces an endpoint's secret; returns the new one. NOT_FOUND for an unknown endpoint. */
  rotateEndpointSecret(tenantId: string, endpointId: string): Promise<string>;
  /** A new secret and its encrypted form for a new endpoint row (`endpointId`). */
  newEndpointSecret(tenantId: string, endpointId: string): { secret: string; sealed: Buffer };
}

/** A fresh `whsec_` secret. */
function newSecret(): string {
  return `whsec_${randomBytes(32).toString("base64")}`;
}

/** The associated data that binds a ciphertext to its row. */
function owner(tenantId: string, endpointId: string | null): Buffer {
  return Buffer.from(`${tenantId}/${endpointId ?? "run"}`);
}

function open(key: Buffer, sealed: Buffer, aad: Buffer): string {
  return openValue(key, sealed, aad).toString("utf8");
}

/** The key that encrypts webhook secrets (server_secrets.webhook_secret_key, 32 bytes). */
export async function readSecretKey(sql: Sql): Promise<Buffer> {
  const [row] = await sql.query<{ value: Buffer }>(`select value from server_secrets where name = 'webhook_secret_key'`);
  if (row === undefined) throw new Error("server_secrets.webhook_secret_key is missing: migrations did not run");
  if (row.value.length !== 32) throw new Error("server_secrets.webhook_secret_key must be 32 bytes (AES-256)");
  return row.value;
}

interface SecretRow extends SealedSecrets {
  readonly secret: Buffer;
}

/** Opened secrets kept, by ciphertext: a rotation writes a new ciphertext, so none goes stale. */
const openedLimit = 1000;

// Both read by primary key; `previous_valid` is decided by the database's clock, as the
// rotation's expiry was.
const selectRunSecrets = `select secret, previous_secret, coalesce(previous_secret_expire_time > now(), false) as previous_valid
  from run_webhook_secrets where tenant_id = $1::uuid`;
const selectEndpointSecrets = `select secret, previous_secret, coalesce(previous_secret_expire_time > now(), false) as previous_valid
  from webhook_endpoints where tenant_id = $1::uuid and id = $2::uuid`;

// Concurrent first uses both insert: the loser's row is discarded and it reads the winner's.
const insertRunSecret = `insert into run_webhook_secrets (tenant_id, secret) values ($1::uuid, $2::bytea) on conflict (tenant_id) do nothing`;

// The current secret becomes the previous one, signing until now() + overlap.
const rotateRun = `insert into run_webhook_secrets (tenant_id, secret) values ($1::uuid, $2::bytea)
  on conflict (tenant_id) do update set previous_secret = run_webhook_secrets.secret,
    previous_secret_expire_time = now() + $3::float8 * interval '1 millisecond', secret = excluded.secret, update_time = now()`;
const rotateEndpoint = `update webhook_endpoints set previous_secret = secret,
    previous_secret_expire_time = now() + $4::float8 * interval '1 millisecond', secret = $3::bytea, update_time = now()
  where tenant_id = $1::uuid and id = $2::uuid returning id`;

/** Secrets stored in `sql`, encrypted under `key`; a rotated secret signs for `overlapMs` more. */
export function createWebhookSecrets(sql: Sql, key: Buffer, overlapMs: number): WebhookSecrets {
  const readRow = async (tenantId: string, endpointId: string | null): Promise<SecretRow | undefined> => {
    const rows =
      endpointId === null
        ? await sql.query<SecretRow>(selectRunSecrets, [tenantId])
        : await sql.query<SecretRow>(selectEndpointSecrets, [tenantId, endpointId]);
    return rows[0];
  };
  const runRow = async (tenantId: string): Promise<SecretRow> => {
    const existing = await readRow(tenantId, null);
    if (existing !== undefined) return existing;
    await sql.query(insertRunSecret, [tenantId, sealValue(key, newSecret(), owner(tenantId, null))]);
    return (await readRow(tenantId, null))!;
  };
  // Every delivery is signed: decrypting each time cost more than the signature. The
  // ciphertext (with its random IV) and the row it is bound to name the plaintext.
  const opened = new Map<string, string>();
  const openCached = (sealed: Buffer, aad: Buffer): string => {
    const cacheKey = `${aad.toString()}|${sealed.toString("base64")}`;
    let secret = opened.get(cacheKey);
    if (secret === undefined) {
      secret = open(key, sealed, aad);
      if (opened.size >= openedLimit) opened.clear();
      opened.set(cacheKey, secret);
    }
    return secret;
  };
  const openAll = (row: SecretRow, aad: Buffer): string[] => {
    const current = openCached(row.secret, aad);
    return row.previous_secret !== null && row.previous_valid ? [current, openCached(row.previous_secret, aad)] : [current];
  };
  return {
    async signingSecrets(tenantId, endpointId, sealed) {
      if (sealed?.secret != null) return openAll({ ...sealed, secret: sealed.secret }, owner(tenantId, endpointId));
      const row = endpointId === null ? await runRow(tenantId) : await readRow(tenantId, endpointId);
      if (row === undefined) throw notFound("webhook", endpointId ?? "");
      return openAll(row, owner(tenantId, endpointId));
    },
    async runSecret(tenantId) {
      return open(key, (await runRow(tenantId)).secret, owner(tenantId, null));
    },
    async rotateRunSecret(tenantId) {
      const secret = newSecret();
      await sql.query(rotateRun, [tenantId, sealValue(key, secret, owner(tenantId, null)), overlapMs]);
      return secret;
    },
    async rotateEndpointSecret(tenantId, endpointId) {
      if (!isUuid(endpointId)) throw notFound("webhook", endpointId);
      const secret = newSecret();
      const rows = await sql.query(rotateEndpoint, [tenantId, endpointId, sealValue(key, secret, owner(tenantId, endpointId)), overlapMs]);
      if (rows.length === 0) throw notFound("webhook", endpointId);
      return secret;
    },
    newEndpointSecret(tenantId, endpointId) {
      const secret = newSecret();
      return { secret, sealed: sealValue(key, secret, owner(tenantId, endpointId)) };
    },
  };
}
