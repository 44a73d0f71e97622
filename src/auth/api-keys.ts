/**
 * API key secrets: how they are made, hashed and resolved to a caller. Only the
 * SHA-256 of a secret is stored; secrets are 256 random bits, so a fast hash is enough
 * (no password stretching is needed for high-entropy tokens).
 *
 * Resolution is on every call, so resolved keys are cached for a few seconds; revoking
 * a key clears it from this process's cache at once and from other replicas' caches
 * within `cacheTtlMs`.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { Sql } from "../db/database.js";
import type { Caller, Scope } from "./caller.js";

const secretPrefix = "rl_";

/** A new secret to hand to the caller once. */
export function generateSecret(): string {
  return secretPrefix + randomBytes(32).toString("base64url");
}

/** The stored form of a secret. */
export function hashSecret(secret: string): Buffer {
  return createHash("sha256").update(secret, "utf8").digest();
}

interface KeyRow {
  tenant_id: string;
  id: string;
  scopes: Scope[];
}

// Uses api_keys_secret_hash (unique). Revoked keys never authenticate.
const findKeyBySecretHash = `
  select tenant_id, id, scopes
  from api_keys
  where secret_hash = $1::bytea and revoke_time is null`;

/** Turns bearer secrets into callers. */
export interface KeyResolver {
  /** The caller for a secret, or undefined when the secret is unknown or revoked. */
  resolve(secret: string): Promise<Caller | undefined>;
  /** Forgets every cached resolution (after a revocation). */
  forgetAll(): void;
}

/** Options for createKeyResolver. */
export interface KeyResolverOptions {
  readonly sql: Sql;
  /** SHA-256 of the root key; undefined when no root key is configured. */
  readonly rootKeyHash: Buffer | undefined;
  /** How long a resolution is reused (default 5000 ms). */
  readonly cacheTtlMs?: number;
}

const rootCaller: Caller = { tenantId: "", keyId: "root", scopes: new Set(), isRoot: true };

/** Creates a resolver over the api_keys table and the root key. */
export function createKeyResolver(options: KeyResolverOptions): KeyResolver {
  const ttl = options.cacheTtlMs ?? 5000;
  const cache = new Map<string, { caller: Caller | undefined; expires: number }>();
  return {
    async resolve(secret) {
      const hash = hashSecret(secret);
      if (options.rootKeyHash !== undefined && timingSafeEqual(hash, options.rootKeyHash)) return rootCaller;
      const cacheKey = hash.toString("base64");
      const cached = cache.get(cacheKey);
      if (cached !== undefined && cached.expires > Date.now()) return cached.caller;
      const [row] = await options.sql.query<KeyRow>(findKeyBySecretHash, [hash]);
      const caller: Caller | undefined =
        row === undefined ? undefined : { tenantId: row.tenant_id, keyId: row.id, scopes: new Set(row.scopes), isRoot: false };
      if (cache.size > 10_000) cache.clear();
      cache.set(cacheKey, { caller, expires: Date.now() + ttl });
      return caller;
    },
    forgetAll() {
      cache.clear();
    },
  };
}
