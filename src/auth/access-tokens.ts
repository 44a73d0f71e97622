/**
 * Access tokens: short-lived, scoped, signed JWTs a key mints for code it does not trust
 * with the key itself (API.md, "Browser access tokens"). Nothing is stored per token:
 * any replica verifies one from memory (signing-keys.ts, revoked-keys.ts).
 *
 * Signed with HS256 (HMAC-SHA256, RFC 7518 §3.2) under a 256-bit key. Every replica both
 * mints and verifies, so an asymmetric key (EdDSA) would give no party a verify-only
 * role, and it costs more: in jose on this Node, 38–50 µs per HS256 verify against
 * 236–275 µs per Ed25519 verify (5000 verifies each). Published keys (JWKS) for third
 * parties are not a goal; if they become one, EdDSA is the switch.
 *
 * Claims: `iss` "runline", `sub` the minting key's id (runs record it as `created_by`),
 * `ten` its tenant, `scope` space-separated (RFC 9068), `jti` (the run counter's key),
 * `iat`, `exp`, and the restrictions `runs`, `wf` (workflow id → slug), `lbl`, and `max`
 * (maxRuns). Header `typ` "at+jwt" (RFC 9068) and `kid`. A token lives until `exp`, and
 * dies early when its minting key is revoked (revoked-keys.ts states the bound).
 */
import { randomUUID } from "node:crypto";
import { decodeProtectedHeader, errors, jwtVerify, SignJWT, type JWTPayload } from "jose";
import type { Sql } from "../db/database.js";
import type { Logger } from "../logger.js";
import type { AccessRestriction } from "./access-restriction.js";
import { scopes as allScopes, type Caller, type Scope } from "./caller.js";
import { loadRevokedKeys, type RevokedKeys } from "./revoked-keys.js";
import { loadSigningKeys, type SigningKeyRing } from "./signing-keys.js";
import { deleteExpiredQuotas } from "./token-run-quota.js";

/** A token's life when the request names none. */
export const defaultTokenTtlMs = 15 * 60_000;
/** The longest life a token may ask for; keys and revocations are kept at least this long. */
export const maxTokenTtlMs = 24 * 3_600_000;
/** The shortest. */
export const minTokenTtlMs = 1000;

const issuer = "runline";
const tokenType = "at+jwt";

/** What a key asks a token for (already checked against the key: auth-service's job). */
export interface TokenGrantRequest {
  readonly tenantId: string;
  readonly keyId: string;
  readonly scopes: readonly Scope[];
  readonly restriction: AccessRestriction | undefined;
  readonly maxRuns: number;
  readonly ttlMs: number;
}

/** A minted token. */
export interface MintedToken {
  readonly token: string;
  readonly expireTime: Date;
}

/** Why a token was not accepted. */
export type TokenRefusal = "malformed" | "expired" | "revoked" | "unverifiable";

/** The outcome of checking a token. */
export type TokenCheck = { readonly kind: "valid"; readonly caller: Caller } | { readonly kind: "refused"; readonly why: TokenRefusal };

/** Mints and verifies tokens. */
export interface AccessTokenIssuer {
  mint(request: TokenGrantRequest): Promise<MintedToken>;
  verify(token: string): Promise<TokenCheck>;
  /** Why a caller verified earlier no longer holds a live token (a stream it opened must end), or undefined. */
  recheck(caller: Caller): TokenRefusal | undefined;
}

/** The process's tokens: the issuer, kept current by a periodic refresh. */
export interface AccessTokens extends AccessTokenIssuer {
  /** Records a revocation made by this replica, so its tokens are refused here at once. */
  keyRevoked(keyId: string): void;
  /** Stops the refresh. */
  stop(): void;
}

/** Options for startAccessTokens; README documents the variables. */
export interface AccessTokenOptions {
  readonly sql: Sql;
  readonly logger: Logger;
  /** How often signing keys and revoked keys are reloaded (RUNLINE_ACCESS_TOKEN_REFRESH_MS): the revocation bound. */
  readonly refreshMs: number;
  /** How old the signing key may get before a new one replaces it (RUNLINE_ACCESS_TOKEN_KEY_ROTATION_MS). */
  readonly keyRotationMs: number;
}

/** Loads keys and revocations, then refreshes them every `refreshMs` until stopped. */
export async function startAccessTokens(options: AccessTokenOptions): Promise<AccessTokens> {
  const { sql, refreshMs } = options;
  const [row] = await sql.query<{ value: Buffer }>(`select value from server_secrets where name = 'access_token_key_encryption'`);
  if (row === undefined) throw new Error("server_secrets.access_token_key_encryption is missing: migrations did not run");
  // Published two periods ahead: every replica has reloaded it before it signs.
  const keys = await loadSigningKeys(
    { sql, rotationMs: options.keyRotationMs, publishMs: 2 * refreshMs, maxTtlMs: maxTokenTtlMs },
    row.value,
  );
  const revoked = await loadRevokedKeys(sql, maxTokenTtlMs, refreshMs);
  const log = options.logger.child({ component: "access-tokens" });
  let running: Promise<void> | undefined;
  const timer = setInterval(() => {
    running ??= Promise.allSettled([revoked.refresh(), keys.refresh(), deleteExpiredQuotas(sql)]).then((outcomes) => {
      for (const outcome of outcomes)
        if (outcome.status === "rejected") log.warn({ err: outcome.reason }, "access-token refresh failed; retrying next period");
      running = undefined;
    });
  }, refreshMs);
  timer.unref();
  return {
    ...createTokenIssuer(keys, revoked),
    keyRevoked: (keyId) => revoked.add(keyId),
    stop: () => clearInterval(timer),
  };
}

