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
import { LRUCache } from "lru-cache";
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
  /** Whether a root key is configured; without one, AdminService is disabled. */
  readonly hasRootKey: boolean;
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

/** How many resolutions are kept; past it the least recently used is dropped. */
const maxCachedKeys = 10_000;

/** A resolution as cached: an unknown secret is remembered too (lru-cache cannot hold `undefined` itself). */
interface CachedResolution {
  readonly caller: Caller | undefined;
}

/** Creates a resolver over the api_keys table and the root key. */
export function createKeyResolver(options: KeyResolverOptions): KeyResolver {
  const cache = new LRUCache<string, CachedResolution>({ max: maxCachedKeys, ttl: options.cacheTtlMs ?? 5000 });
  return {
    async resolve(secret) {
      const hash = hashSecret(secret);
      if (options.rootKeyHash !== undefined && timingSafeEqual(hash, options.rootKeyHash)) return rootCaller;
      const cacheKey = hash.toString("base64");
      const cached = cache.get(cacheKey);
      if (cached !== undefined) return cached.caller;
      const [row] = await options.sql.query<KeyRow>(findKeyBySecretHash, [hash]);
      const caller: Caller | undefined =
        row === undefined ? undefined : { tenantId: row.tenant_id, keyId: row.id, scopes: new Set(row.scopes), isRoot: false };
      cache.set(cacheKey, { caller });
      return caller;
    },
    forgetAll() {
      cache.clear();
    },
    hasRootKey: options.rootKeyHash !== undefined,
  };
}
