/**
 * The HMAC-SHA256 keys that sign access tokens, shared by every replica through
 * access_token_keys (migration 0008) and held in memory, so verifying a token reads no
 * database.
 *
 * At rest each key is encrypted (sealed-values.ts, AES-256-GCM) under the
 * `access_token_key_encryption` server secret, bound to its row's id. As for webhook
 * secrets, that protects dumps and backups of the table and logged rows, not a full
 * database compromise. No API returns a key; keys never leave the process otherwise.
 *
 * Rotation: when the newest key is older than `rotationMs`, the next refresh of any
 * replica adds a key (one wins if several try: `generation` is unique) that signs only
 * from `publishMs` later, so every replica has loaded it before it meets a token signed
 * with it. The older key keeps verifying until the newer one has signed for `maxTtlMs`
 * (plus five minutes for clocks), when no token it signed can still be alive; then it
 * is deleted. A token whose key id is unknown makes a replica reload, at most once a
 * second (the first key, made at start-up, and a rotation seen early by a skewed clock).
 */
import { randomBytes, webcrypto } from "node:crypto";
import type { Sql } from "../db/database.js";
import { openValue, sealValue } from "../sealed-values.js";

/** A key as verifying and signing use it. */
export interface SigningKey {
  /** The JWT `kid`. */
  readonly id: string;
  readonly generation: number;
  readonly cryptoKey: webcrypto.CryptoKey;
  /** When it starts signing (a newer key takes over from its own sign time). */
  readonly signTime: Date;
}

/** The keys this process knows. */
export interface SigningKeyRing {
  /** The key to sign with now: the newest whose sign time has come. */
  current(): SigningKey;
  /** The key with this id, reloading once (at most once a second) when it is unknown. */
  find(id: string): Promise<SigningKey | undefined>;
  /** Rotates when due, deletes retired keys, and reloads. */
  refresh(): Promise<void>;
}

/** Options for loadSigningKeys. */
export interface SigningKeyOptions {
  readonly sql: Sql;
  /** How old the newest key may get before a new one is made. */
  readonly rotationMs: number;
  /** How long a new key waits before it signs: longer than replicas take to reload. */
  readonly publishMs: number;
  /** The longest token life: a replaced key verifies this long after its successor signs. */
  readonly maxTtlMs: number;
}

/** Clocks of replicas and database may differ by this much; retirement waits it out. */
const clockMarginMs = 5 * 60_000;
/** Unknown key ids reload at most this often, so forged ids cannot load the database. */
const unknownKeyReloadMs = 1000;

interface KeyRow {
  id: string;
  generation: number;
  sealed_key: Buffer;
  /** sign_time as epoch milliseconds. */
  sign_ms: number;
  /** How old the key is, by the database's clock. */
  age_ms: number;
}

// A handful of rows: the current key, and the previous one while its tokens may live.
const selectKeys = `select id, generation, sealed_key, extract(epoch from sign_time)::float8 * 1000 as sign_ms,
  extract(epoch from now() - create_time)::float8 * 1000 as age_ms from access_token_keys order by generation`;

// The first key signs at once (no token exists yet); later ones after publishMs. Two
// replicas rotating together compute the same generation: the second insert conflicts.
const insertKey = `
  insert into access_token_keys (id, generation, sealed_key, sign_time)
  select $1::text, coalesce(max(generation), 0) + 1, $2::bytea,
    case when count(*) = 0 then now() else now() + $3::float8 * interval '1 millisecond' end
  from access_token_keys
  having coalesce(max(create_time), '-infinity') < now() - $4::float8 * interval '1 millisecond'
  on conflict do nothing`;

// A key whose successor has signed for longer than the longest TTL signed no live token.
const deleteRetired = `
  delete from access_token_keys k
  where exists (select 1 from access_token_keys n
    where n.generation > k.generation and n.sign_time < now() - $1::float8 * interval '1 millisecond')`;

const keyPurpose = (id: string) => Buffer.from(`access-token-signing-key/${id}`);

async function importKey(raw: Buffer): Promise<webcrypto.CryptoKey> {
  return webcrypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
}

/** Loads the keys (making the first one if there is none) under `encryptionKey`. */
export async function loadSigningKeys(options: SigningKeyOptions, encryptionKey: Buffer): Promise<SigningKeyRing> {
  const { sql } = options;
  let keys: SigningKey[] = [];
  let lastUnknownReload = 0;
  let reloading: Promise<void> | undefined;

  const addKey = async () => {
    const id = randomBytes(12).toString("base64url");
    const sealed = sealValue(encryptionKey, randomBytes(32), keyPurpose(id));
    await sql.query(insertKey, [id, sealed, options.publishMs, options.rotationMs]);
  };
  const load = async (): Promise<KeyRow[]> => {
    const rows = await sql.query<KeyRow>(selectKeys);
    keys = await Promise.all(
      rows.map(async (row) => ({
        id: row.id,
        generation: row.generation,
        cryptoKey: await importKey(openValue(encryptionKey, row.sealed_key, keyPurpose(row.id))),
        signTime: new Date(row.sign_ms),
      })),
    );
    return rows;
  };
  const refresh = async () => {
    const rows = await load();
    const newest = rows.at(-1);
    if (newest === undefined || newest.age_ms >= options.rotationMs) {
      await addKey();
      await load();
    }
    await sql.query(deleteRetired, [options.maxTtlMs + clockMarginMs]);
  };
  await refresh();
  return {
    current() {
      const now = Date.now();
      const signing = keys.findLast((key) => key.signTime.getTime() <= now) ?? keys[0];
      if (signing === undefined) throw new Error("no access-token signing key is loaded");
      return signing;
    },
    async find(id) {
      const known = keys.find((key) => key.id === id);
      if (known !== undefined) return known;
      if (reloading === undefined && Date.now() - lastUnknownReload >= unknownKeyReloadMs) {
        lastUnknownReload = Date.now();
        reloading = load()
          .then(() => undefined)
          .finally(() => (reloading = undefined));
      }
      await reloading;
      return keys.find((key) => key.id === id);
    },
    refresh,
  };
}