/** Whether a bearer credential has a JWT's shape (API keys are `rl_…`, without dots). */
export function looksLikeAccessToken(credential: string): boolean {
  return /^eyJ[\w-]*\.[\w-]*\.[\w-]*$/.test(credential);
}

/** An issuer over the keys and the revocation list that `refresh` keeps current. */
export function createTokenIssuer(keys: SigningKeyRing, revoked: RevokedKeys): AccessTokenIssuer {
  const recheck = (caller: Caller): TokenRefusal | undefined => {
    if (caller.token === undefined) return undefined;
    if (Date.now() >= caller.token.expireTime.getTime()) return "expired";
    if (!revoked.isCurrent()) return "unverifiable";
    return revoked.has(caller.keyId) ? "revoked" : undefined;
  };
  return {
    async mint(request) {
      const key = keys.current();
      const issuedAt = Math.floor(Date.now() / 1000);
      // Whole seconds, rounded down: a token never lives longer than asked.
      const expires = Math.floor((Date.now() + request.ttlMs) / 1000);
      const token = await new SignJWT(restrictionClaims(request))
        .setProtectedHeader({ alg: "HS256", typ: tokenType, kid: key.id })
        .setIssuer(issuer)
        .setSubject(request.keyId)
        .setJti(randomUUID())
        .setIssuedAt(issuedAt)
        .setExpirationTime(expires)
        .sign(key.cryptoKey);
      return { token, expireTime: new Date(expires * 1000) };
    },
    async verify(token) {
      let keyId: string | undefined;
      try {
        keyId = decodeProtectedHeader(token).kid;
      } catch {
        return { kind: "refused", why: "malformed" };
      }
      const key = keyId === undefined ? undefined : await keys.find(keyId);
      if (key === undefined) return { kind: "refused", why: "malformed" };
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, key.cryptoKey, {
          algorithms: ["HS256"],
          issuer,
          typ: tokenType,
          requiredClaims: ["sub", "jti", "iat", "exp"],
        }));
      } catch (error) {
        return { kind: "refused", why: error instanceof errors.JWTExpired ? "expired" : "malformed" };
      }
      const caller = callerFrom(payload);
      if (caller === undefined) return { kind: "refused", why: "malformed" };
      const refusal = recheck(caller);
      return refusal === undefined ? { kind: "valid", caller } : { kind: "refused", why: refusal };
    },
    recheck,
  };
}

function restrictionClaims(request: TokenGrantRequest): JWTPayload {
  const restriction = request.restriction;
  return {
    ten: request.tenantId,
    scope: request.scopes.join(" "),
    ...(restriction?.runIds === undefined ? {} : { runs: [...restriction.runIds] }),
    ...(restriction?.workflows === undefined ? {} : { wf: Object.fromEntries(restriction.workflows) }),
    ...(restriction?.labels === undefined ? {} : { lbl: restriction.labels }),
    ...(request.maxRuns === 0 ? {} : { max: request.maxRuns }),
  };
}

const isStringArray = (value: unknown): value is string[] => Array.isArray(value) && value.every((item) => typeof item === "string");
const isStringRecord = (value: unknown): value is Record<string, string> =>
  typeof value === "object" && value !== null && !Array.isArray(value) && Object.values(value).every((item) => typeof item === "string");

/**
 * The caller a verified payload describes, or undefined when it is not one this server
 * mints (a valid signature over other claims means a key leaked or a bug: refuse).
 */
function callerFrom(payload: JWTPayload): Caller | undefined {
  const { ten, scope, runs, wf, lbl, max } = payload;
  if (typeof ten !== "string" || typeof scope !== "string" || typeof payload.sub !== "string" || typeof payload.jti !== "string") return;
  const scopes = scope.split(" ");
  if (!scopes.every((item): item is Scope => (allScopes as readonly string[]).includes(item))) return;
  if (runs !== undefined && !isStringArray(runs)) return;
  if ((wf !== undefined && !isStringRecord(wf)) || (lbl !== undefined && !isStringRecord(lbl))) return;
  if (max !== undefined && !(typeof max === "number" && Number.isInteger(max) && max > 0)) return;
  const restricted = runs !== undefined || wf !== undefined || lbl !== undefined;
  return {
    tenantId: ten,
    keyId: payload.sub,
    scopes: new Set(scopes),
    isRoot: false,
    token: {
      tokenId: payload.jti,
      expireTime: new Date(payload.exp! * 1000),
      restriction: restricted
        ? {
            runIds: runs === undefined ? undefined : new Set(runs),
            workflows: wf === undefined ? undefined : new Map(Object.entries(wf)),
            labels: lbl,
          }
        : undefined,
      maxRuns: max ?? 0,
    },
  };
}
