/**
 * Page tokens: opaque, tamper-proof and bound to the filter they came with. A token is
 * base64url(JSON payload) + "." + base64url(HMAC-SHA256), keyed by a secret every
 * replica shares (server_secrets.page_token_key), so any replica accepts any token.
 */
import { createHmac, createSecretKey, timingSafeEqual } from "node:crypto";
import { invalidArgument } from "../errors.js";

/** Signs and opens page tokens. */
export interface PageTokens {
  /** A token for the page after `cursor`, bound to `filterHash`. */
  seal(filterHash: string, cursor: readonly string[]): string;
  /** The cursor in `token`; INVALID_ARGUMENT for a forged token or another filter's. */
  open(token: string, filterHash: string): string[];
}

/** Page tokens signed with `key`. */
export function createPageTokens(key: Buffer): PageTokens {
  // Imported once: a raw Buffer key is imported again by every createHmac (22 µs against
  // 4.4 µs a signature on Node 24), and ListRuns signs a token per page.
  const secret = createSecretKey(key);
  const sign = (payload: string) => createHmac("sha256", secret).update(payload).digest();
  return {
    seal(filterHash, cursor) {
      const payload = Buffer.from(JSON.stringify({ f: filterHash, c: cursor })).toString("base64url");
      return `${payload}.${sign(payload).toString("base64url")}`;
    },
    open(token, filterHash) {
      const [payload, signature, extra] = token.split(".");
      const expected = payload === undefined ? undefined : sign(payload);
      const given = Buffer.from(signature ?? "", "base64url");
      if (extra !== undefined || expected === undefined || given.length !== expected.length || !timingSafeEqual(given, expected)) {
        throw invalidArgument("pageToken", "is not a token this server issued");
      }
      const decoded = JSON.parse(Buffer.from(payload!, "base64url").toString("utf8")) as { f: string; c: string[] };
      if (decoded.f !== filterHash)
        throw invalidArgument("pageToken", "was issued for a different filter; start again without a page token");
      return decoded.c;
    },
  };
}

/** Page size rules shared by every List call (AIP-158): 0 → default, above max → max. */
export function pageSize(requested: number, defaultSize: number, maxSize: number, field = "pageSize"): number {
  if (requested < 0) throw invalidArgument(field, "must not be negative");
  if (requested === 0) return defaultSize;
  return Math.min(requested, maxSize);
}
