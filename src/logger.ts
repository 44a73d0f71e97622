/**
 * The one logger: structured JSON lines (pino) on stdout. Modules take it as an
 * argument or make a child with their own bindings; nothing else writes to the console.
 */
import { pino, type DestinationStream, type Logger } from "pino";

export type { Logger };

/**
 * Creates the process logger at the given level: JSON lines (written asynchronously),
 * or pino-pretty's readable lines when stdout is a terminal. `destination` (tests) receives the JSON lines.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: "runline" },
    // Defence in depth: nothing logs headers or secrets, and these paths are masked anyway.
    redact: {
      paths: ["authorization", "*.authorization", "headers.authorization", "secret", "*.secret", "apiKey", "*.apiKey"],
      censor: "[redacted]",
    },
  };
  if (destination !== undefined) return pino(options, destination);
  if (process.stdout.isTTY === true && level !== "silent") {
    return pino({
      ...options,
      transport: { target: "pino-pretty", options: { colorize: true, translateTime: "SYS:HH:MM:ss.l", ignore: "service" } },
    });
  }
  // Lines are written off the main thread, several per write when they come fast: a
  // synchronous write per call cost ≈ 8 % of a busy server's CPU (bench/RESULTS.md).
  // Whatever is still buffered is written out synchronously when the process exits.
  const stream = pino.destination({ dest: 1, sync: false });
  process.once("exit", () => {
    try {
      stream.flushSync();
    } catch {
      // Not open yet, or stdout already gone: nothing can be written any more.
    }
  });
  return pino(options, stream);
}

/** A failure's message alone, for log lines about expected failures (no stack: they are not bugs). */
export function failureMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
