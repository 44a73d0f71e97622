/**
 * Who is calling: the tenant and scopes of the API key, or of the access token, that
 * authenticated the request. Domain functions take the tenant id from here as an
 * argument; they never read headers.
 */
import { createContextKey } from "@connectrpc/connect";
import type { AccessRestriction } from "./access-restriction.js";

/** What an API key may do. `admin` implies the others within its tenant. */
export type Scope = "read" | "write" | "worker" | "admin";

/** Every scope, in the order of the proto enum `Scope` (1-based). */
export const scopes: readonly Scope[] = ["read", "write", "worker", "admin"];

/** An authenticated caller. */
export interface Caller {
  /** The caller's tenant; empty for the root key, which belongs to none. */
  readonly tenantId: string;
  /** The key's id, recorded on runs as `created_by` ("root" for the root key). */
  readonly keyId: string;
  readonly scopes: ReadonlySet<Scope>;
  readonly isRoot: boolean;
  /** Set when the caller presented an access token rather than its key (`keyId` is then the minting key's). */
  readonly token?: TokenGrant | undefined;
}

/** What an access token grants beyond its scopes: its identity, life and restrictions. */
export interface TokenGrant {
  /** The token's `jti`: the key of its run counter (`maxRuns`). */
  readonly tokenId: string;
  readonly expireTime: Date;
  /** What the token may see; undefined when it sees what its key sees. */
  readonly restriction: AccessRestriction | undefined;
  /** How many runs it may create; 0: no limit but its life. */
  readonly maxRuns: number;
}

/** The per-request slot the auth interceptor fills and handlers read. */
export const callerKey = createContextKey<Caller | undefined>(undefined, { description: "authenticated caller" });
