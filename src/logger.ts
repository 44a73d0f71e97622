/**
 * The one logger: structured JSON lines (pino) on stdout. Modules take it as an
 * argument or make a child with their own bindings; nothing else writes to the console.
 */
import { pino, type Logger } from "pino";

export type { Logger };

/** Creates the process logger at the given level. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: "runline" },
    // Secrets travel in these headers; they must never reach a log line.
    redact: { paths: ["authorization", "*.authorization", "headers.authorization", "secret", "*.secret"], censor: "[redacted]" },
  });
}
