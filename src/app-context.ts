/**
 * What every service implementation needs from the running process, built once at
 * start-up and passed down (no module-level singletons).
 */
import type { Database } from "./db/database.js";
import type { EventHub } from "./events/event-hub.js";
import type { SharedTails } from "./events/shared-tail.js";
import type { KeyResolver } from "./auth/api-keys.js";
import type { AccessTokens } from "./auth/access-tokens.js";
import type { Logger } from "./logger.js";
import type { PageTokens } from "./runs/page-token.js";
import type { WebhookSecrets } from "./webhooks/secrets.js";
import type { TargetPolicy } from "./webhooks/target-policy.js";

/** The process's shared parts. */
export interface AppContext {
  readonly database: Database;
  readonly hub: EventHub;
  /** One reader per watched run (StreamRunEvents callers share it). */
  readonly tails: SharedTails;
  readonly keys: KeyResolver;
  /** Mints and verifies access tokens (AuthService, the auth interceptor). */
  readonly tokens: AccessTokens;
  readonly pageTokens: PageTokens;
  readonly logger: Logger;
  /** Webhook signing secrets, and where webhooks may go (RUNLINE_WEBHOOK_ALLOW). */
  readonly webhooks: { readonly secrets: WebhookSecrets; readonly targets: TargetPolicy };
  /** Aborted when the server begins shutting down: long waits end early. */
  readonly shutdownSignal: AbortSignal;
  /** Claims scan their queue from the head at least this often (RUNLINE_CLAIM_HEAD_SCAN_MS; workers/queue-hints.ts). */
  readonly claimHeadScanMs: number;
}
