/**
 * Which API keys were revoked recently enough that tokens they minted may still be
 * alive: every key revoked within the longest token TTL (a token outlives its key's
 * revocation by at most that, since a revoked key mints nothing). Each replica reloads
 * the list every refresh period, so a revocation reaches every replica's token checks
 * within that period; the replica that revoked applies it at once.
 *
 * Verifying stays free of database reads; the price is that a replica which cannot
 * reload is not sure any more. After two periods without a successful reload it says so
 * (`isCurrent` false) and tokens are refused as UNAVAILABLE rather than trusted on a
 * stale list: the bound holds even while the database is unreachable.
 */
import type { Sql } from "../db/database.js";

/** The recently revoked keys, as this replica last read them. */
export interface RevokedKeys {
  has(keyId: string): boolean;
  /** Whether the list was read within two refresh periods. */
  isCurrent(): boolean;
  /** Reads the list again. */
  refresh(): Promise<void>;
  /** Records a revocation made by this replica, before the next read. */
  add(keyId: string): void;
}

/** Revocations older than the longest TTL by this much are forgotten (clock differences). */
const marginMs = 5 * 60_000;

// api_keys_revoked (partial: only revoked keys are indexed).
const selectRevoked = `select id from api_keys where revoke_time > now() - $1::float8 * interval '1 millisecond'`;

/** Loads the list once; the caller refreshes it every `refreshMs`. */
export async function loadRevokedKeys(sql: Sql, maxTtlMs: number, refreshMs: number): Promise<RevokedKeys> {
  let revoked = new Set<string>();
  let readAt = 0;
  // Revocations made here, kept until a read that began after them: a read already in
  // flight when one commits may not see it.
  const local = new Map<string, number>();
  const refresh = async () => {
    const started = performance.now();
    const rows = await sql.query<{ id: string }>(selectRevoked, [maxTtlMs + marginMs]);
    revoked = new Set(rows.map((row) => row.id));
    readAt = started;
    for (const [keyId, addedAt] of local) if (addedAt < started) local.delete(keyId);
  };
  await refresh();
  return {
    has: (keyId) => revoked.has(keyId) || local.has(keyId),
    isCurrent: () => performance.now() - readAt <= 2 * refreshMs,
    refresh,
    add: (keyId) => void local.set(keyId, performance.now()),
  };
}
