/**
 * What the test's process prints while a check runs: its stderr writes and the console's
 * output (vitest intercepts console calls before they reach stderr). A server must print
 * nothing outside its JSON log, whatever a client sends.
 */
import { vi } from "vitest";

/** Starts collecting; `stop()` restores stderr and the console and returns what was printed. */
export function capturePrinted(): { stop(): string[] } {
  const printed: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: never[]) => (
    printed.push(String(chunk)),
    write(chunk, ...rest)
  )) as typeof process.stderr.write;
  const consoleSpies = (["warn", "error", "log"] as const).map((method) => vi.spyOn(console, method));
  return {
    stop() {
      process.stderr.write = write;
      for (const spy of consoleSpies) {
        printed.push(...spy.mock.calls.map((call) => call.map(String).join(" ")));
        spy.mockRestore();
      }
      return printed;
    },
  };
}
