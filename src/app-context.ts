/**
 * What every service implementation needs from the running process, built once at
 * start-up and passed down (no module-level singletons).
 */
import type { Database } from "./db/database.js";
import type { EventHub } from "./events/event-hub.js";
import type { KeyResolver } from "./auth/api-keys.js";
import type { Logger } from "./logger.js";
import type { PageTokens } from "./runs/page-token.js";

/** The process's shared parts. */
export interface AppContext {
  readonly database: Database;
  readonly hub: EventHub;
  readonly keys: KeyResolver;
  readonly pageTokens: PageTokens;
  readonly logger: Logger;
  /** Aborted when the server begins shutting down: long waits end early. */
  readonly shutdownSignal: AbortSignal;
}
